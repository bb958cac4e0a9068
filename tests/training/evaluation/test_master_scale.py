"""The PD master scale: monotone PD ranges and default rates, no crowded grade, top grades below
the base rate, roughly geometric steps; its bands drive serving's one rating rule."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.contract.schema import DEFAULT_BANDS, ScalingSpec
from training.evaluation.master_scale import MasterScaleSpec, band_table, master_scale, score_at_pd

# Beta-distributed PDs: a low-default book (base rate ~6 %, the demo's) and a riskier one.
PORTFOLIOS = [(0.6, 10.0), (2.0, 30.0), (0.3, 3.0)]
SCALINGS = [ScalingSpec(), ScalingSpec(method="pdo")]


def _book(a: float, b: float, n: int = 60_000, seed: int = 3):
    rng = np.random.default_rng(seed)
    pd_ = rng.beta(a, b, n)
    return pd_, (rng.random(n) < pd_).astype(int)


@pytest.mark.parametrize("scaling", SCALINGS, ids=["linear", "pdo"])
@pytest.mark.parametrize("a,b", PORTFOLIOS)
def test_master_scale_discriminates(a, b, scaling):
    pd_, y = _book(a, b)
    scale = scaling.model_copy(update={"bands": master_scale(pd_, y, scaling)})
    test_pd, test_y = _book(a, b, seed=4)  # fresh rows from the same book, as the test split is
    table = band_table(scale, test_pd, score_at_pd(scale, test_pd), test_y)

    assert len(table) >= 5
    assert max(r["share"] for r in table) <= 0.4
    observed = [r["observed_default_rate"] for r in table]       # worst band first
    assert observed == sorted(observed, reverse=True), observed
    predicted = [r["predicted_default_rate"] for r in table]
    assert predicted == sorted(predicted, reverse=True)
    assert [r["pd_max"] for r in table[1:]] == [r["pd_min"] for r in table[:-1]]   # PD ranges tile
    base = test_y.mean()
    assert table[-1]["pd_max"] < base and table[-2]["pd_max"] < base
    # Roughly geometric: every inner grade spans at least 1.3x, at most 10x, in PD (a merged grade
    # of two steps is wider).
    inner = [r["pd_max"] / r["pd_min"] for r in table[1:-1]]
    assert all(1.3 <= ratio <= 10 for ratio in inner), inner


def test_the_old_absolute_cutoffs_crowd_one_band():
    """What the master scale replaces: on a low-default book most rows were 'Excellent'."""
    pd_, y = _book(0.6, 10.0)
    old = ScalingSpec()
    assert old.bands == DEFAULT_BANDS
    shares = [r["share"] for r in band_table(old, pd_, score_at_pd(old, pd_), y)]
    assert max(shares) > 0.9


def test_serving_rates_with_the_master_scale_bands():
    pd_, y = _book(0.6, 10.0)
    bands = master_scale(pd_, y, ScalingSpec())
    scale = ScalingSpec.model_validate({"bands": [b.model_dump() for b in bands]})  # as the manifest holds it
    best, worst = scale.bands[-1].name, scale.bands[0].name
    assert scale.rating(float(score_at_pd(scale, 0.0005))) == best
    assert scale.rating(float(score_at_pd(scale, 0.5))) == worst


@pytest.mark.parametrize("max_share", [0.2, 0.3])
def test_max_share_is_a_setting(max_share):
    pd_, y = _book(2.0, 30.0)
    scale = ScalingSpec(bands=master_scale(pd_, y, ScalingSpec(), MasterScaleSpec(max_share=max_share)))
    assert max(r["share"] for r in band_table(scale, pd_, score_at_pd(scale, pd_), y)) <= max_share
