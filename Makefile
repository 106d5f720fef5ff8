# The two commands of the README. Both create .venv and install the project when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m examples.session

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bin/bench-storage --json bench-storage.json

lint: $(STAMP)
	$(PY) -m ruff check actors storage tests bin/* examples loadsim

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
