"""Reasons: the risk-raising features ranked (`top_reasons`), their texts (`reason_list`) and
the applicant's explanation, as `score` builds them."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.contract.schema import FeatureSpec
from riskscore.model.reasons import MAX_REASONS, explanation, reason_list, top_reasons


def adverse(values: dict, contributions, limit: int = MAX_REASONS) -> list[dict]:
    """One row's reasons as `score` answers them (contributions rounded to 4 places)."""
    index, value = top_reasons([contributions], limit)
    return reason_list(FEATURES, values, index[0], np.round(value[0], 4))


FEATURES = [FeatureSpec(name="utilization", type="numeric", description="share of credit limits in use"),
            FeatureSpec(name="age", type="numeric", description="age in years"),
            FeatureSpec(name="housing", type="categorical", nullable=True, description="housing status"),
            FeatureSpec(name="late", type="numeric", description="number of late payments"),
            FeatureSpec(name="income", type="numeric", nullable=True, description="monthly income"),
            FeatureSpec(name="lines", type="numeric")]


@pytest.mark.parametrize("contributions, expected", [
    ([0.5, -0.2, 0.1, 0.9, 0.3, 0.05], ["late", "utilization", "income", "housing"]),
    ([-0.5, -0.2, -0.1, -0.9, -0.3, -0.05], []),
    ([0.0, 0.2, 0.0, 0.0, 0.0, 0.0], ["age"]),
])
def test_adverse_reasons_rank_the_risk_raising_features(contributions, expected):
    values = {"utilization": 0.98, "age": 22, "housing": None, "late": 4, "income": 1500.5, "lines": 3}
    reasons = adverse(values, contributions)
    assert [r["feature"] for r in reasons] == expected
    assert len(reasons) <= MAX_REASONS
    assert all(r["contribution"] > 0 for r in reasons)


def test_reason_texts_use_the_description_and_the_value():
    values = {"utilization": 0.98, "age": 22, "housing": None, "late": 4, "income": 1500.5, "lines": 3}
    reasons = {r["feature"]: r["text"] for r in adverse(values, [1, 1, 1, 1, 1, 1], limit=6)}
    assert reasons["late"].startswith("Number of late payments: 4")
    assert "0.98" in reasons["utilization"]
    assert "not provided" in reasons["housing"]
    assert "1,500.50" in reasons["income"]
    assert reasons["lines"].startswith("Lines: 3")  # no description: the name stands in


def test_explanation_names_the_rating_and_the_reasons():
    reasons = adverse({"late": 4, "age": 22}, [0, 0.2, 0, 0.9, 0, 0])
    text = explanation("Poor", 0.42, reasons, FEATURES)
    assert "rated Poor" in text and "42.0%" in text
    assert text.index("number of late payments") < text.index("age in years")
    assert "None of the information" in explanation("Excellent", 0.01, [], FEATURES)


def test_served_reasons_are_the_largest_contributions_of_the_pd_graph(trained_store, small_data, small_spec):
    from riskscore.model.feeds import dict_feeds
    from riskscore.model.sessions import Model
    from riskscore.settings import ScoreSettings
    from riskscore.contract.bundle import load

    b = load(trained_store.store, small_spec.name)
    model = Model(b.manifest, b.files, ScoreSettings.from_env({}))
    rows = small_data[[f.name for f in small_spec.features]].head(50)
    dicts = [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in rows.to_dict("records")]
    contributions = model.run_feeds(dict_feeds(dicts, model.features, model.known))["contributions"]
    for row, contrib, result in zip(dicts, contributions, model.score_rows(dicts)):
        top = [small_spec.features[i].name for i in np.argsort(-contrib) if contrib[i] > 0][:MAX_REASONS]
        assert [r["feature"] for r in result["reasons"]] == top

