# Two commands for people: `make demo` (set up, then run the main job end to end) and `make test`.
# Everything is installed from pyproject.toml into .venv, so a fresh machine needs only python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/driftline demo

lint: setup
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) tests/benchmarks/bench_ingest.py
	$(PY) tests/benchmarks/bench_overhead.py
	$(PY) tests/benchmarks/bench_power.py
	$(PY) tests/benchmarks/bench_diff.py

clean:
	rm -rf $(VENV) driftline-data .pytest_cache .ruff_cache
