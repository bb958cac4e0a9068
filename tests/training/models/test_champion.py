"""Champion by evidence: DeLong on a large validation window, one standard error on folds; the
simpler family wins unless the better one's lead is real."""

from __future__ import annotations

import numpy as np
import pytest

from training.models.pd.champion import choose_large, choose_small


def _scores(n: int, noise: dict[str, float], seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    signal = y + rng.normal(size=n)
    return y, {f: signal + rng.normal(scale=s, size=n) for f, s in noise.items()}


@pytest.mark.parametrize("rows, champion", [(40_000, "xgboost"), (400, "logistic")])
def test_large_same_gap_significant_only_with_many_rows(rows, champion):
    # the logistic model is a little noisier: a real but small gap
    y, pd_ = _scores(rows, {"logistic": 0.45, "xgboost": 0.35})
    from sklearn.metrics import roc_auc_score
    aucs = {f: roc_auc_score(y, p) for f, p in pd_.items()}
    assert aucs["xgboost"] > aucs["logistic"]
    got, why, comparisons = choose_large(aucs, y, pd_)
    assert got == champion, why
    assert comparisons[0]["family"] == "logistic" and ("DeLong" in why) == (champion == "logistic")


def test_large_best_when_simplest():
    y, pd_ = _scores(2000, {"logistic": 0.1, "xgboost": 1.0})
    from sklearn.metrics import roc_auc_score
    got, why, comparisons = choose_large({f: roc_auc_score(y, p) for f, p in pd_.items()}, y, pd_)
    assert got == "logistic" and comparisons == [] and "simplest family" in why


@pytest.mark.parametrize("xgb_folds, champion", [
    ([0.80, 0.81, 0.79, 0.80, 0.80], "xgboost"),    # ahead by 0.02 on every fold: real
    ([0.80, 0.74, 0.86, 0.73, 0.87], "scorecard"),  # ahead on average, all over the place: noise
    ([0.782, 0.782, 0.782, 0.782, 0.782], "scorecard"),  # steady but within the tie tolerance
])
def test_small_one_standard_error(xgb_folds, champion):
    sc = [0.78] * 5
    aucs = {"scorecard": float(np.mean(sc)), "xgboost": float(np.mean(xgb_folds))}
    got, why, comparisons = choose_small(aucs, {"scorecard": sc, "xgboost": xgb_folds}, 5, tolerance=0.003)
    assert got == champion, why
    assert comparisons[0]["shortfall_is_real"] == (champion == "xgboost")


def test_small_walks_simplest_first():
    """Logistic within noise of the best: it wins, even though the scorecard is within too."""
    folds = {"logistic": [0.77, 0.79, 0.79, 0.79, 0.80], "scorecard": [0.79, 0.79, 0.79, 0.79, 0.79],
             "lightgbm": [0.80, 0.78, 0.81, 0.78, 0.80]}
    aucs = {f: float(np.mean(v)) for f, v in folds.items()}
    got, _, comparisons = choose_small(aucs, folds, 5, tolerance=0.002)
    assert got == "logistic" and [c["family"] for c in comparisons] == ["logistic"]
