# letsbet: `make run` and `make test` are all a newcomer needs (Python 3.11+, nothing else).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-external check bench install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start every role with demo data on http://localhost:8080 (PORT overrides); embedded servers
## unless DATABASE_URL / REDIS_URL / NATS_URL are set.
run: $(STAMP)
	$(BIN)/letsbet run

## Format, lint and types, then the whole suite on embedded real PostgreSQL, Redis and NATS
## (what CI runs).
test: check
	$(BIN)/python -m pytest -q

## The same suite against this machine's PostgreSQL/Redis/NATS on their standard ports.
test-external: $(STAMP)
	LETSBET_TEST_EXTERNAL=1 $(BIN)/python -m pytest -q

## Format check, lint and types.
check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
