# `make run` and `make test` bootstrap .venv from nothing (Python 3.11 and make are enough):
# a venv, uv (pinned) inside it, then every package at the version pinned in uv.lock.
# `make run` installs only what running needs; `make test` adds the [test] extra on top.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := $(BIN)/uv
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
DEMO_AT ?= $(shell date -u +%Y-%m-%d)
PORT ?= 8000
# the demo goes live this many weeks before today and shows a team at work since then
DEMO_WEEKS ?= 4

# --locked: stop if uv.lock no longer matches pyproject.toml (`make lock` refreshes it);
# --inexact: keep what is installed beyond the asked set (pip, uv, the test extra);
# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE, so compile at install time.
SYNC := $(UV) sync --locked --inexact --compile-bytecode --quiet
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-deep lint bench lock clean

$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check uv==$(UV_VERSION)

$(RUN_STAMP): pyproject.toml uv.lock | $(UV)
	@echo "installing the packages that running needs (uv.lock) into $(VENV)"
	$(SYNC)
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	@echo "adding the [test] extra (uv.lock) to $(VENV)"
	$(SYNC) --extra test
	touch $@

# init + demo portfolio (when the database is empty) + sweep + portfolio summary, then
# the web app and the embedded scheduler on http://127.0.0.1:$(PORT) with demo logins printed,
# on the embedded default: ./kamflow.db (Ctrl-C stops it)
run: $(RUN_STAMP)
	$(BIN)/kamflow init
	@if $(BIN)/kamflow accounts --json | grep -q '"id"'; then \
	  echo "database already holds accounts: skipping the demo import"; \
	else $(BIN)/kamflow demo --at $(DEMO_AT) --weeks $(DEMO_WEEKS); fi
	$(BIN)/kamflow sweep --at $(DEMO_AT)
	$(BIN)/kamflow portfolio --at $(DEMO_AT)
	$(BIN)/kamflow serve --demo --port $(PORT)

# ruff, mypy, and every package under kamflow/ (symlinked pure ones too) listed in pyproject.toml:
# the wheel ships only the listed ones
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	@$(BIN)/python -c 'import os, sys, tomllib; \
	listed = set(tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["packages"]); \
	found = {d.replace(os.sep, ".") for d, _, fs in os.walk("kamflow", followlinks=True) if "__init__.py" in fs}; \
	missing = sorted(found - listed); \
	sys.exit("pyproject.toml [tool.setuptools] packages lacks: " + ", ".join(missing) if missing else 0)'

# two workers (pytest-xdist), each test file on one of them (its module fixtures built once);
# PYTEST_WORKERS=0 runs the suite in this process
PYTEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# the property tests with many more examples (slow)
test-deep: $(TEST_STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest

bench: $(RUN_STAMP)
	$(BIN)/python bench/sweep_bench.py --accounts 100000

# after a change to the dependencies in pyproject.toml: re-resolve and rewrite uv.lock
lock: | $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) kamflow.db kamflow.db-wal kamflow.db-shm
