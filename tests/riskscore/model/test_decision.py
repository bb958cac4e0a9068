"""The one scoring core: the rating rule (`ScalingSpec.rating_index`, used by `DecisionCore`)
and the decision columns."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.contract.schema import ScalingSpec
from riskscore.model.decision import DecisionCore

SCALING = ScalingSpec(bands=[{"name": "E"}, {"name": "C", "min_score": 500}, {"name": "A", "min_score": 700}])
MANIFEST = {"version": "v1", "features": [{"name": "x", "type": "numeric"}],
            "scaling": SCALING.model_dump(mode="json"),
            "models": {"segment": {"profiles": [{"id": 0, "name": "young"}, {"id": 1, "name": "settled"}]}}}


@pytest.mark.parametrize("score, rating", [(300.0, "E"), (499.9, "E"), (500.0, "C"), (699.94, "C"), (700.0, "A"),
                                           (950.0, "A")])
def test_one_rating_rule_for_one_score_and_for_a_column(score, rating):
    assert SCALING.rating(score) == rating
    names = [b.name for b in SCALING.bands]
    assert names[int(SCALING.rating_index(np.array([score]))[0])] == rating


def test_decide_rates_the_score_as_shown_and_names_segments():
    core = DecisionCore(MANIFEST)
    out = {"pd": np.array([0.1, 0.5], dtype=np.float32), "score": np.array([699.96, 420.0], dtype=np.float32),
           "contributions": np.array([[0.3], [-0.1]], dtype=np.float32), "segment": np.array([1, 7])}
    d = core.decide(out)
    assert d["score"].tolist() == pytest.approx([700.0, 420.0])
    assert d["rating"].tolist() == ["A", "E"]  # 699.96 is shown as 700.0: rated A
    assert d["segment_name"].tolist() == ["settled", "7"]
    assert d["reason_index"][0, 0] == 0 and d["reason_index"][1, 0] == -1
