"""`score`'s response body for one row (riskscore.model.sessions.Model.result): exposure is
echoed whatever models the version has; unseen categories come back as warnings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from riskscore.contract.schema import FeatureSpec
from riskscore.model.decision import DecisionCore
from riskscore.model.feeds import known_categories
from riskscore.model.sessions import Model

FEATURES = [{"name": "age", "type": "numeric"},
            {"name": "housing", "type": "categorical", "nullable": True, "categories": ["own", "rent"]}]
MANIFEST = {"version": "v1", "features": FEATURES, "scaling": {}, "models": {}}


def _result(spec: dict, row: dict, exposure: float):
    core = DecisionCore({**MANIFEST, "spec": spec})
    d = core.decide({"pd": np.array([0.1]), "score": np.array([600.0]), "contributions": np.zeros((1, 2))},
                    np.array([exposure]))
    features = [FeatureSpec.model_validate(f) for f in FEATURES]
    # A stand-in for Model with the attributes `result` reads (no derived features here).
    model = SimpleNamespace(features=features, known=known_categories(features),
                            reason_features=features, derived=frozenset())
    return Model.result(model, d, 0, row)


@pytest.mark.parametrize("spec, keys", [
    ({}, {"exposure"}),
    ({"lgd_default": 0.45}, {"exposure", "lgd", "lgd_source", "expected_loss"}),
], ids=["no LGD", "declared LGD"])
def test_exposure_is_echoed_without_an_lgd_model(spec, keys):
    result = _result(spec, {"age": 40, "housing": "own"}, 15000.0)
    assert keys <= set(result) and result["exposure"] == 15000.0
    if "lgd" in keys:
        assert result["lgd_source"] == "default" and result["expected_loss"] == pytest.approx(675.0)
    assert result["warnings"] == []


def test_an_unseen_category_comes_back_as_a_warning():
    result = _result({}, {"age": 40, "housing": "boat"}, 1.0)
    assert result["warnings"] == [{"field": "features.housing",
                                   "problem": "category not seen in training: scored as missing"}]
