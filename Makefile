# `make run` and `make test` bootstrap .venv from nothing when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_AT ?= $(shell date -u +%Y-%m-%d)

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# init + demo portfolio (when the database is empty) + sweep + portfolio summary, then
# the web app and the embedded scheduler on http://127.0.0.1:8000 with demo logins printed,
# on the embedded default: ./kamflow.db (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/kamflow init
	@if $(BIN)/kamflow accounts --json | grep -q '"id"'; then \
	  echo "database already holds accounts: skipping the demo import"; \
	else $(BIN)/kamflow demo --at $(DEMO_AT); fi
	$(BIN)/kamflow sweep --at $(DEMO_AT)
	$(BIN)/kamflow portfolio --at $(DEMO_AT)
	$(BIN)/kamflow serve --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/sweep_bench.py --accounts 100000

clean:
	rm -rf $(VENV) kamflow.db kamflow.db-wal kamflow.db-shm
