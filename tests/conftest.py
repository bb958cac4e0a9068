"""Shared pytest fixtures: the emulators, the one server launcher and client factory
(tests/support/), and the trained model every serving test scores with."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from support.client import function_app, make_client  # noqa: F401 - fixtures registered for every test
from support.emulators import bq_dataset, bq_emulator, bq_for_batch, gcp_bigquery, gcs_bucket, gcs_emulator  # noqa: F401


# --- trained model fixtures ---
#
#   small_data    (session): generate(rows=6000, seed=1), the synthetic applicant table.
#   small_spec    (session): the default spec with a short PD boosting run (fast to train).
#   trained_store (session): SimpleNamespace(path, store, result): a local model store holding
#                            one version trained on small_data with small_spec (made current).
#   Tests that modify a store copy `trained_store.path` first (shutil.copytree).

DEFAULT_SPEC_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "training", "specs", "credit_default.yaml")
SMALL_N_ESTIMATORS = 60


def quiet(*_args, **_kwargs) -> None:
    """A `log` for training.train.train that prints nothing."""


@pytest.fixture(scope="session")
def small_data():
    from training.data.synthetic import generate

    return generate(rows=6000, seed=1)


@pytest.fixture(scope="session")
def small_spec():
    from training.data.spec import load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    # The shared trained version is the XGBoost family in the large regime (early stopping on
    # the validation slice), whatever the sample's size: the export, parity and serving tests
    # are written against it. Families, regimes and the champion have their own tests
    # (tests/test_scorecard.py).
    return spec.model_copy(update={"pd_model": spec.pd_model.model_copy(
        update={"n_estimators": SMALL_N_ESTIMATORS, "family": "xgboost", "small_data_rows": 0})})


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, small_spec, small_data):
    from riskscore.io.store import LocalStore
    from training.train import train

    path = tmp_path_factory.mktemp("trained_store") / "models"
    store = LocalStore(path)
    result = train(small_spec, small_data, store, log=quiet)
    yield SimpleNamespace(path=path, store=store, result=result)
