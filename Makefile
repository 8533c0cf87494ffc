# haybale — set-up and checks. Every target installs what it needs from scratch into .venv.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HAYBALE_ROOT ?= ./haybale-data
PYTEST_ARGS ?=

.PHONY: help install demo test bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/ —/'

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the pinned dependencies and haybale itself

demo: $(STAMP)  ## run the main job on the embedded default and show every landed capability
	$(PY) -m haybale.demo --root $(HAYBALE_ROOT)

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)  ## run the benchmarks side by side (writes bench/results/)
	$(PY) -m bench.run_all $(BENCH)

clean:
	rm -rf $(VENV) haybale-data .pytest_cache
