# Two entry points for a newcomer (see README):
#   make train [ARGS="algo=a2c env=pendulum"]   set up .venv, then train (PPO on CartPole by default)
#   make test                                   set up .venv, then run the whole test suite
#   make bench                                  add the bench extra (Stable-Baselines3), run scripts/benchmark.py
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pglab-installed
ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup train test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)
	$(PY) train.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,bench]"
	$(PY) scripts/benchmark.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
