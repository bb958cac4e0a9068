"""Property-based fuzzing of the batch and drift functions' bodies and of batch_score_gcs's
CloudEvent payloads (as tests/riskscore/serving/test_jsonbody_fuzz.py does for `score`): any
JSON value in any field, hostile paths, URIs, queries, dates and windows. No answer is a 5xx
but the honest 503 of an outage, and none echoes a canary row value."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.client import cloud_event  # noqa: F401 - the headers below are the same event's

BUCKET = "fuzz-bucket"
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)

hostile_paths = st.sampled_from([
    "../x.csv", "/etc/passwd", "..", ".", "", " ", "a" * 300, "x/" + "b" * 256 + ".parquet", "%00", "in/\u202e.csv",
    "gs://", "gs://other-bucket/x.csv", f"gs://{BUCKET}/", f"gs://{BUCKET}/../x", f"gs://{BUCKET}/nope.csv",
    "bq://", "bq://p.d.t", "bq://test-project.nope.t", "bq://a.b.c`; DROP TABLE x; --", "file:///etc/passwd",
    "s3://b/k", "~/.ssh/id_rsa", "/proc/self/environ", "nope.csv", "sub/dir/", "C:\\\\x.csv", "\ud800.csv"])
dates = st.sampled_from(["2026-11-20", "9999-12-31", "0001-01-01", "2026-02-30", "20261120", "", "today",
                         "2026-11-20T00:00:00", "-1"]) | json_values

batch_bodies = st.fixed_dictionaries({}, optional={
    "input": hostile_paths | json_values | st.fixed_dictionaries({"query": st.sampled_from(
        ["DROP TABLE x", "SELECT 1", "SELECT * FROM `test-project.nope.t`", ""]) | st.text(max_size=30)}),
    "output": hostile_paths | json_values,
    "run_date": dates,
    "records": st.lists(json_values | st.fixed_dictionaries({"features": json_values}), max_size=3) | json_values,
    "extra": json_values})

drift_bodies = st.fixed_dictionaries({}, optional={
    "source": hostile_paths | json_values, "start": dates, "end": dates, "window": json_values})

event_data = json_values | st.fixed_dictionaries({}, optional={
    "bucket": st.sampled_from([BUCKET, "other"]) | json_values,
    "name": st.sampled_from(["incoming/x.csv", "incoming/../x.parquet", "incoming/" + "n" * 300 + ".csv",
                             "incoming/a\u0000.csv", "scored/x.parquet", "incoming/", "incoming/x.CSV.GZ"]) | json_values,
    "timeCreated": st.sampled_from(["2026-11-20T09:59:58.123Z", "9999-12-31T23:59:59Z", "garbage"]) | json_values})


@pytest.fixture
def services(bq_for_batch, gcs_emulator):
    """Both emulators up: a fuzzed gs:// or bq:// name meets a real (empty) service."""
    gcs_emulator.client().bucket(BUCKET).exists() or gcs_emulator.client().create_bucket(BUCKET)
    return gcs_emulator


def acceptable(status: int, text: str) -> None:
    assert status < 500 or (status == 503 and "service_unavailable" in text), text[:500]


@pytest.mark.slow
@FUZZ
@given(body=batch_bodies)
def test_batch_bodies_never_get_a_5xx(function_app, trained_store, services, body):
    app = function_app(trained_store.path, "batch_score", ALLOWED_BUCKETS=BUCKET, SERVICE_DEADLINE_S=2)
    response = app.post("/", data=json.dumps(body), content_type="application/json")
    acceptable(response.status_code, response.get_data(as_text=True))


@pytest.mark.slow
@FUZZ
@given(body=drift_bodies, query=st.sampled_from(["", "?window=../x", "?window=%00", "?index=1", "?format=html",
                                                   "?window=2026-11-20", "?window=" + "w" * 300]))
def test_drift_bodies_and_queries_never_get_a_5xx(function_app, trained_store, services, tmp_path, body, query):
    app = function_app(trained_store.path, "drift_check", ALLOWED_BUCKETS=BUCKET, SERVICE_DEADLINE_S=2,
                       REPORTS_DIR=tmp_path / "reports")
    response = app.post("/", data=json.dumps(body), content_type="application/json")
    acceptable(response.status_code, response.get_data(as_text=True))
    response = app.get("/" + query)
    acceptable(response.status_code, response.get_data(as_text=True))


@pytest.mark.slow
@FUZZ
@given(data=event_data)
def test_cloudevent_payloads_never_get_a_5xx(function_app, trained_store, services, data):
    app = function_app(trained_store.path, "batch_score_gcs", ALLOWED_BUCKETS=BUCKET, SERVICE_DEADLINE_S=2)
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.finalized",
               "ce-source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}", "ce-id": "evt-fuzz",
               "ce-time": "2026-11-20T10:00:00Z", "ce-subject": "objects/x"}
    response = app.post("/", data=json.dumps(data), headers=headers, content_type="application/json")
    assert response.status_code < 500, (data, response.get_data(as_text=True)[:300])
