# Everything installs from the project's own files: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov gets a virtualenv of its own: its pins would downgrade packages of the project's.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
ROWS ?= 200000

.PHONY: setup tools test test-fast infra-check demo data train serve bench clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt requirements-train.txt functions/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# checkov is optional for the tests (its test skips without it): a failed install must not stop them.
tools: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt && touch $(CHECKOV_STAMP) \
	  || echo "checkov could not be installed: the checkov test will skip"

test: setup tools
	$(PY) -m pytest -q

# The Terraform checks on their own (also part of `make test`; what cloudbuild.yaml runs).
infra-check: setup tools
	terraform fmt -check -recursive
	$(PY) scripts/tfcheck.py
	$(PY) scripts/sync_bq_schemas.py --check
	$(CHECKOV_VENV)/bin/checkov -d . --framework terraform --skip-download --quiet --compact \
	  --skip-path $(VENV) --skip-path $(CHECKOV_VENV)

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
	rm -rf $(VENV) $(CHECKOV_VENV) data models/credit_default .pytest_cache build
