"""The score function's contract: the committed OpenAPI document matches the models, real
responses match it, and thousands of malformed requests never produce a 5xx."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.client import function_client, mimetype

from riskscore.serving.openapi import ErrorResponse, ScoreResponse, openapi_document
from training.data.spec import load_spec

REPO = Path(__file__).resolve().parents[3]
GOOD = {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
        "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
        "dependents": 2, "housing": "rent", "employment_type": "salaried", "loan_purpose": "car"}


@pytest.fixture(scope="module")
def app(trained_store, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MODEL_STORE", str(trained_store.path))
    mp.setenv("MAX_BODY_BYTES", "4096")
    mp.setenv("PREDICTION_LOG", str(tmp_path_factory.mktemp("log") / "predictions.jsonl"))
    yield function_client()
    sys.modules.pop("main", None)
    mp.undo()


def test_committed_openapi_document_is_in_sync():
    committed = json.loads((REPO / "functions" / "openapi.json").read_text())
    generated = json.loads(json.dumps(openapi_document(load_spec(REPO / "training/specs/credit_default.yaml").features)))
    assert committed == generated, "run `python -m training openapi` and commit functions/openapi.json"


@pytest.mark.parametrize("query", ["", "?include=embedding"])
def test_score_response_matches_the_documented_schema(app, query):
    resp = app.post("/" + query, json={"applicant_id": "A-1", "exposure": 10_000, "features": GOOD})
    assert resp.status_code == 200, resp.text
    body = ScoreResponse.model_validate(resp.json())
    assert (body.embedding is not None) == bool(query)
    if query:
        assert len(body.embedding) == 8
    assert body.expected_loss == pytest.approx(body.pd * body.lgd * 10_000, abs=0.01)


def test_error_response_matches_the_documented_schema(app):
    resp = app.post("/", json={"features": {"age": "old"}})
    assert resp.status_code == 400
    body = ErrorResponse.model_validate(resp.json())
    assert {d.field for d in body.details} >= {"features.age", "features.revolving_utilization"}


# --- fuzzing: malformed requests -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10)


@st.composite
def mutated_bodies(draw):
    """A valid request with one to three things broken."""
    features = dict(GOOD)
    body = {"applicant_id": "A-1", "exposure": 5000.0, "features": features}
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["wrong_value", "drop_feature", "extra_feature", "wrong_envelope",
                                       "huge_number", "drop_envelope"]))
        name = draw(st.sampled_from(sorted(GOOD)))
        if action == "wrong_value":
            features[name] = draw(json_values.filter(lambda v: not isinstance(v, (int, float)) or isinstance(v, bool)))
        elif action == "drop_feature":
            features.pop(name, None)
        elif action == "extra_feature":
            features[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
        elif action == "huge_number":
            features[name] = draw(st.sampled_from([1e308, -1e308, 10**30, -1, 2**63]))
        elif action == "wrong_envelope":
            body[draw(st.sampled_from(["applicant_id", "exposure", "features"]))] = draw(json_values)
        else:
            body.pop(draw(st.sampled_from(["features", "applicant_id"])), None)
    return json.dumps(body).encode()


raw_bodies = st.one_of(
    mutated_bodies(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b"NaN", b'{"features": NaN}', b'{"features": {"age": Infinity}}',
                     b"\xff\xfe", b"[]", b"null", b"x" * 5000]),
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", None])
methods = st.sampled_from(["POST", "POST", "POST", "PUT", "PATCH", "DELETE"])


def test_two_thousand_malformed_requests_never_get_a_5xx(app):
    seen = {"requests": 0, "rejected": 0}

    @settings(max_examples=2500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(body=raw_bodies, content_type=content_types, method=methods)
    def fuzz(body, content_type, method):
        headers = {"Content-Type": content_type} if content_type else {}
        resp = app.request(method, "/", content=body, headers=headers)
        seen["requests"] += 1
        assert resp.status_code < 500, (body[:200], resp.text)
        assert mimetype(resp) == "application/json"
        payload = resp.json()
        if resp.status_code == 200:
            ScoreResponse.model_validate(payload)
        else:
            seen["rejected"] += 1
            ErrorResponse.model_validate(payload)
            assert resp.status_code in (400, 405, 413, 415)

    fuzz()
    assert seen["rejected"] >= 2000, seen
