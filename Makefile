# Two entry points for a fresh machine: `make demo` (main job) and `make test` (the suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LABELLOOP_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test install install-dev lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	cd $(or $(DEMO_DIR),$(shell mktemp -d)) && $(abspath $(BIN))/labelloop demo

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/labelloop

# The whole suite twice: on the embedded SQLite default and on PostgreSQL.
test: lint
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/pytest -q -n 2 --backend sqlite
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  LABELLOOP_TEST_POSTGRES_URL=$(LABELLOOP_TEST_POSTGRES_URL) \
	  $(BIN)/pytest -q -n 2 --backend postgres -m "not sqlite_only"
