# The two commands of the README. Both create .venv and install the project when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test test-fast bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,plot]'
	@touch $(STAMP)

# the main job: the bank workload on a launched system, 4 client processes, batches of 100
run: $(STAMP)
	$(PY) bin/loadsim bank --clients 4 --batch 100

demo: $(STAMP)
	$(PY) -m examples.session
	$(PY) bin/loadsim shop --quick --no-progress

# the whole suite: what CI runs
test: $(STAMP)
	$(PY) -m pytest -q

# without the multi-process, crash and chaos tests (marked slow)
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) bin/bench-storage --json bench-storage.json
	$(PY) bin/bench-runtime --json bench-runtime.json

# ruff on everything Python in the repository; mypy --strict on actors/ and storage/, mypy on loadsim/
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy --strict actors storage
	$(PY) -m mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
