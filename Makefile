# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install install-bench run test test-slow lint bench pictures clean

install: $(STAMP)

# torch first and exactly: a looser request makes pip fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/causalgear pipeline

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

install-bench: install
	$(PY) -m pip install -q -e '.[dev,bench]'

# Benchmarks print ratios measured side by side, each ending in one JSON line.
bench: install-bench
	$(PY) bench/harvest.py
	$(PY) bench/sae_train.py

# docs/report.png, features.png, attributions.png from the run docs/results.md was written from
pictures:
	bash docs/pictures.sh $(RUN)

lint: install
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf outputs multirun .pytest_cache
