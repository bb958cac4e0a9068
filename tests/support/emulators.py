"""The Cloud Storage and BigQuery emulators as pytest fixtures (registered by tests/conftest.py)."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
import uuid
from types import SimpleNamespace

import pytest

from support.server import free_port

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


def bq_emulator_home(home) -> None:
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


def start_bq_emulator(home, log_path):
    """Start `python -m bqemulator start` on free loopback ports; return (process, rest, grpc)."""
    import subprocess
    import sys
    import urllib.request

    rest_port, grpc_port = free_port(), free_port()
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
    stop_process(process)
    return None, rest_port, grpc_port


def stop_process(process) -> None:
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
    bq_emulator_home(home)
    # Two tries: another process may take a port between free_port() and the emulator's bind.
    for _ in range(2):
        process, rest_port, grpc_port = start_bq_emulator(home, log_path)
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
        stop_process(process)


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


@pytest.fixture
def bq_for_batch(bq_emulator, monkeypatch, wire):
    """riskscore.io.bq's factories on the emulator; through the recording proxy of the function
    a test runs (wire.acting, set by function_app), if any."""
    import riskscore.io.bq

    def client(project=None):
        return wire.bq_client(bq_emulator, wire.acting, project) if wire.acting else bq_emulator.client()

    def read_client():
        return wire.read_client(bq_emulator, wire.acting) if wire.acting else bq_emulator.read_client()

    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", client)
    monkeypatch.setattr(riskscore.io.bq, "bigquery_read_client", read_client)
    return bq_emulator
