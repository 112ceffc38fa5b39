# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: run test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,dask,fast]'
	touch $@

install: $(BIN)/.installed

## run: create the environment, migrate, load the demo book if the database is empty, serve the API
run: $(BIN)/.installed
	$(BIN)/ipfund db upgrade
	$(BIN)/ipfund demo --seed 1 --if-empty
	@echo "console: http://$(HOST):$(PORT)/console/ (sign in with a login and password from var/demo-credentials.txt)"
	$(BIN)/ipfund serve --host $(HOST) --port $(PORT)

## test: the whole test suite, on SQLite and PostgreSQL (skipped when unreachable, unless CI is set)
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
