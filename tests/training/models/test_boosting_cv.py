"""Stable boosting settings: the grid follows the table's positives, and the chosen rounds come
from the AUC curve averaged over every fold of every repeat (one fold cannot decide)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.models.pd.boosting_cv import boosting_grid, choose_boosting, curve, repeated_folds


@pytest.mark.parametrize("positives, depths", [(200, {1, 2}), (1000, {2, 3}), (20_000, {3, 4})])
def test_grid_is_sized_to_the_positives(positives, depths):
    assert {g["max_depth"] for g in boosting_grid(positives)} == depths


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=1.5, size=600) > 1.2).astype(int)
    return x, y, repeated_folds(y, 5, 2, seed=0)


def test_repeated_folds_are_stratified_and_cover_every_row_per_repeat(table):
    _, y, folds = table
    assert len(folds) == 10
    for r in range(2):
        held = np.concatenate([te for _, te in folds[5 * r:5 * r + 5]])
        assert sorted(held) == list(range(len(y)))
    assert all(abs(y[te].mean() - y.mean()) < 0.02 for _, te in folds)


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_rounds_come_from_the_mean_curve(table, family):
    x, y, folds = table
    grid = boosting_grid(int(y.sum()))
    choice = choose_boosting(family, x, y, folds, (0, 0, 0, 0), seed=0, grid=grid)
    checkpoints, aucs, _ = curve(family, {k: v for k, v in choice.params.items() if k != "n_estimators"},
                              x, y, folds, (0, 0, 0, 0), seed=0)
    means = aucs.mean(axis=0)
    assert choice.params["n_estimators"] == checkpoints[int(np.argmax(means))]
    assert choice.mean_auc == pytest.approx(means.max()) == pytest.approx(np.mean(choice.fold_aucs))
    # one fold's own best round differs from the averaged choice somewhere: that is the point
    assert len({checkpoints[int(np.argmax(a))] for a in aucs}) > 1
    assert len(choice.grid) == len(grid) and choice.mean_auc == max(g["mean_auc"] for g in choice.grid)
    assert choice.mean_auc > 0.6


def test_fold_auc_is_the_held_out_auc(table):
    """The curve's figure for a fold is that fold's held-out AUC of a model trained on the rest."""
    import xgboost as xgb

    x, y, folds = table
    params = boosting_grid(int(y.sum()))[0]
    checkpoints, aucs, margins = curve("xgboost", params, x, y, folds[:1], (0, 0, 0, 0), seed=0, max_rounds=30)
    tr, te = folds[0]
    xgb_params = {"objective": "binary:logistic", "tree_method": "hist", "eta": params["learning_rate"],
                         "max_depth": params["max_depth"], "min_child_weight": params["min_child_weight"],
                         "lambda": params["reg_lambda"], "subsample": 0.8, "colsample_bytree": 0.8,
                         "max_bin": 256, "monotone_constraints": "(0, 0, 0, 0)", "nthread": 1, "seed": 0}
    booster = xgb.train(xgb_params, xgb.DMatrix(x[tr], label=y[tr]), num_boost_round=30)
    assert aucs[0, -1] == pytest.approx(roc_auc_score(y[te], booster.predict(xgb.DMatrix(x[te]))))
    # the kept log-odds are those of the best checkpoint's model
    best = xgb.train(xgb_params, xgb.DMatrix(x[tr], label=y[tr]), num_boost_round=checkpoints[int(np.argmax(aucs[0]))])
    np.testing.assert_allclose(margins[0], best.predict(xgb.DMatrix(x[te]), output_margin=True), atol=1e-5)
