"""Outages answer fast and honestly: with BigQuery or Cloud Storage unreachable (a closed
loopback port), `batch_score` and `drift_check` answer 503 with Retry-After within their
configured deadline (SERVICE_DEADLINE_S), measured here, and leave nothing behind."""

from __future__ import annotations

import time

import pytest

from support.batch import RUN_DATE
from support.server import free_port

DEADLINE_S = 2.0
MARGIN_S = 3.0  # process start of the app, model load and scheduling on a busy machine


@pytest.fixture
def bigquery_down(monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    import riskscore.io.bq

    real = riskscore.io.bq.bigquery_client
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", lambda project=None: real(
        project or "test-project", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}))


@pytest.fixture
def storage_down(monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_fast_503(response, seconds):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["error"] == "service_unavailable"
    assert DEADLINE_S * 0.5 <= seconds < DEADLINE_S + MARGIN_S, seconds  # it did retry, within the deadline


@pytest.mark.parametrize("down, source", [("bigquery_down", "bq://test-project.portfolio.applicants"),
                                          ("storage_down", "gs://batch-bucket/in/applicants.parquet")])
def test_batch_score_answers_503_within_the_deadline(request, function_app, trained_store, tmp_path, down, source):
    request.getfixturevalue(down)
    app = function_app(trained_store.path, "batch_score", SERVICE_DEADLINE_S=DEADLINE_S, SERVICE_TIMEOUT_S=1)
    app.post("/", json={"records": [{}]})  # the model loads outside the measured call
    out = tmp_path / "out"
    response, seconds = timed(lambda: app.post("/", json={"input": source, "output": str(out), "run_date": RUN_DATE}))
    assert_fast_503(response, seconds)
    assert not out.exists() or not any(out.rglob("*.parquet"))  # nothing partial is visible


def test_batch_score_output_to_an_unreachable_bucket_is_a_503_not_output_not_writable(
        function_app, trained_store, small_data, tmp_path, storage_down):
    path = tmp_path / "in.parquet"
    small_data.head(50).to_parquet(path)
    app = function_app(trained_store.path, "batch_score", SERVICE_DEADLINE_S=DEADLINE_S, SERVICE_TIMEOUT_S=1)
    app.post("/", json={"records": [{}]})
    response, seconds = timed(lambda: app.post("/", json={"input": str(path), "output": "gs://batch-bucket/out",
                                                          "run_date": RUN_DATE}))
    assert_fast_503(response, seconds)


@pytest.mark.parametrize("down, source", [("bigquery_down", "bq://test-project.logs.predictions"),
                                          ("storage_down", "gs://batch-bucket/scored/")])
def test_drift_check_answers_503_within_the_deadline(request, function_app, drift_store, tmp_path, down, source):
    request.getfixturevalue(down)
    client = function_app(drift_store, "drift_check", REPORTS_DIR=tmp_path / "reports",
                          SERVICE_DEADLINE_S=DEADLINE_S, SERVICE_TIMEOUT_S=1)
    response, seconds = timed(lambda: client.post("/", json={"source": source, "start": "2026-11-20"}))
    assert_fast_503(response, seconds)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").rglob("report.json"))
