# Everything installs from the project's own files: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROWS ?= 200000

.PHONY: setup test test-fast demo data train serve bench clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt requirements-train.txt functions/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

data: setup
	$(PY) -m training generate --rows $(ROWS) --seed 7 --out data/credit.parquet

train: setup
	$(PY) -m training train --spec training/specs/credit_default.yaml --data data/credit.parquet --store models

demo: setup
	$(PY) scripts/demo.py --rows $(ROWS)

serve: setup
	cd functions && ../$(PY) -m functions_framework --target score --port 8080

bench: setup
	$(PY) bench/serving.py

clean:
	rm -rf $(VENV) data models/credit_default .pytest_cache
