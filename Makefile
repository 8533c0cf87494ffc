# haybale — set-up and checks. Every target installs what it needs from scratch into .venv.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HAYBALE_ROOT ?= ./haybale-data
# two pytest workers: much of the suite waits on child processes (jobs, servers, Ray nodes)
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=25

.PHONY: help install install-dev demo lint test bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/ —/'

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(PY) -m pip install -q -r requirements-dev.lock
	touch $(DEV_STAMP)

install: $(STAMP)  ## create .venv with haybale and its pinned runtime dependencies only

install-dev: $(DEV_STAMP)  ## also the pinned test and benchmark tools (pytest, ruff, baselines)

demo: $(STAMP)  ## run the main job on the embedded default and show every landed capability
	$(PY) -m haybale.demo --root $(HAYBALE_ROOT)

lint: $(DEV_STAMP)  ## ruff (pinned; rules in pyproject.toml): pyflakes, pycodestyle, bugbear, import order
	$(VENV)/bin/ruff check .

test: $(DEV_STAMP) lint  ## lint, then run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP)  ## run the benchmarks side by side (writes bench/results/)
	$(PY) -m bench.run_all $(BENCH)

clean:
	rm -rf $(VENV) haybale-data .pytest_cache
