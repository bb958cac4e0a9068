# Everything installs from the project's own files: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov gets a virtualenv of its own: its pins would downgrade packages of the project's.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# The Dataflow pipeline (dataflow/) gets a virtualenv of its own too: apache-beam 2.77 requires
# pyarrow<26, the functions pin 26.0.1. `make test` runs the Beam tests (tests/dataflow/test_beam_*.py,
# skipped in .venv) in it; the Flex Template image installs the same dataflow/requirements.txt.
BEAM_VENV ?= .venv-beam
BEAM_PY := $(BEAM_VENV)/bin/python
BEAM_STAMP := $(BEAM_VENV)/.installed
BEAM_TESTS := $(wildcard tests/dataflow/test_beam_*.py)
# The MLflow tracking server the MLflow tests start (tests/support/mlflow_server.py) gets a virtualenv of
# its own as well: the full mlflow requires pyarrow<26. About 1 minute, 400 MB.
MLFLOW_VENV ?= .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed
# fakesnow (the tests' local Snowflake) in its own virtualenv: it needs duckdb 2 and a sqlglot
# newer than bqemulator accepts. The Snowflake tests skip without it; `make test` makes it.
FAKESNOW_VENV ?= .venv-fakesnow
FAKESNOW_STAMP := $(FAKESNOW_VENV)/.installed
ROWS ?= 200000
PORT ?= 8080
MODEL_STORE ?= $(CURDIR)/models
MODEL_NAME ?= credit_default

.PHONY: setup tools beam-setup mlflow-setup fakesnow-setup test test-dataflow test-fast infra-check demo data train serve bench bench-dataflow clean

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

# About 2.5 GB and 2-3 minutes: Beam, the serving pins (pyarrow 25) and the test and training
# pins, so the Beam tests train their tiny models and run the emulators as the others do.
beam-setup: $(BEAM_STAMP)

$(BEAM_STAMP): dataflow/requirements.txt dataflow/requirements-dev.txt pyproject.toml
	test -x $(BEAM_PY) || $(PYTHON) -m venv $(BEAM_VENV)
	$(BEAM_PY) -m pip install --quiet --upgrade pip
	$(BEAM_PY) -m pip install --quiet -r dataflow/requirements-dev.txt
	$(BEAM_PY) -m pip install --quiet --no-deps -e .
	touch $(BEAM_STAMP)

mlflow-setup: $(MLFLOW_STAMP)

$(MLFLOW_STAMP): requirements-mlflow-server.txt
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet -r requirements-mlflow-server.txt
	touch $(MLFLOW_STAMP)

fakesnow-setup: $(FAKESNOW_STAMP)

$(FAKESNOW_STAMP): requirements-fakesnow.txt
	test -x $(FAKESNOW_VENV)/bin/python || $(PYTHON) -m venv $(FAKESNOW_VENV)
	$(FAKESNOW_VENV)/bin/python -m pip install --quiet -r requirements-fakesnow.txt
	touch $(FAKESNOW_STAMP)

test: setup tools beam-setup mlflow-setup fakesnow-setup
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-dataflow

# The Beam tests on the DirectRunner, in .venv-beam (`python -m pytest` puts the repository,
# hence the `dataflow` package, on the path).
test-dataflow: beam-setup
	$(BEAM_PY) -m pytest -q $(BEAM_TESTS)

# The Terraform checks on their own (also part of `make test`; what cloudbuild.test.yaml runs).
infra-check: setup tools
	terraform fmt -check -recursive
	$(PY) scripts/tfcheck.py
	$(PY) scripts/sync_bq_schemas.py --check
	$(CHECKOV_VENV)/bin/checkov -d . --framework terraform --skip-download --quiet --compact \
	  --skip-path $(VENV) --skip-path $(CHECKOV_VENV) --skip-path $(BEAM_VENV) --skip-path $(MLFLOW_VENV) \
	  --skip-path $(FAKESNOW_VENV)

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

data: setup
	$(PY) -m training generate --rows $(ROWS) --seed 7 --out data/credit.parquet

train: setup
	$(PY) -m training train --spec training/specs/credit_default.yaml --data data/credit.parquet --store models

demo: setup
	$(PY) scripts/demo.py --rows $(ROWS)

# The score function on the model store `make demo` / `make train` wrote (override any of these:
# `make serve MODEL_STORE=gs://bucket/models PORT=8081`). The console: http://127.0.0.1:$(PORT)/
serve: setup
	MODEL_STORE=$(MODEL_STORE) MODEL_NAME=$(MODEL_NAME) $(PY) -m functions_framework --target score \
	  --source functions/main.py --host 127.0.0.1 --port $(PORT)

bench: setup
	$(PY) bench/serving.py

# DirectRunner next to batch_score on the same rows (docs/benchmarks.md, "Dataflow").
bench-dataflow: beam-setup
	$(BEAM_PY) bench/dataflow.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(BEAM_VENV) $(MLFLOW_VENV) $(FAKESNOW_VENV) data models/credit_default .pytest_cache build
