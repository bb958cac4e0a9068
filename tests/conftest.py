"""Shared pytest fixtures. Add new fixtures under their own header."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
import uuid
from types import SimpleNamespace

import pytest

# ---------------------------------------------------------------------------
# Google Cloud Storage emulator (gcp-storage-emulator, in-process, in-memory)
#
#   gcs_emulator  (session): .host ("http://127.0.0.1:PORT"), .client() -> storage.Client,
#                            .new_bucket(prefix="test") -> name of a fresh empty bucket.
#                            STORAGE_EMULATOR_HOST points at it for the whole session.
#   gcs_bucket    (function): name of a new empty bucket in the emulator.
# ---------------------------------------------------------------------------

GCS_TEST_PROJECT = "test-project"


def _wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"GCS emulator did not answer on {host}:{port} within {timeout}s")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def gcs_emulator():
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    # The emulator logs every 404 at ERROR level; tests provoke those on purpose.
    emulator_log = logging.getLogger("gcp_storage_emulator")
    saved_level = emulator_log.level
    emulator_log.setLevel(logging.CRITICAL)

    # Port 0: the OS picks a free port while binding, so there is no race with other
    # processes. The server has no public accessor for the port it got, hence `_api._httpd`.
    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()  # returns once the socket is bound
    try:
        port = server._api._httpd.server_address[1]
        _wait_for_port("127.0.0.1", port)
        host = f"http://127.0.0.1:{port}"
        saved = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = host
        counter = itertools.count()

        def client() -> storage.Client:
            return storage.Client(project=GCS_TEST_PROJECT, credentials=AnonymousCredentials(),
                                  client_options={"api_endpoint": host})

        def new_bucket(prefix: str = "test") -> str:
            name = f"{prefix}-{next(counter)}-{uuid.uuid4().hex[:8]}"
            client().create_bucket(name)
            return name

        try:
            yield SimpleNamespace(host=host, port=port, project=GCS_TEST_PROJECT,
                                  client=client, new_bucket=new_bucket)
        finally:
            if saved is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = saved
    finally:
        server.stop()
        emulator_log.setLevel(saved_level)


@pytest.fixture
def gcs_bucket(gcs_emulator) -> str:
    return gcs_emulator.new_bucket()


# --- trained model fixtures ---
#
#   small_data    (session): generate(rows=6000, seed=1), the synthetic applicant table.
#   small_spec    (session): the default spec with a short PD boosting run (fast to train;
#                            family xgboost, large regime).
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
    from training.synthetic import generate

    return generate(rows=6000, seed=1)


@pytest.fixture(scope="session")
def small_spec():
    from training.spec import load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    # XGBoost in the large regime (early stopping on the validation slice, no refit): the
    # tests built on this fixture check the boosted graph; the scorecard family, the small-data
    # regime and champion selection are tested in test_scorecard.py.
    return spec.model_copy(update={"pd_model": spec.pd_model.model_copy(
        update={"n_estimators": SMALL_N_ESTIMATORS, "family": "xgboost", "small_data_rows": 0})})


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, small_spec, small_data):
    from riskscore.store import LocalStore
    from training.train import train

    path = tmp_path_factory.mktemp("trained_store") / "models"
    store = LocalStore(path)
    result = train(small_spec, small_data, store, log=quiet)
    yield SimpleNamespace(path=path, store=store, result=result)
