"""Stable boosting settings on small tables: a small grid, repeated stratified folds, and the
rounds chosen from the AUC curve averaged over every fold.

With a few hundred positives per fold, one fold's early stop is noise (rounds swinging from
21 to 510 between folds). Here every fold of every repeat is boosted in lockstep; every
`STEP` rounds each fold's held-out AUC is measured, and boosting stops only when the *mean*
over all folds has not improved for `patience` rounds. Each grid point's best round on that
mean curve is its figure; the best grid point wins, and the model is refitted on every row
with its settings and that round count. The grid is sized to the table (`boosting_grid`):
shallower trees when positives are few.

Works for XGBoost and LightGBM alike (`BACKENDS`), on the preprocessed matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

STEP = 10
MAX_ROUNDS = 1500
PATIENCE = 100


def repeated_folds(y, folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` x stratified `folds`-fold splits (the same for every candidate)."""
    y = np.asarray(y)
    return list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
                .split(np.zeros(len(y)), y))


LIGHT = {"min_child_weight": 1.0, "reg_lambda": 1.0}
MEDIUM = {"min_child_weight": 5.0, "reg_lambda": 5.0}


def boosting_grid(n_positives: int) -> list[dict]:
    """Three points sized to the table: two depths by the number of positives (shallower when
    they are few), light regularisation, and the deeper one with medium regularisation too.
    The learning rate follows the positives too; the rounds come from the curve. (On German credit folds, heavier
    settings, min_child_weight and L2 10, lost about 0.01 AUC at both depths.)"""
    low, high = (1, 2) if n_positives < 500 else (2, 3) if n_positives < 3000 else (3, 4)
    # slower learning where the positives are fewest (and the rounds cheapest)
    base = {"learning_rate": 0.05 if n_positives < 500 else 0.1, "subsample": 0.8, "colsample_bytree": 0.8}
    return [{**base, "max_depth": low, **LIGHT}, {**base, "max_depth": high, **LIGHT},
            {**base, "max_depth": high, **MEDIUM}]


@dataclass
class BoostingChoice:
    params: dict            # the winning grid point, with n_estimators = its rounds
    mean_auc: float         # its mean held-out AUC at those rounds, over every fold
    fold_aucs: list[float]  # per fold, in the order of `folds`
    grid: list[dict]        # every grid point: params, rounds, mean_auc
    fold_margins: list[np.ndarray]  # per fold: the held-out rows' log-odds at those rounds

    def record(self) -> dict:
        return {"grid": self.grid, "chosen": self.params, "mean_auc": self.mean_auc}


class _XGBoostFolds:
    def __init__(self, params: dict, matrix, y, folds, constraints, seed: int):
        p = {"objective": "binary:logistic", "tree_method": "hist", "eta": params["learning_rate"],
             "max_depth": params["max_depth"], "min_child_weight": params["min_child_weight"],
             "lambda": params["reg_lambda"], "subsample": params["subsample"],
             "colsample_bytree": params["colsample_bytree"], "max_bin": params.get("max_bin", 256),
             "monotone_constraints": str(tuple(constraints)), "nthread": 1, "seed": seed}
        self.train = [xgb.DMatrix(matrix[tr], label=y[tr]) for tr, _ in folds]
        self.test = [xgb.DMatrix(matrix[te]) for _, te in folds]
        self.y_test = [y[te] for _, te in folds]
        self.boosters = [xgb.Booster(p, [d]) for d in self.train]
        self.rounds = 0
        self.sums = [np.zeros(d.num_row()) for d in self.test]

    def boost(self, n: int) -> None:
        """n more rounds; the held-out margins gain only the new trees' leaves (each call adds
        the base margin once more: a shift shared by every row, which no AUC sees)."""
        for b, d, t, s in zip(self.boosters, self.train, self.test, self.sums):
            for i in range(self.rounds, self.rounds + n):
                b.update(d, i)
            s += b.predict(t, output_margin=True, iteration_range=(self.rounds, self.rounds + n))
        self.rounds += n

    def aucs(self) -> list[float]:
        return [roc_auc_score(y, m) for y, m in zip(self.y_test, self.sums)]

    def margins(self) -> list[np.ndarray]:
        """The held-out log-odds: the sums less the base margin counted once per extra call."""
        from training.onnx.graph import xgboost_base_score

        extra = self.rounds // STEP - 1
        out = []
        for b, s in zip(self.boosters, self.sums):
            base = xgboost_base_score(b)
            out.append(s - extra * np.log(base / (1 - base)))
        return out


class _LightGBMFolds:
    def __init__(self, params: dict, matrix, y, folds, constraints, seed: int):
        import lightgbm as lgb

        from training.models.pd.lgbm import lgb_params

        p = lgb_params(params, seed)
        p.update(monotone_constraints=list(constraints), num_threads=1)
        self.test = [matrix[te] for _, te in folds]
        self.y_test = [y[te] for _, te in folds]
        self.boosters = [lgb.Booster(p, lgb.Dataset(matrix[tr], y[tr])) for tr, _ in folds]
        self.rounds = 0
        self.sums = [np.zeros(len(m)) for m in self.test]

    def boost(self, n: int) -> None:
        # One thread everywhere: LightGBM's OpenMP pool costs ~20 ms a call on a busy host.
        for b, m, s in zip(self.boosters, self.test, self.sums):
            for _ in range(n):
                b.update()
            s += b.predict(m, raw_score=True, start_iteration=self.rounds, num_iteration=n, num_threads=1)
        self.rounds += n

    def aucs(self) -> list[float]:
        return [roc_auc_score(y, m) for y, m in zip(self.y_test, self.sums)]

    def margins(self) -> list[np.ndarray]:
        return [s.copy() for s in self.sums]


BACKENDS = {"xgboost": _XGBoostFolds, "lightgbm": _LightGBMFolds}


def curve(family: str, params: dict, matrix, y, folds, constraints, seed: int,
          max_rounds: int = MAX_ROUNDS, patience: int = PATIENCE) -> tuple[list[int], np.ndarray, list]:
    """(checkpoints, AUC [folds, checkpoints], each fold's held-out log-odds at the best
    checkpoint) boosting every fold in lockstep until the mean over folds has not improved
    for `patience` rounds."""
    y = np.asarray(y)
    run = BACKENDS[family](params, matrix, y, folds, constraints, seed)
    checkpoints, aucs, best, best_at = [], [], -np.inf, 0
    while (not checkpoints or checkpoints[-1] < max_rounds):
        run.boost(STEP)
        checkpoints.append(checkpoints[-1] + STEP if checkpoints else STEP)
        aucs.append(run.aucs())
        mean = float(np.mean(aucs[-1]))
        if mean > best:
            best, best_at, margins = mean, checkpoints[-1], run.margins()
        elif checkpoints[-1] - best_at >= patience:
            break
    return checkpoints, np.array(aucs).T, margins


def choose_boosting(family: str, matrix, y, folds, constraints, seed: int, grid: list[dict],
                    log=None) -> BoostingChoice:
    """The grid point and round count with the best AUC averaged over every fold."""
    best, rows = None, []
    for params in grid:
        checkpoints, aucs, margins = curve(family, params, matrix, y, folds, constraints, seed)
        means = aucs.mean(axis=0)
        i = int(np.argmax(means))
        rows.append({"params": params, "rounds": checkpoints[i], "mean_auc": float(means[i])})
        if log:
            log(f"    {family} grid {params}: {checkpoints[i]} rounds, mean AUC {means[i]:.4f}")
        if best is None or means[i] > best[0]:
            best = (float(means[i]), {**params, "n_estimators": checkpoints[i]}, aucs[:, i].tolist(), margins)
    return BoostingChoice(params=best[1], mean_auc=best[0], fold_aucs=best[2], grid=rows, fold_margins=best[3])
