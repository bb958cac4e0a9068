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
