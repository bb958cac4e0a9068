"""The `score` HTTP function, through functions-framework's own app (and once through a real
`functions-framework` server): decisions, request validation, transport errors and the
refusal to serve a model whose bytes are not the ones published."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from support.client import Client
from support.server import free_port, function_server, server_env

MODEL = "credit_default"

GOOD = {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
        "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
        "dependents": 2}
BAD = {"revolving_utilization": 0.98, "age": 22, "late_30_59": 3, "late_60_89": 2, "late_90_plus": 4,
       "debt_ratio": 1.00, "monthly_income": 1500, "open_credit_lines": 12, "real_estate_loans": 0,
       "dependents": 3}

@pytest.fixture
def client(make_client, trained_store) -> Client:
    return make_client(trained_store.path)


@pytest.fixture
def store_copy(tmp_path, trained_store) -> Path:
    path = tmp_path / "models"
    shutil.copytree(trained_store.path, path)
    return path


@pytest.fixture(scope="module")
def graph(trained_store):
    m = trained_store.result.manifest
    data = trained_store.store.read(f"{MODEL}/{m['version']}/pd.onnx")
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]), m


def direct_pd(graph, features: dict) -> float:
    """The bundle's pd.onnx run on one applicant, with no serving code in between."""
    session, manifest = graph
    feeds = {}
    for f in manifest["features"]:
        v = features.get(f["name"])
        if f["type"] == "numeric":
            feeds[f["name"]] = np.array([[np.nan if v is None else v]], dtype=np.float32)
        else:
            feeds[f["name"]] = np.array([["" if v is None else v]], dtype=object)
    return float(session.run(["pd"], feeds)[0][0])


def band_of(score: float, scaling: dict) -> str:
    bands = scaling["bands"]
    name = bands[0]["name"]
    for band in bands[1:]:
        if score >= band["min_score"]:
            name = band["name"]
    return name


# --- decisions --------------------------------------------------------------------------

def test_good_applicant_gets_a_lower_pd_and_a_better_rating(client, trained_store):
    good, bad = client.score(GOOD), client.score(BAD)
    assert (good.status, bad.status) == (200, 200), (good, bad)
    assert good.body["pd"] < 0.5 * bad.body["pd"]
    assert bad.body["pd"] - good.body["pd"] > 0.1
    assert good.body["score"] > bad.body["score"]
    ranks = [b["name"] for b in trained_store.result.manifest["scaling"]["bands"]]
    assert ranks.index(good.body["rating"]) > ranks.index(bad.body["rating"])


@pytest.mark.parametrize("features", [GOOD, BAD], ids=["good", "bad"])
def test_response_is_consistent_with_the_bundle(client, trained_store, graph, features):
    reply = client.score(features)
    assert reply.status == 200, reply
    body, m = reply.body, trained_store.result.manifest
    assert 0 < body["pd"] < 1
    assert body["score"] == pytest.approx(300 + (1 - body["pd"]) * 600, abs=0.1)
    assert body["rating"] == band_of(300 + (1 - body["pd"]) * 600, m["scaling"])
    assert body["model_version"] == m["version"]
    assert body["applicant_id"] == "A-1"
    assert body["pd"] == pytest.approx(direct_pd(graph, features), abs=1e-7)


def test_get_reports_the_loaded_model(client, trained_store):
    reply = client.request("GET", content_type=None)
    assert reply.status == 200, reply
    assert reply.body["version"] == trained_store.result.manifest["version"]
    assert [f["name"] for f in reply.body["features"]] == [f["name"] for f in trained_store.result.manifest["features"]]


NULLABLE = {
    "monthly_income omitted": ({k: v for k, v in GOOD.items() if k != "monthly_income"}, None),
    "monthly_income null": ({**GOOD, "monthly_income": None}, None),
    "dependents null": ({**GOOD, "dependents": None}, None),
    "categoricals given": ({**GOOD, "housing": "own", "employment_type": "salaried",
                            "loan_purpose": "car"}, None),
    "categorical null": ({**GOOD, "housing": None}, None),
    "unknown category scored as missing": ({**GOOD, "housing": "houseboat"}, {**GOOD, "housing": None}),
}


@pytest.mark.parametrize("features, same_as", NULLABLE.values(), ids=NULLABLE.keys())
def test_nullable_features_may_be_omitted_or_null(client, graph, features, same_as):
    reply = client.score(features)
    assert reply.status == 200, reply
    assert reply.body["pd"] == pytest.approx(direct_pd(graph, same_as or features), abs=1e-7)


def test_missing_values_change_the_score(client):
    """Omitting a nullable feature is not the same as sending its median: the graph knows."""
    given, missing = client.score(GOOD), client.score({**GOOD, "monthly_income": None})
    assert given.status == missing.status == 200
    assert given.body["pd"] != missing.body["pd"]


# --- invalid requests -------------------------------------------------------------------

def _without(key):
    return {k: v for k, v in GOOD.items() if k != key}


def _body(features, **extra):
    return json.dumps({"features": features, **extra})


INVALID = {
    "missing feature": (_body(_without("age")), {"features.age"}),
    "unknown feature": (_body({**GOOD, "credit_score": 700}), {"features.credit_score"}),
    "string for numeric": (_body({**GOOD, "age": "42"}), {"features.age"}),
    "bool for numeric": (_body({**GOOD, "late_90_plus": True}), {"features.late_90_plus"}),
    "null for a non-nullable numeric": (_body({**GOOD, "debt_ratio": None}), {"features.debt_ratio"}),
    "below min (age 5)": (_body({**GOOD, "age": 5}), {"features.age"}),
    "above max": (_body({**GOOD, "revolving_utilization": 51}), {"features.revolving_utilization"}),
    "NaN literal": (_body(_without("monthly_income"))[:-2] + ', "monthly_income": NaN}}', {"features.monthly_income"}),
    "Infinity literal": (_body(_without("debt_ratio"))[:-2] + ', "debt_ratio": Infinity}}', {"features.debt_ratio"}),
    "-Infinity literal": (_body(_without("age"))[:-2] + ', "age": -Infinity}}', {"features.age"}),
    "categorical not a string": (_body({**GOOD, "housing": 3}), {"features.housing"}),
    "categorical a list": (_body({**GOOD, "loan_purpose": ["car"]}), {"features.loan_purpose"}),
    "features not an object": (_body(list(GOOD.values())), {"features"}),
    "features a string": (_body("age=42"), {"features"}),
    "features missing": (json.dumps({"applicant_id": "A-1"}), {"features"}),
    "unknown top-level field": (_body(GOOD, score=900), {"score"}),
    "applicant_id not a string": (_body(GOOD, applicant_id=12345), {"applicant_id"}),
    "negative exposure": (_body(GOOD, exposure=-1), {"exposure"}),
    "body not JSON": ("{features: {age: 42}}", {"body"}),
    "body not UTF-8": (b'{"features": {"housing": "\xff"}}', {"body"}),
    "empty body": ("", {"body"}),
    "JSON array body": (json.dumps([{"features": GOOD}]), {"body"}),
    "JSON string body": (json.dumps("features"), {"body"}),
    "JSON null body": ("null", {"body"}),
}


@pytest.mark.parametrize("data, fields", INVALID.values(), ids=INVALID.keys())
def test_invalid_requests_get_400_naming_the_field(client, data, fields):
    reply = client.request("POST", data=data)
    assert reply.status == 400, reply
    assert reply.body["error"] == "invalid_request"
    assert {d["field"] for d in reply.body["details"]} == fields
    for field in fields:
        assert field in reply.body["message"]
    assert "pd" not in reply.body and "score" not in reply.body


def test_every_bad_field_is_named_at_once(client):
    features = {**_without("age"), "debt_ratio": "high", "late_30_59": -1, "housing": 7, "shoe_size": 44}
    reply = client.request("POST", data=_body(features))
    assert reply.status == 400, reply
    named = {d["field"]: d["problem"] for d in reply.body["details"]}
    assert set(named) == {"features.age", "features.debt_ratio", "features.late_30_59", "features.housing",
                          "features.shoe_size"}
    assert named["features.age"] == "required field is missing"
    assert named["features.shoe_size"] == "unknown field"
    assert "'high'" in named["features.debt_ratio"]
    for field in named:
        assert field in reply.body["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None,
                                          "application/jsonp", "application/json; charset=utf-16",
                                          "application/json; charset=latin-1"])
def test_wrong_content_type_is_415(client, content_type):
    reply = client.request("POST", data=_body(GOOD), content_type=content_type)
    assert reply.status == 415, reply
    assert reply.body["error"] == "unsupported_media_type"


def test_json_content_type_with_charset_is_accepted(client):
    reply = client.request("POST", data=_body(GOOD), content_type="application/json; charset=utf-8")
    assert reply.status == 200, reply


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(client, method):
    reply = client.request(method, data=_body(GOOD))
    assert reply.status == 405, reply
    assert reply.body["error"] == "method_not_allowed"
    assert "POST" in reply.headers["Allow"]


@pytest.mark.parametrize("pad, status", [(0, 200), (600, 413), (10_000, 413)])
def test_body_size_limit(make_client, trained_store, pad, status):
    client = make_client(trained_store.path, MAX_BODY_BYTES=512)
    body = _body(GOOD, applicant_id="A" * pad) if pad else _body(GOOD)
    assert (len(body) > 512) == (status == 413)
    reply = client.request("POST", data=body)
    assert reply.status == status, reply
    if status == 413:
        assert reply.body["error"] == "payload_too_large"
        assert "512" in reply.body["message"]


# --- integrity: never serve bytes that differ from what was published --------------------

def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _version_dir(store: Path) -> Path:
    pointer = json.loads((store / MODEL / "current.json").read_text())
    return store / MODEL / pointer["version"]


def _tamper_pd_onnx(store):
    _flip_byte(_version_dir(store) / "pd.onnx")


def _tamper_manifest(store):
    path = _version_dir(store) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["metrics"]["test"]["auc"] = 0.99
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _truncate_pd_onnx(store):
    path = _version_dir(store) / "pd.onnx"
    path.write_bytes(path.read_bytes()[:100])


def _delete_pd_onnx(store):
    (_version_dir(store) / "pd.onnx").unlink()


def _remove_current(store):
    (store / MODEL / "current.json").unlink()


def _point_to_missing_version(store):
    (store / MODEL / "current.json").write_text(json.dumps({"version": "v20990101-000000"}))


def _no_store(store):
    shutil.rmtree(store)


BROKEN_STORES = {
    "pd.onnx byte flipped": (_tamper_pd_onnx, "artifact_integrity_failed"),
    "pd.onnx truncated": (_truncate_pd_onnx, "artifact_integrity_failed"),
    "manifest edited": (_tamper_manifest, "artifact_integrity_failed"),
    "pd.onnx deleted": (_delete_pd_onnx, "model_store_unavailable"),
    "no current.json": (_remove_current, "model_store_unavailable"),
    "current.json names a missing version": (_point_to_missing_version, "model_store_unavailable"),
    "store folder missing": (_no_store, "model_store_unavailable"),
}


@pytest.mark.parametrize("breakage, code", BROKEN_STORES.values(), ids=BROKEN_STORES.keys())
def test_broken_store_answers_503_and_never_a_score(make_client, store_copy, breakage, code):
    breakage(store_copy)
    client = make_client(store_copy, LOAD_RETRY_S=30)
    for features in (GOOD, BAD):  # the cold-start failure is remembered, not retried per request
        reply = client.score(features)
        assert reply.status == 503, reply
        assert reply.body["error"] == code
        assert reply.body["message"]
        assert int(reply.headers["Retry-After"]) == 30
        assert not {"pd", "score", "rating", "model_version"} & set(reply.body)
    assert client.request("GET", content_type=None).status == 503


def test_instance_recovers_once_the_store_is_fixed(make_client, tmp_path, trained_store):
    store = tmp_path / "later"
    client = make_client(store, LOAD_RETRY_S=0)
    first = client.score(GOOD)
    assert first.status == 503 and first.headers["Retry-After"] == "1"
    shutil.copytree(trained_store.path, store)
    second = client.score(GOOD)
    assert second.status == 200, second
    assert second.body["model_version"] == trained_store.result.manifest["version"]


def test_pinned_version_that_does_not_exist_is_503(make_client, trained_store):
    client = make_client(trained_store.path, MODEL_VERSION="v19990101-000000")
    reply = client.score(GOOD)
    assert reply.status == 503, reply
    assert "v19990101-000000" in reply.body["message"]


def test_scores_from_a_gcs_model_store(make_client, trained_store, gcs_emulator, gcs_bucket):
    """The cloud layout: the same version, copied into a bucket, served from gs://."""
    from riskscore.io.store import open_store

    gcs = open_store(f"gs://{gcs_bucket}/models")
    for path in sorted(trained_store.path.rglob("*")):
        if path.is_file() and not path.name.endswith(".jsonl"):
            gcs.write(path.relative_to(trained_store.path).as_posix(), path.read_bytes())
    reply = make_client(f"gs://{gcs_bucket}/models").score(GOOD)
    assert reply.status == 200, reply
    assert reply.body["model_version"] == trained_store.result.manifest["version"]


def test_unreachable_gcs_store_answers_503_within_the_read_deadline(make_client, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    started = time.monotonic()
    client = make_client("gs://models-bucket/models", STORE_READ_TIMEOUT_S=1, STORE_READ_DEADLINE_S=2)
    reply = client.score(GOOD)
    assert reply.status == 503, reply
    assert reply.body["error"] == "model_store_unavailable"
    assert "Retry-After" in reply.headers
    assert time.monotonic() - started < 15


# --- a real functions-framework server --------------------------------------------------

@pytest.fixture(scope="module")
def server(trained_store, tmp_path_factory):
    env = server_env(MODEL_STORE=str(trained_store.path), MAX_BODY_BYTES="4096", PYTHONUNBUFFERED="1")
    log_path = tmp_path_factory.mktemp("server") / "functions-framework.log"
    with function_server("score", env, log_path) as srv:
        yield srv.session, srv.url


def test_real_server_scores_the_examples(server, trained_store, graph):
    session, url = server
    replies = {}
    for name, features in (("good", GOOD), ("bad", BAD)):
        r = session.post(url, json={"applicant_id": name, "features": features}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        replies[name] = r.json()
        assert replies[name]["model_version"] == trained_store.result.manifest["version"]
        assert replies[name]["pd"] == pytest.approx(direct_pd(graph, features), abs=1e-7)
    assert replies["good"]["pd"] < 0.5 * replies["bad"]["pd"]
    assert replies["good"]["score"] > replies["bad"]["score"]


def test_real_server_rejects_bad_input_and_large_chunked_bodies(server):
    session, url = server
    r = session.post(url, json={"features": {**GOOD, "age": 5}}, timeout=10)
    assert r.status_code == 400 and r.json()["details"][0]["field"] == "features.age"

    def chunks():  # no Content-Length: the limit must hold while reading the stream
        yield b'{"features": {"pad": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    r = session.post(url, data=chunks(), headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"


# --- logs: Cloud Trace correlation; a bug is a logged 500 ---------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
TRACE_FIELDS = {"logging.googleapis.com/trace": f"projects/risk-test/traces/{TRACE_ID}",
                "logging.googleapis.com/spanId": "00f067aa0ba902b7",
                "logging.googleapis.com/trace_sampled": True}


def _log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _traced(record: dict) -> bool:
    return any(key.startswith("logging.googleapis.com/") for key in record)


def test_prediction_line_of_a_traced_request_carries_the_trace(make_client, trained_store, tmp_path, capsys):
    log_file = tmp_path / "predictions.jsonl"
    client = make_client(trained_store.path, GOOGLE_CLOUD_PROJECT="risk-test", PREDICTION_LOG=log_file)
    assert client.request("POST", json_body={"features": GOOD}, headers=TRACEPARENT).status == 200
    assert client.request("POST", json_body={"features": BAD}).status == 200  # not traced
    traced, untraced = [r for r in _log_lines(capsys.readouterr().out) if r.get("log_type") == "prediction"]
    assert traced | TRACE_FIELDS == traced
    assert not _traced(untraced)
    assert _log_lines(log_file.read_text()) == [traced, untraced]  # the local copy is the same line


def test_error_lines_of_a_traced_request_carry_the_trace(make_client, tmp_path, capsys):
    client = make_client(tmp_path / "no-store", GOOGLE_CLOUD_PROJECT="risk-test", LOAD_RETRY_S=0)
    reply = client.request("POST", json_body={"features": GOOD},
                           headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/12345;o=1"})
    assert reply.status == 503, reply
    errors = [r for r in _log_lines(capsys.readouterr().out) if r["severity"] == "ERROR"]
    assert errors
    for record in errors:
        assert record["logging.googleapis.com/trace"] == f"projects/risk-test/traces/{TRACE_ID}"
        assert record["logging.googleapis.com/spanId"] == "0000000000003039"  # 12345 as 16 hex digits
        assert record["logging.googleapis.com/trace_sampled"] is True
        assert record["request_id"] == reply.body["request_id"]


def test_a_bug_is_a_500_logged_with_its_traceback_under_the_trace(make_client, trained_store, monkeypatch, capsys):
    client = make_client(trained_store.path, GOOGLE_CLOUD_PROJECT="risk-test")

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug in scoring")

    monkeypatch.setattr(sys.modules["main"].SCORER, "score", broken)
    response = client.http.post("/", json={"features": GOOD}, headers=TRACEPARENT)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "a bug" not in response.text  # no internals in the answer
    [record] = [r for r in _log_lines(capsys.readouterr().out) if r["severity"] == "ERROR"]
    assert record["stack_trace"].startswith("Traceback (most recent call last)")
    assert "ZeroDivisionError: a bug in scoring" in record["stack_trace"]
    assert record | TRACE_FIELDS == record


@pytest.mark.parametrize("headers", [
    {"traceparent": "junk"}, {"traceparent": "00-" + "z" * 32 + "-00f067aa0ba902b7-01"},
    {"X-Cloud-Trace-Context": "x" * 5000}, {"X-Cloud-Trace-Context": f"{TRACE_ID}/99999999999999999999999;o=1"},
    {"traceparent": "\u00ff" * 55},
], ids=["junk", "non-hex", "long", "span over 64 bits", "latin-1"])
def test_malformed_trace_headers_are_ignored(make_client, trained_store, capsys, headers):
    client = make_client(trained_store.path, GOOGLE_CLOUD_PROJECT="risk-test")
    reply = client.request("POST", json_body={"features": GOOD}, headers=headers)
    assert reply.status == 200, reply
    [record] = [r for r in _log_lines(capsys.readouterr().out) if r.get("log_type") == "prediction"]
    assert not _traced(record)


# --- what the response says besides the decision -----------------------------------------

@pytest.mark.parametrize("features, warnings", [
    (GOOD, []),
    ({**GOOD, "housing": "houseboat"}, [{"field": "features.housing",
                                         "problem": "category not seen in training: scored as missing"}]),
], ids=["known", "unseen category"])
def test_an_unseen_category_is_scored_as_missing_with_a_warning(client, features, warnings):
    reply = client.score(features)
    assert reply.status == 200, reply
    assert reply.body["warnings"] == warnings
    assert "houseboat" not in json.dumps(reply.body)  # the value itself is never echoed


def test_exposure_is_echoed_with_the_lgd_used(client):
    reply = client.request("POST", data=json.dumps({"exposure": 15000, "features": GOOD}))
    assert reply.status == 200, reply
    assert reply.body["exposure"] == 15000
    assert reply.body["lgd_source"] == "model"
    assert reply.body["expected_loss"] == pytest.approx(reply.body["pd"] * reply.body["lgd"] * 15000, abs=0.01)


@pytest.mark.parametrize("path", ["/?view=openapi", "/openapi.json"])
def test_the_openapi_document_of_the_loaded_version_is_served(client, trained_store, path):
    from riskscore.serving.openapi import openapi_document
    from riskscore.contract.schema import FeatureSpec

    reply = client.request("GET", path=path, content_type=None)
    assert reply.status == 200, reply
    m = trained_store.result.manifest
    assert reply.body["openapi"] == "3.1.0"
    assert reply.body["info"]["version"] == m["version"]
    expected = openapi_document([FeatureSpec.model_validate(f) for f in m["features"]])
    assert reply.body["components"]["schemas"]["Features"] == expected["components"]["schemas"]["Features"]


def test_a_client_writing_a_whole_oversized_body_first_reads_the_413(server):
    """Some HTTP clients write the whole body before reading: they must get the 413, not a reset."""
    _, url = server
    host, port = url.split("//")[1].rstrip("/").split(":")
    body = b'{"features": {"pad": "' + b"x" * 900_000 + b'"}}'
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
