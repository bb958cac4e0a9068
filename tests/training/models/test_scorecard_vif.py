"""The scorecard's optional `max_vif`: the weaker of a collinear pair is dropped, with why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore.contract.schema import FeatureSpec
from training.models.pd.scorecard import ScorecardModel
from training.data.spec import ScorecardSpec


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    n = 4_000
    util = rng.uniform(0, 1, n)
    noise = rng.normal(0, 1, n)
    df = pd.DataFrame({"utilisation": util,
                       "utilisation_copy": util + rng.normal(0, 0.02, n),  # the same signal, blurred
                       "other": noise})
    logit = -2 + 3 * util + 0.5 * noise
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, y


FEATURES = [FeatureSpec(name=n, type="numeric") for n in ("utilisation", "utilisation_copy", "other")]


def test_max_vif_drops_the_weaker_of_the_pair_with_the_reason(data):
    df, y = data
    params = ScorecardSpec(max_vif=5).model_dump()
    model = ScorecardModel(FEATURES, params, seed=1).fit(df, y)
    dropped = {name: why for name, why in model.excluded_.items() if why.startswith("VIF ")}
    assert len(dropped) == 1
    (name, why), = dropped.items()
    kept = ({"utilisation", "utilisation_copy"} - {name}).pop()
    assert model.iv_[kept] >= model.iv_[name]
    assert f"above max_vif 5: collinear with '{kept}'" in why
    assert model.coef_[[f.name for f in FEATURES].index(name)] == 0.0
    rows = {r["feature"]: r["excluded_because"] for r in model.iv_rows()}
    assert rows[name] == why and rows["other"] is None


def test_without_max_vif_nothing_is_dropped_for_collinearity(data):
    df, y = data
    model = ScorecardModel(FEATURES, ScorecardSpec().model_dump(), seed=1).fit(df, y)
    assert not any(why.startswith("VIF ") for why in model.excluded_.values())
