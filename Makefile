# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    install everything (once) and start the app on http://localhost:8501
#   make test   install everything (once) and run the whole test suite
# And while working on it:
#   make lint       ruff's lint and format check (what CI runs before the tests)
#   make test-fast  the tests without the browser, the load test and the slow ones
#
# `make` installs this checkout into VENV, editable, with its test tools (pyproject.toml). VENV may
# point outside the clone (CI keeps one in its cache) so that the ~6 GB torch install is done once:
# the install is redone only when pyproject.toml changes or when VENV serves another checkout
# folder (the stamp is named by a hash of both), so a fresh clone always tests its own code.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell { cat pyproject.toml; echo "$(CURDIR)"; } | sha256sum | cut -c1-16)

.PHONY: run test test-fast lint install bench

run: $(STAMP)
	$(BIN)/transfer-lab app

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m tl_core bench
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_rnn.py

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[test]"
	rm -f $(VENV)/.installed-* $(VENV)/.requirements-*
	touch $@
