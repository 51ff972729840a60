# Two commands for people: `make demo` (set up, then run the main job end to end) and `make test`.
# Everything is installed from pyproject.toml into .venv and from analysis/web/package-lock.json with
# `npm ci`, so a fresh machine needs python3 and Node.js; the browser tests use Debian's chromium.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WEB := analysis/web
CONSOLE := analysis/api/static/index.html
CONSOLE_SOURCES := $(WEB)/package-lock.json $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(shell find $(WEB)/src -type f 2>/dev/null)

.PHONY: setup console browser frameworks demo test lint bench screenshots wheel clean

setup: $(STAMP) $(CONSOLE)

$(STAMP): pyproject.toml collector/native/logscan.c collector/native/spanscan.c collector/native/wire.h collector/native/arrowcols.h analysis/stats/ks.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web console: built from the committed lock file into the Python package (served by `driftline ui`).
console: $(CONSOLE)

$(CONSOLE): $(CONSOLE_SOURCES)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Debian's chromium for the console's browser tests (as root; Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
	    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	  else echo "chromium is missing: sudo apt-get install chromium (the browser tests need it)"; fi; }

# Agent frameworks, each set in its own environment (their pins conflict): .envs/<set>, made from
# tests/frameworks/requirements/<set>.txt plus this checkout with the matching extras, and kept until
# either changes. tests/integration/test_frameworks.py runs a real agent of each in them.
ENVS := .envs
FRAMEWORK_SETS := agents crewai autogen ag2
FRAMEWORK_EXTRAS_agents := llamaindex,smolagents,haystack,dspy
FRAMEWORK_EXTRAS_crewai := crewai

frameworks: $(foreach set,$(FRAMEWORK_SETS),$(ENVS)/$(set)/.installed)

$(ENVS)/%/.installed: tests/frameworks/requirements/%.txt pyproject.toml
	rm -rf $(ENVS)/$*
	$(PYTHON) -m venv $(ENVS)/$*
	$(ENVS)/$*/bin/python -m pip install --quiet --upgrade pip
	$(ENVS)/$*/bin/python -m pip install --quiet -r $< -e '.$(if $(FRAMEWORK_EXTRAS_$*),[$(FRAMEWORK_EXTRAS_$*)])'
	touch $@

demo: setup
	$(VENV)/bin/driftline demo

lint: setup
	$(PY) -m ruff check .
	cd $(WEB) && npm run --silent typecheck

test: setup lint browser frameworks
	$(PY) -m pytest -q

# The README's console screenshots (analysis/web/screenshots/), from the browser test over demo data.
screenshots: setup browser
	DRIFTLINE_README_SCREENSHOTS=$(WEB)/screenshots $(PY) -m pytest -q tests/browser

wheel: setup
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .

bench: setup
	$(PY) tests/benchmarks/bench_ingest.py
	$(PY) tests/benchmarks/bench_overhead.py
	$(PY) tests/benchmarks/bench_power.py
	$(PY) tests/benchmarks/bench_diff.py
	$(PY) tests/benchmarks/bench_api.py
	$(PY) tests/benchmarks/bench_ml_ingest.py
	$(PY) tests/benchmarks/bench_ml_drift.py

clean:
	rm -rf $(VENV) $(ENVS) driftline-data .pytest_cache .ruff_cache analysis/api/static $(WEB)/node_modules dist
