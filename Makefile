# gMLP, explained - every target sets up what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A fresh venv gets this torch (the CPU wheel on this machine); a venv that already has torch keeps it.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: help venv test serve build figures deploy bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[docs,test]"
	touch $@

venv: $(STAMP)  ## create/update .venv with the package, docs and test extras

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -q

clean:  ## remove build outputs (keeps .venv)
	rm -rf site test-artifacts .pytest_cache

# ---- placeholders below are filled in as the pieces land ----
serve:  ## serve the site with live reload at http://127.0.0.1:8000/
	@echo "the site lands with the site work"; exit 1

build:  ## mkdocs build --strict into site/
	@echo "the site lands with the site work"; exit 1

deploy:  ## publish site/ to the gh-pages branch (mkdocs gh-deploy)
	@echo "the site lands with the site work"; exit 1

figures:  ## regenerate the figures in assets/ (only what changed)
	@echo "the figures land with the figures work"; exit 1

bench:  ## speed and memory benchmark vs g-mlp-pytorch
	@echo "the benchmark lands with the package work"; exit 1
