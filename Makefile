# Everything a fresh machine needs: `make run` and `make test` do all the set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run test lint typecheck unit integration bench lock clean web-build

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(PY) --no-deps -e . -e tests/plugin_example
	@$(PY) -m compileall -q src  # byte-code ahead of time: start-up stays fast even where shells set PYTHONDONTWRITEBYTECODE
	@touch $(STAMP)

lock:  ## re-resolve pinned versions after changing pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 -o requirements.lock --quiet

run: setup web-build  ## the platform on http://127.0.0.1:8000, demo pipelines loaded, admin login printed
	$(VENV)/bin/ecluse serve --demo

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm install --no-save --no-audit --no-fund

web-build: web/node_modules/.package-lock.json  ## the UI, served by the platform at /
	cd web && npm run build

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports --config pyproject.toml

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit -q -n 2

integration: setup
	$(PY) -m pytest tests/integration -q

test: setup lint typecheck
	$(PY) -m pytest tests -q -n 2 --dist loadfile -p no:cacheprovider

bench: setup
	$(PY) bench/run_bench.py

clean:
	rm -rf $(VENV) .ecluse .mypy_cache .ruff_cache .pytest_cache
