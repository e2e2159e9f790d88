# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    install everything (once) and start the app on http://localhost:8501
#   make test   install everything (once) and run the whole test suite
#
# VENV may point outside the clone (CI keeps one in its cache) so that the ~6 GB torch install is
# done once; the install is skipped while requirements.txt is unchanged (its hash is the stamp).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-$(shell sha256sum requirements.txt | cut -c1-16)

.PHONY: run test install bench

# The local app has one user: one training at a time gets every core (its groups of models train
# side by side in training processes). A hosted server sets its own caps (see the README).
TL_MAX_JOBS ?= 1

run: $(STAMP)
	TL_MAX_JOBS=$(TL_MAX_JOBS) $(BIN)/streamlit run app.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tl_core bench
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_rnn.py

install: $(STAMP)

$(STAMP):  # named by the hash of requirements.txt, so a change makes a new stamp
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.requirements-*
	touch $@
