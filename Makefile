# Quickstart: `make demo` and `make test` work on a machine with nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test slow lint install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) examples/quickstart.py

test: install-dev
	$(PY) -m pytest -q -m "not slow"

slow: install-dev
	$(PY) -m pytest -q -m slow

lint: install-dev
	$(BIN)/ruff check skillstore agent benchmarks tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-store .pytest_cache .hypothesis
