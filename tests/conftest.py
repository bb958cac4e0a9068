"""Shared pytest fixtures. Add new fixtures under their own header."""

from __future__ import annotations

import contextlib
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
    from training.synthetic import generate

    return generate(rows=6000, seed=1)


@pytest.fixture(scope="session")
def small_spec():
    from training.spec import load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    return spec.model_copy(update={"pd_model": spec.pd_model.model_copy(
        update={"n_estimators": SMALL_N_ESTIMATORS})})


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, small_spec, small_data):
    from riskscore.store import LocalStore
    from training.train import train

    path = tmp_path_factory.mktemp("trained_store") / "models"
    store = LocalStore(path)
    result = train(small_spec, small_data, store, log=quiet)
    yield SimpleNamespace(path=path, store=store, result=result)


# --- a real functions-framework server ---
#
#   functions_framework_server(target, env, log_path) (context manager, not a fixture):
#       starts `functions-framework --target TARGET` on a free loopback port in its own process
#       group, with stdout+stderr to log_path, waits for GET / to answer 200, and yields
#       SimpleNamespace(url, session, proc, log_path); stops exactly that process group after.

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCTIONS_SOURCE = os.path.join(REPO_ROOT, "functions", "main.py")


@contextlib.contextmanager
def functions_framework_server(target: str, env: dict, log_path, timeout_s: float = 30.0):
    import signal
    import subprocess
    import sys

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    executable = os.path.join(os.path.dirname(sys.executable), "functions-framework")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([executable, "--target", target, "--source", FUNCTIONS_SOURCE,
                                 "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"functions-framework exited with {proc.returncode}:\n"
                                   f"{open(log_path, errors='replace').read()}")
            try:
                if session.get(url, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"functions-framework not ready within {timeout_s} s:\n"
                                   f"{open(log_path, errors='replace').read()}")
            time.sleep(0.05)
        yield SimpleNamespace(url=url, session=session, proc=proc, log_path=log_path)
    finally:
        session.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # gunicorn: quick shutdown of the server and its workers
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group, e.g. a stuck worker
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def serve_function():
    """The `functions_framework_server` context manager, for module-scoped server fixtures."""
    return functions_framework_server
