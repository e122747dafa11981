# The two commands of the README: `make up` and `make test`.
#
#   make up                      start a single-node cluster in the foreground
#                                (data dir: $PINNACE_DATA_DIR, else /var/lib/pinnace)
#   make up ARGS="--v 4 --port 7443"   ... with extra `pinnace up` flags
#   make test                    ruff + mypy + import contracts, then every test
#   make unit / integration / e2e      one layer of the tests
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# Pass PINNACE_DATA_DIR through when it is set (make exports it anyway when it
# comes from the environment; this also covers `make up PINNACE_DATA_DIR=...`).
ifdef PINNACE_DATA_DIR
export PINNACE_DATA_DIR
endif

.PHONY: setup up test check unit integration e2e bench clean

setup:
	@./scripts/setup

up: setup
	$(BIN)/pinnace up $(ARGS)

test: setup
	./scripts/test

check: setup
	./scripts/check

unit: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

integration: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

e2e: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

bench: setup
	$(BIN)/python bench/apiserver.py

# Removes the virtualenv and caches; never touches a data dir.
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache pinnace.egg-info
