"""Request models built from a manifest's feature schema."""

from __future__ import annotations

import pytest

from riskscore.errors import InvalidRequest
from riskscore.contract.request import request_model, validate
from riskscore.contract.schema import FeatureSpec

FEATURES = [
    FeatureSpec(name="age", type="numeric", min=18, max=120),
    FeatureSpec(name="income", type="numeric", nullable=True, min=0),
    FeatureSpec(name="housing", type="categorical", categories=["own", "rent"], unknown="error"),
    FeatureSpec(name="purpose", type="categorical", categories=["car"], unknown="as_missing", nullable=True),
]
MODEL = request_model(FEATURES)


@pytest.mark.parametrize("features, field, problem", [
    ({"age": 30, "housing": "castle"}, "features.housing", "'own' or 'rent'"),   # policy `error`
    ({"age": 17, "housing": "own"}, "features.age", "greater than or equal to 18"),
    ({"age": 30, "housing": "own", "income": -1}, "features.income", "greater than or equal to 0"),
    ({"age": "30", "housing": "own"}, "features.age", "valid number"),
    ({"age": 30, "housing": 1}, "features.housing", "'own' or 'rent'"),
    ({"housing": "own"}, "features.age", "required field is missing"),
    ({"age": 30, "housing": "own", "colour": "red"}, "features.colour", "unknown field"),
])
def test_each_problem_names_its_field(features, field, problem):
    with pytest.raises(InvalidRequest) as info:
        validate(MODEL, {"features": features})
    details = {d["field"]: d["problem"] for d in info.value.details}
    assert field in details and problem in details[field], details
    assert info.value.status == 400


def test_unknown_category_under_as_missing_policy_is_accepted():
    req = validate(MODEL, {"features": {"age": 30, "housing": "own", "purpose": "yacht"}})
    assert req.features.purpose == "yacht"  # the scorer encodes it as missing


def test_nullable_features_default_to_missing():
    req = validate(MODEL, {"features": {"age": 30, "housing": "rent"}})
    assert req.features.income is None and req.features.purpose is None
    assert req.applicant_id is None and req.exposure is None


@pytest.mark.parametrize("body, field", [({"features": {"age": 30, "housing": "own"}, "exposure": -5}, "exposure"),
                                         ([], "body"), ("x", "body")])
def test_envelope_errors(body, field):
    with pytest.raises(InvalidRequest, match="invalid request") as info:
        validate(MODEL, body)
    assert field in {d["field"] for d in info.value.details}


CODED = [
    FeatureSpec(name="education", type="categorical", categories=["1", "2", "3"]),  # integer codes
    FeatureSpec(name="region", type="categorical", categories=["10", "20"], unknown="as_missing", nullable=True),
    FeatureSpec(name="grade", type="categorical", categories=["1", "2"], integer_codes=False),  # strings only
]
CODED_MODEL = request_model(CODED)


@pytest.mark.parametrize("sent, read", [
    ({"education": 2, "grade": "1"}, {"education": "2", "region": None}),
    ({"education": "3", "region": 30, "grade": "2"}, {"education": "3", "region": "30"}),  # unseen: as missing later
    ({"education": 1, "region": "10", "grade": "1"}, {"education": "1", "region": "10"}),
])
def test_integer_codes_are_accepted_as_integers_or_strings(sent, read):
    req = validate(CODED_MODEL, {"features": sent})
    assert {k: getattr(req.features, k) for k in read} == read


@pytest.mark.parametrize("sent, field, problem", [
    ({"education": 4, "grade": "1"}, "features.education", "'1', '2' or '3'"),
    ({"education": True, "grade": "1"}, "features.education", "'1', '2' or '3'"),
    ({"education": 2.0, "grade": "1"}, "features.education", "'1', '2' or '3'"),
    ({"education": 2, "grade": 1}, "features.grade", "'1' or '2'"),  # the spec said strings only
])
def test_integer_codes_outside_the_spec_are_refused(sent, field, problem):
    with pytest.raises(InvalidRequest) as info:
        validate(CODED_MODEL, {"features": sent})
    details = {d["field"]: d["problem"] for d in info.value.details}
    assert problem in details[field], details


def test_openapi_shows_integer_codes_as_strings_or_integers():
    from riskscore.serving.openapi import openapi_document

    schemas = openapi_document(CODED)["components"]["schemas"]
    props = schemas["Features"]["properties"]
    assert props["education"]["anyOf"] == [{"type": "string", "enum": ["1", "2", "3"]},
                                           {"type": "integer", "enum": [1, 2, 3]}]
    assert props["region"]["anyOf"][0]["anyOf"] == [{"type": "string", "maxLength": 200}, {"type": "integer"}]
    assert props["region"]["anyOf"][1] == {"type": "null"}
    assert props["grade"]["type"] == "string" and props["grade"]["enum"] == ["1", "2"]
