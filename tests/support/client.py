"""The one client factory: a test client of functions/main.py, freshly executed.

    function_client(target="score"): the client of a newly executed functions/main.py (it reads
        the environment as set now): Starlette's TestClient for the ASGI `score`, Flask's else.
    function_app (fixture): function_app(store_path, target="score", **env) -> function_client
        with MODEL_STORE=store_path, LOCAL_ROOT=pytest's base folder and `env` set and every
        other setting unset; restores
        sys.modules["main"] after the test. With the Cloud Storage emulator in use, the
        function's Google API calls are recorded as its identity's (tests/support/wire.py):
        STORAGE_EMULATOR_HOST points at that identity's recording proxy, and bq_for_batch's
        clients go through it too.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from support.server import FUNCTION_ENV, FUNCTIONS_SOURCE



def function_client(target: str = "score"):
    import flask
    import functions_framework
    from starlette.testclient import TestClient

    sys.modules.pop("main", None)
    app = functions_framework.create_app(target=target, source=str(FUNCTIONS_SOURCE))
    return app.test_client() if isinstance(app, flask.Flask) else TestClient(app)


def mimetype(response) -> str:
    """The media type of a reply, without parameters (`text/html; charset=utf-8` -> `text/html`)."""
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


# The identity each function runs as in the cloud (infra/functions).
IDENTITY = {"score": "score", "batch_score": "batch", "batch_score_gcs": "batch", "drift_check": "drift"}


@pytest.fixture
def function_app(monkeypatch, request, wire, tmp_path_factory):
    saved_path, saved_main = list(sys.path), sys.modules.get("main")
    gcs = request.getfixturevalue("gcs_emulator") if "gcs_emulator" in request.fixturenames else None

    def make(store_path, target: str = "score", **env):
        for var in FUNCTION_ENV:
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("MODEL_STORE", str(store_path))
        # Callers' local paths are confined to LOCAL_ROOT: every test's files lie under pytest's base folder.
        monkeypatch.setenv("LOCAL_ROOT", str(tmp_path_factory.getbasetemp()))
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        wire.acting = IDENTITY[target]
        if gcs is not None and os.environ.get("STORAGE_EMULATOR_HOST") == gcs.host:
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", wire.gcs_host(gcs.host, IDENTITY[target]))
        return function_client(target)

    yield make
    wire.acting = None
    sys.path[:] = saved_path
    if saved_main is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = saved_main


class Reply:
    def __init__(self, status: int, headers, body: dict):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


class Client:
    """functions-framework's app for `score` (a Starlette app: `score` is an ASGI function)
    through Starlette's test client; every reply must be JSON and never a 500."""

    def __init__(self, http: TestClient):
        self.http = http

    def request(self, method: str, *, json_body=None, data: bytes | str | None = None,
                content_type: str | None = "application/json", headers=None, path: str = "/") -> Reply:
        if json_body is not None:
            data = json.dumps(json_body)
        # Header values go as latin-1 bytes, as on the wire (httpx refuses non-ASCII str).
        headers = {k: v.encode("latin-1") for k, v in (headers or {}).items()}
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = self.http.request(method, path, content=data, headers=headers)
        assert response.status_code != 500, response.text
        assert mimetype(response) == "application/json", response.text
        return Reply(response.status_code, response.headers, response.json())

    def score(self, features: dict, **extra) -> Reply:
        return self.request("POST", json_body={"applicant_id": "A-1", "features": features, **extra})


@pytest.fixture
def make_client(function_app):
    """make_client(store_path, **env) -> a Client of a freshly imported functions/main.py.

    main.py reads its settings and loads the model at import; functions-framework executes
    the source file into a new module object on every create_app (and replaces
    sys.modules['main']), so each client below has its own settings and model.
    """
    def make(store_path, **env) -> Client:
        return Client(function_app(store_path, **env))

    return make


def cloud_event(client, bucket: str, name: str, event_id: str = "evt-1"):
    """POST a Cloud Storage "object finalized" CloudEvent for gs://bucket/name to `client`."""
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.finalized",
               "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}", "ce-id": event_id,
               "ce-time": "2026-11-20T10:00:00Z", "ce-subject": f"objects/{name}"}
    data = {"bucket": bucket, "name": name, "timeCreated": "2026-11-20T09:59:58.123Z"}
    return client.post("/", data=json.dumps(data), headers=headers, content_type="application/json")
