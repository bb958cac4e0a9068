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


# ---------------------------------------------------------------------------
# BigQuery emulator (bqemulator: REST API v2 + Storage Read gRPC, DuckDB-backed, a subprocess)
#
#   bq_emulator  (session): .project ("test-project"), .rest_port, .grpc_port,
#                           .endpoint ("http://127.0.0.1:REST_PORT"),
#                           .client() -> google.cloud.bigquery.Client (anonymous, api_endpoint),
#                           .read_client() -> BigQueryReadClient over a plaintext gRPC channel,
#                           .new_dataset(prefix="test") -> id (short, no project) of a fresh
#                           empty dataset in .project: tables are f"{project}.{id}.name".
#   bq_dataset   (function): id of a new empty dataset (as new_dataset()).
#   gcp_bigquery (function): a bigquery.Client on REAL BigQuery from Application Default
#                            Credentials, for tests marked `gcp`; skips when there are none.
#
# Results: call to_arrow()/to_dataframe() with create_bqstorage_client=False, or pass
# bqstorage_client=bq_emulator.read_client(); otherwise the client dials Google's real Storage
# endpoint. Uploads: load_table_from_file (no `size`) works; multipart uploads
# (load_table_from_dataframe/json) do not. Partition decorators (table$YYYYMMDD) do not either.
#
# It runs offline: DuckDB loads its `spatial` extension at boot (required) and `avro` (optional,
# tried at boot). Both come from PyPI repackagings (duckdb-extension-*, pinned beside duckdb in
# requirements-dev.txt) and are copied into a private HOME's ~/.duckdb/extensions, where
# `INSTALL x` finds them instead of downloading. The package's own pytest plugin (which imports
# testcontainers) is disabled in pyproject.toml (`-p no:bqemulator`).
# If the emulator cannot start, tests that use it ERROR (never skip): it is a dev requirement.
# ---------------------------------------------------------------------------

BQ_TEST_PROJECT = "test-project"
BQ_DUCKDB_EXTENSIONS = ("spatial", "avro")
BQ_START_TIMEOUT_S = 90.0  # ~2 s on an idle machine; the 2 shared cores are often busy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bq_emulator_home(home) -> None:
    """Copy the pip-installed DuckDB extensions to where DuckDB looks for them under `home`."""
    import importlib
    import shutil

    import duckdb

    version = "v" + duckdb.__version__
    platform = duckdb.sql("PRAGMA platform").fetchone()[0]
    target = home / ".duckdb" / "extensions" / version / platform
    target.mkdir(parents=True, exist_ok=True)
    for name in BQ_DUCKDB_EXTENSIONS:
        package = importlib.import_module(f"duckdb_extension_{name}")
        source = os.path.join(os.path.dirname(package.__file__), "extensions", version,
                              f"{name}.duckdb_extension")
        if not os.path.isfile(source):
            raise RuntimeError(f"{source} missing: duckdb-extension-{name} must match duckdb {version}")
        shutil.copyfile(source, target / f"{name}.duckdb_extension")


def _start_bq_emulator(home, log_path):
    """Start `python -m bqemulator start` on free loopback ports; return (process, rest, grpc)."""
    import subprocess
    import sys
    import urllib.request

    rest_port, grpc_port = _free_port(), _free_port()
    # HOME: where DuckDB finds the extensions; TMPDIR: where it keeps uploaded load files.
    (home / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), TMPDIR=str(home / "tmp"))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bqemulator", "start", "--rest-host", "127.0.0.1",
             "--rest-port", str(rest_port), "--grpc-host", "127.0.0.1", "--grpc-port",
             str(grpc_port), "--project", BQ_TEST_PROJECT, "--ephemeral", "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + BQ_START_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return process, rest_port, grpc_port
        except OSError:
            pass
        time.sleep(0.1)
    _stop_process(process)
    return None, rest_port, grpc_port


def _stop_process(process) -> None:
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory):
    import grpc
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    home = tmp_path_factory.mktemp("bqemulator_home")
    log_path = home / "bqemulator.log"
    _bq_emulator_home(home)
    # Two tries: another process may take a port between _free_port() and the emulator's bind.
    for _ in range(2):
        process, rest_port, grpc_port = _start_bq_emulator(home, log_path)
        if process is not None:
            break
    else:
        tail = log_path.read_text(errors="replace")[-3000:]
        pytest.fail(f"bqemulator did not become ready within {BQ_START_TIMEOUT_S}s; log:\n{tail}",
                    pytrace=False)

    endpoint = f"http://127.0.0.1:{rest_port}"
    counter = itertools.count()

    def client() -> bigquery.Client:
        return bigquery.Client(project=BQ_TEST_PROJECT, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=endpoint))

    def read_client() -> BigQueryReadClient:
        # Plaintext gRPC: client_options would make the client attempt TLS and fail.
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        return BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))

    def new_dataset(prefix: str = "test") -> str:
        dataset_id = f"{prefix}_{next(counter)}_{uuid.uuid4().hex[:8]}"
        client().create_dataset(f"{BQ_TEST_PROJECT}.{dataset_id}")
        return dataset_id

    try:
        yield SimpleNamespace(project=BQ_TEST_PROJECT, rest_port=rest_port, grpc_port=grpc_port,
                              endpoint=endpoint, client=client, read_client=read_client,
                              new_dataset=new_dataset)
    finally:
        _stop_process(process)


@pytest.fixture
def bq_dataset(bq_emulator) -> str:
    return bq_emulator.new_dataset()


@pytest.fixture
def gcp_bigquery(monkeypatch):
    import google.auth
    from google.auth.compute_engine import _metadata
    from google.cloud import bigquery

    # Off Google machines, keep google.auth from probing the metadata server (169.254.169.254):
    # tests make no network call beyond loopback unless credentials are configured.
    if not getattr(_metadata, "detect_gce_residency_linux", lambda: False)():
        monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True, raising=False)
    try:
        credentials, project = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except Exception as exc:  # DefaultCredentialsError, malformed files, ...
        pytest.skip(f"no Google application-default credentials: {exc}")
    if not project:
        pytest.skip("application-default credentials have no project to run jobs in")
    return bigquery.Client(project=project, credentials=credentials)


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
    from riskscore.store import LocalStore
    from training.train import train

    path = tmp_path_factory.mktemp("trained_store") / "models"
    store = LocalStore(path)
    result = train(small_spec, small_data, store, log=quiet)
    yield SimpleNamespace(path=path, store=store, result=result)


# --- batch functions (functions/main.py: batch_score, batch_score_gcs) ---
#
#   batch_app  (function): batch_app(store_path, target="batch_score", **env) -> the test client
#              (Flask's; Starlette's for target "score") of a freshly imported functions/main.py
#              with MODEL_STORE=store_path.
#   bq_for_batch (function): points riskscore.bq's client factories at the BigQuery emulator.

BATCH_ENV = ["MODEL_STORE", "MODEL_NAME", "MODEL_VERSION", "ORT_INTRA_OP_THREADS", "ORT_INTER_OP_THREADS",
             "MAX_BODY_BYTES", "STORE_READ_TIMEOUT_S", "STORE_READ_DEADLINE_S", "GOOGLE_CLOUD_PROJECT",
             "BATCH_CHUNK_ROWS", "MAX_INLINE_RECORDS", "BATCH_WORKERS", "BATCH_STAGING_DATASET",
             "DATAFLOW_MIN_ROWS", "DATAFLOW_TEMPLATE", "DATAFLOW_REGION", "DATAFLOW_SERVICE_ACCOUNT",
             "DATAFLOW_TEMP_LOCATION", "DATAFLOW_MAX_WORKERS", "DATAFLOW_ENDPOINT", "FUNCTION_TARGET"]


@pytest.fixture
def batch_app(monkeypatch):
    import sys

    import flask
    import functions_framework
    from starlette.testclient import TestClient

    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions", "main.py")
    saved_path, saved_main = list(sys.path), sys.modules.get("main")

    def make(store_path, target: str = "batch_score", **env):
        for var in BATCH_ENV:
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("MODEL_STORE", str(store_path))
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        sys.modules.pop("main", None)
        app = functions_framework.create_app(target=target, source=source)
        # `score` is an ASGI function: functions-framework makes a Starlette app of it
        return app.test_client() if isinstance(app, flask.Flask) else TestClient(app)

    yield make
    sys.path[:] = saved_path
    if saved_main is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = saved_main


@pytest.fixture
def bq_for_batch(bq_emulator, monkeypatch):
    import riskscore.bq

    monkeypatch.setattr(riskscore.bq, "bigquery_client", lambda project=None: bq_emulator.client())
    monkeypatch.setattr(riskscore.bq, "bigquery_read_client", bq_emulator.read_client)
    return bq_emulator


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
