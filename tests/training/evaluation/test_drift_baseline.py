import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.contract.schema import FeatureSpec
from training.evaluation.drift_baseline import (
    OTHER,
    bin_counts,
    category_proportions,
    drift_baseline,
    missing_rate,
    psi,
    quantile_edges,
)
from training.data.spec import load_spec
from training.data.synthetic import generate

SPEC = Path(__file__).resolve().parents[3] / "training" / "specs" / "credit_default.yaml"


@pytest.fixture(scope="module")
def features() -> list[FeatureSpec]:
    return load_spec(SPEC).features


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return generate(40_000, seed=5)


@pytest.fixture(scope="module")
def baseline(train, features) -> dict:
    pd_out = train["true_pd"].to_numpy()
    return drift_baseline(train, features, extra_numeric={"pd": pd_out, "score": 300 + 600 * (1 - pd_out)})


def _current(entry: dict, values) -> np.ndarray:
    if entry["type"] == "numeric":
        return bin_counts(values, entry["edges"])
    return category_proportions(values, entry["categories"])


def test_json_safe_and_complete(baseline, features):
    json.dumps(baseline, allow_nan=False)
    assert set(baseline["features"]) == {f.name for f in features}
    assert set(baseline["outputs"]) == {"pd", "score"}
    assert baseline["rows"] == 40_000 and baseline["bins"] == 10


def test_numeric_entries(baseline, train, features):
    for f in features:
        if f.type != "numeric":
            continue
        entry = baseline["features"][f.name]
        edges = np.array(entry["edges"])
        assert len(edges) >= 1 and len(edges) <= 9
        assert np.all(np.diff(edges) > 0), f.name
        assert np.all(np.isfinite(edges))
        assert len(entry["proportions"]) == len(edges) + 1
        assert sum(entry["proportions"]) == pytest.approx(1.0, abs=1e-12)
        col = train[f.name]
        assert entry["missing_rate"] == pytest.approx(col.isna().mean())
        assert entry["count"] == int(col.notna().sum()) and entry["rows"] == len(train)
        assert entry["mean"] == pytest.approx(col.mean())
        assert entry["std"] == pytest.approx(col.std())
        assert entry["min"] == col.min() and entry["max"] == col.max()
    assert baseline["features"]["monthly_income"]["missing_rate"] == pytest.approx(0.2, abs=0.01)


def test_continuous_feature_gets_deciles(baseline):
    entry = baseline["features"]["debt_ratio"]
    assert len(entry["edges"]) == 9
    np.testing.assert_allclose(entry["proportions"], 0.1, atol=0.002)


def test_categorical_entries(baseline, train, features):
    for f in features:
        if f.type != "categorical":
            continue
        entry = baseline["features"][f.name]
        assert entry["categories"][-1] == OTHER and entry["proportions"][-1] == 0.0
        assert sum(entry["proportions"]) == pytest.approx(1.0, abs=1e-12)
        col = train[f.name]
        assert entry["missing_rate"] == pytest.approx(col.isna().mean())
        freq = col.value_counts(normalize=True)
        for cat, p in zip(entry["categories"][:-1], entry["proportions"][:-1]):
            assert p == pytest.approx(freq[cat])
    assert baseline["features"]["employment_type"]["missing_rate"] > 0


def test_outputs_are_profiled_like_numeric(baseline, train):
    entry = baseline["outputs"]["pd"]
    assert entry["type"] == "numeric" and len(entry["edges"]) == 9
    assert entry["mean"] == pytest.approx(train["true_pd"].mean())
    assert sum(entry["proportions"]) == pytest.approx(1.0)


def test_psi_of_baseline_against_itself_is_zero(baseline, train):
    for name, entry in baseline["features"].items():
        assert psi(entry["proportions"], _current(entry, train[name])) < 1e-9, name
    for name, col in (("pd", train["true_pd"]),):
        entry = baseline["outputs"][name]
        assert psi(entry["proportions"], _current(entry, col.to_numpy())) < 1e-9


def test_shifted_income_is_significant(baseline, train):
    entry = baseline["features"]["monthly_income"]
    value = psi(entry["proportions"], bin_counts(train["monthly_income"] * 1.5, entry["edges"]))
    assert value > 0.25


def test_same_distribution_sample_is_stable(baseline):
    other = generate(20_000, seed=99)
    for name, entry in baseline["features"].items():
        value = psi(entry["proportions"], _current(entry, other[name]))
        assert value < 0.1, (name, value)


def test_resampled_rows_are_stable(baseline, train):
    sample = train.sample(n=10_000, replace=True, random_state=1)
    for name, entry in baseline["features"].items():
        assert psi(entry["proportions"], _current(entry, sample[name])) < 0.1, name


@pytest.mark.parametrize("expected, actual, value", [
    ([0.5, 0.5], [0.5, 0.5], 0.0),
    ([0.5, 0.5], [0.6, 0.4], 0.1 * math.log(0.6 / 0.5) - 0.1 * math.log(0.4 / 0.5)),
    ([0.25, 0.25, 0.5], [0.2, 0.3, 0.5], -0.05 * math.log(0.8) + 0.05 * math.log(1.2)),
    ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1],
     0.3 * math.log(4) + 0.1 * math.log(1.5) - 0.1 * math.log(2 / 3) - 0.3 * math.log(0.25)),
    ([0.9, 0.1], [0.5, 0.5], -0.4 * math.log(5 / 9) + 0.4 * math.log(5)),
])
def test_psi_matches_hand_computed(expected, actual, value):
    assert psi(expected, actual) == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert psi(actual, expected) == pytest.approx(value, rel=1e-12, abs=1e-15)  # symmetric


def test_psi_hand_values_numerically():
    # 0.1 ln 1.2 + 0.1 ln 1.25 = 0.0405465 ...
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.040546510810816, abs=1e-12)


def test_empty_bins_are_smoothed():
    value = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(value)
    eps = 1e-4
    hand = (-0.1 * math.log(0.8)) * 2 + (0.2 - eps) * math.log(0.2 / eps)
    assert value == pytest.approx(hand, rel=1e-12)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0  # empty in both: no contribution
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


def test_psi_rejects_bad_input():
    with pytest.raises(ValueError, match="equally long"):
        psi([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="sum"):
        psi([10, 20], [15, 15])  # counts, not proportions
    with pytest.raises(ValueError, match="non-negative"):
        psi([1.2, -0.2], [0.5, 0.5])


def test_heavily_repeated_values_dedupe_edges():
    counts = np.r_[np.zeros(800), np.ones(100), np.full(60, 2.0), np.full(40, 3.0)]  # 80% zeros
    edges = quantile_edges(counts, 10)
    assert edges == [0.0, 1.0]
    np.testing.assert_allclose(bin_counts(counts, edges), [0.0, 0.8, 0.2])
    # 95% zeros: the deciles all collapse on 0; the next value still gets its own edge
    rare = np.r_[np.zeros(950), np.ones(30), np.full(20, 5.0)]
    assert quantile_edges(rare, 10) == [0.0, 1.0]
    df = pd.DataFrame({"n": rare})
    entry = drift_baseline(df, [FeatureSpec(name="n", type="numeric")])["features"]["n"]
    assert entry["edges"] == [0.0, 1.0]
    np.testing.assert_allclose(entry["proportions"], [0.0, 0.95, 0.05])
    # a constant column: one edge, everything in the last bin
    assert quantile_edges(np.full(100, 7.0)) == [7.0]


def test_bin_convention_left_closed():
    edges = [1.0, 2.0]
    np.testing.assert_allclose(bin_counts([0.5, 1.0, 1.5, 2.0, 9.0, np.nan, None], edges), [0.2, 0.4, 0.4])
    np.testing.assert_allclose(bin_counts([-np.inf, np.inf], edges), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(bin_counts([np.nan, np.nan], edges), [0.0, 0.0, 0.0])


def test_category_proportions_other_and_missing():
    cats = ["a", "b", OTHER]
    np.testing.assert_allclose(category_proportions(["a", "a", "b", "zz", None, np.nan], cats), [0.5, 0.25, 0.25])
    strs = pd.Series(["a", None, "b"], dtype="str")
    np.testing.assert_allclose(category_proportions(strs, cats), [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="zz"):
        category_proportions(["a", "zz"], ["a", "b"])
    assert missing_rate(["a", None, np.nan, "b"]) == 0.5
    assert missing_rate(np.array([1.0, np.nan])) == 0.5


def test_unseen_category_drifts(baseline):
    entry = baseline["features"]["housing"]
    current = ["own"] * 50 + ["houseboat"] * 50
    value = psi(entry["proportions"], category_proportions(current, entry["categories"]))
    assert value > 0.25


def test_declared_categories_come_first():
    df = pd.DataFrame({"c": pd.Series(["x", "y", None, "x"], dtype="str")})
    spec = FeatureSpec(name="c", type="categorical", nullable=True, categories=["y", "x", "z"])
    entry = drift_baseline(df, [spec])["features"]["c"]
    assert entry["categories"] == ["y", "x", "z", OTHER]
    assert entry["proportions"] == pytest.approx([1 / 3, 2 / 3, 0.0, 0.0])
    assert entry["missing_rate"] == 0.25


def test_all_missing_and_errors():
    df = pd.DataFrame({"v": [np.nan, np.nan], "c": pd.Series([None, None], dtype="str"), "s": ["a", "b"]})
    out = drift_baseline(df, [FeatureSpec(name="v", type="numeric"), FeatureSpec(name="c", type="categorical")])
    json.dumps(out, allow_nan=False)
    assert out["features"]["v"]["proportions"] is None and out["features"]["v"]["missing_rate"] == 1.0
    assert out["features"]["c"]["proportions"] is None and out["features"]["c"]["missing_rate"] == 1.0
    with pytest.raises(ValueError, match="missing from the data"):
        drift_baseline(df, [FeatureSpec(name="nope", type="numeric")])
    with pytest.raises(ValueError, match="'s' is numeric"):
        drift_baseline(df, [FeatureSpec(name="s", type="numeric")])
    with pytest.raises(ValueError, match="infinite"):
        drift_baseline(pd.DataFrame({"v": [1.0, np.inf]}), [FeatureSpec(name="v", type="numeric")])


def test_shared_section_imports_without_pandas():
    code = ("import sys, training.evaluation.drift_baseline as d; "
            "d.psi([0.5, 0.5], list(d.bin_counts([1.0, 2.0], [1.5]))); "
            "d.category_proportions(['a'], ['a', '__other__']); "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
