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
