# gMLP, explained - every target sets up what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A fresh venv gets this torch (the CPU wheel on this machine); a venv that already has torch keeps it.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: help venv lock lint test serve build figures notebooks deploy bench clean new-post

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# ---- the Python lock: the version of every package the venv, CI and the Pages workflow install ----
LOCK       := requirements/constraints.txt
LOCK_VENV  ?= .cache/lock-venv
LOCK_TOOLS ?= pip-tools==7.6.2 pip==26.3
LOCK_ARGS  ?=

# Every Python package is installed at the version in $(LOCK) (`make lock` writes it).
$(STAMP): pyproject.toml engine/pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(LOCK) pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q -c $(LOCK) $(TORCH)
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[docs,test]" -e ./engine
	touch $@

venv: $(STAMP)  ## create/update .venv: the package with its docs and test extras, and the engine (editable)

lock:  ## re-resolve requirements/constraints.txt from pyproject.toml (LOCK_ARGS=--upgrade: newest versions)
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q $(LOCK_TOOLS)
	mkdir -p $(dir $(LOCK))
	printf 'pip\n$(firstword $(TORCH))\n' | CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile \
		--quiet --extra docs --extra test --strip-extras --unsafe-package gmlp-snippets --no-allow-unsafe \
		--no-emit-index-url --no-emit-find-links $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml -
	@# torch==2.13.0+cpu -> torch==2.13.0: the CPU and the CUDA builds both satisfy it
	sed -E 's/^(torch==[^+ ]+)\+[A-Za-z0-9.]+/\1/' $(LOCK) > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)

lint: $(STAMP)  ## ruff: lint and format check (line length 88), as configured in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the suite runs on every core (pytest-xdist); PYTEST_ARGS="-n 0 -k NAME" runs a part in one process
PYTEST_ARGS ?= -n auto
test: $(STAMP) $(NPM_STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

notebooks: $(STAMP)  ## write each docs/notebooks/*.py (jupytext percent) to its .ipynb pair, without outputs
	$(BIN)/jupytext --to ipynb docs/notebooks/*.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf site test-artifacts .pytest_cache

# ---- the site: KaTeX comes from the npm registry, pinned by package-lock.json ----
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

SERVE_ADDR ?= 127.0.0.1:8000
REMOTE     ?= origin
# Where `make deploy` publishes: https://<user>.github.io/<repo>/ from the GitHub remote, unless SITE_URL is set.
PAGES_URL = $(shell git remote get-url $(REMOTE) 2>/dev/null | sed -E 's#\.git$$##; s#^(https://|ssh://git@|git@)github\.com[:/]##' \
	| awk -F/ 'NF == 2 { u = tolower($$1); print "https://" u ".github.io/" (tolower($$2) == u ".github.io" ? "" : $$2 "/") }')

serve: $(STAMP) $(NPM_STAMP)  ## serve the site with live reload at http://127.0.0.1:8000/
	SITE_URL=http://$(SERVE_ADDR)/ $(BIN)/mkdocs serve --dev-addr $(SERVE_ADDR)

build: $(STAMP) $(NPM_STAMP)  ## mkdocs build --strict into site/
	$(BIN)/mkdocs build --strict

deploy: $(STAMP) $(NPM_STAMP)  ## publish the site to the gh-pages branch of $(REMOTE) (mkdocs gh-deploy)
	@url="$${SITE_URL:-$(PAGES_URL)}"; \
	if [ -z "$$url" ]; then echo "deploy: set SITE_URL=https://<user>.github.io/<repo>/ (no GitHub remote '$(REMOTE)' to derive it from)" >&2; exit 1; fi; \
	echo "deploy: $$url via $(REMOTE)"; \
	SITE_URL="$$url" $(BIN)/mkdocs gh-deploy --strict --force --remote-name $(REMOTE)

# ---- placeholders below are filled in as the pieces land ----
figures: $(STAMP)  ## draw every post's figures that changed (FIGURES_ARGS="--post NAME", "--profile full --device cuda")
	$(BIN)/python -m explainer figures $(FIGURES_ARGS)

new-post: $(STAMP)  ## scaffold a draft explainer: make new-post NAME=mlp_mixer TITLE="..."
	$(BIN)/python -m explainer new-post --name "$(NAME)" --title "$(TITLE)"

bench: $(STAMP)  ## speed and memory benchmark vs g-mlp-pytorch
	$(BIN)/python benchmarks/bench.py
