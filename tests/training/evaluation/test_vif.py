"""Variance inflation factors and the scorecard's collinearity pruning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluation.vif import collinear_drops, numeric_vifs, vifs


@pytest.fixture(scope="module")
def columns():
    rng = np.random.default_rng(3)
    a = rng.normal(size=2_000)
    return {"a": a, "b": 0.9 * a + 0.3 * rng.normal(size=2_000), "c": rng.normal(size=2_000)}


def test_vifs_match_statsmodels_regressions(columns):
    import statsmodels.api as sm
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    X = np.column_stack(list(columns.values()))
    design = sm.add_constant(X)
    expected = [variance_inflation_factor(design, i) for i in range(1, 4)]
    np.testing.assert_allclose(vifs(X), expected, rtol=1e-8)


def test_exact_combinations_and_constants(columns):
    a, b, c = columns.values()
    v = vifs(np.column_stack([a, b, a + b, c, np.ones_like(a)]))
    assert np.isinf(v[:3]).all() and v[3] == pytest.approx(1.0, abs=0.01) and np.isnan(v[4])


def test_numeric_vifs_fill_missing_and_sort(columns):
    df = pd.DataFrame(columns)
    df.loc[::10, "c"] = np.nan
    rows = numeric_vifs(df, ["c", "a", "b"])
    assert [r["feature"] for r in rows][:2] == ["a", "b"] or [r["feature"] for r in rows][:2] == ["b", "a"]
    assert rows[-1]["feature"] == "c" and rows[-1]["vif"] < 1.1 and rows[0]["vif"] > 5


@pytest.mark.parametrize("strength, dropped", [({"a": 0.3, "b": 0.1, "c": 0.2}, "b"),
                                               ({"a": 0.1, "b": 0.3, "c": 0.2}, "a")])
def test_the_weaker_of_a_collinear_pair_is_dropped_with_why(columns, strength, dropped):
    X = np.column_stack(list(columns.values()))
    out = collinear_drops(X, list(columns), strength, max_vif=5)
    assert list(out) == [dropped]
    kept = ({"a", "b"} - {dropped}).pop()
    assert f"max_vif 5: collinear with '{kept}'" in out[dropped] and "IV" in out[dropped]
    assert collinear_drops(X, list(columns), strength, max_vif=50) == {}
