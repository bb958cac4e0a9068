"""Choosing and fitting the PD model: training regime, candidate families, champion.

Two regimes, decided by the rows available for fitting (train + validation; the test split
is never touched here):

- **large** (at least `pd_model.small_data_rows`): XGBoost early-stops on the validation
  slice and is not refitted; each candidate is fitted on train and judged by its AUC on the
  validation slice (thousands of rows: a precise holdout).
- **small**: the validation slice is too precious to hold back. Train and validation are
  pooled; stratified `cv_folds`-fold cross-validation on the pool chooses XGBoost's number of
  rounds (the round with the best mean out-of-fold AUC) and scores every candidate on the
  same folds; the chosen candidate is then refitted on the whole pool. Boosting defaults are
  shallower and more regularised.

`family: auto` trains both families and keeps the better selection AUC; the scorecard wins
whenever XGBoost is not ahead by more than `tie_tolerance` (the simpler, fully tabulated
model). In the small regime both are scored on the same folds, and XGBoost must also be ahead
by more than one standard error of the per-fold AUC differences (the one-standard-error rule):
on a few hundred rows per fold, a gap smaller than that is noise, and XGBoost's figure is the
optimistic one (its rounds were chosen on those folds).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from training.models.pd.booster import PDModel, monotone_constraints
from training.models.pd.scorecard import ScorecardModel

# Boosting defaults per regime; a value set in the spec always wins.
REGIME_PARAMS = {
    # today's defaults: deep enough for 100k+ rows, early stopping on the validation slice
    "large": dict(n_estimators=600, learning_rate=0.05, max_depth=4, min_child_weight=5.0, subsample=0.8,
                  colsample_bytree=0.8, reg_lambda=1.0, max_bin=256, early_stopping_rounds=50),
    # small tables: stumps and pairs, heavier L2 and leaf weights, slower learning; the
    # cross-validated round count stops it
    "small": dict(n_estimators=1500, learning_rate=0.03, max_depth=2, min_child_weight=10.0, subsample=0.8,
                  colsample_bytree=0.5, reg_lambda=10.0, max_bin=64, early_stopping_rounds=100),
}
BOOSTING_KEYS = tuple(REGIME_PARAMS["large"]) + ("scale_pos_weight",)


@dataclass
class Candidate:
    family: str
    params: dict
    selection_auc: float
    metric: str
    auc_std: float | None = None     # across folds (small regime)
    n_estimators: int | None = None  # XGBoost: rounds kept
    fold_aucs: list[float] | None = None  # per fold (small regime; the same folds for every family)

    def record(self, chosen: bool) -> dict:
        return {"family": self.family, "selection_auc": self.selection_auc, "metric": self.metric,
                "auc_std": self.auc_std, "fold_aucs": self.fold_aucs, "n_estimators": self.n_estimators,
                "chosen": chosen, "params": self.params}


@dataclass
class PDFit:
    model: object                 # PDModel or ScorecardModel, fitted
    regime: dict                  # name, reason, rows, folds
    candidates: list[dict]        # every candidate's figures, the chosen one flagged
    selection: str                # why the champion won
    tuning: dict | None = None    # `--tune`: sampler, trials, best (None when not tuned)


# `--tune`: Optuna search spaces, per family (log-uniform where the scale matters, not the step).
def _xgboost_space(trial) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 50.0, log=True)}


def _scorecard_space(trial) -> dict:
    return {"C": trial.suggest_float("C", 0.01, 10.0, log=True),
            "min_bin_size": trial.suggest_float("min_bin_size", 0.02, 0.15),
            "min_iv": trial.suggest_float("min_iv", 0.0, 0.05),
            "max_n_prebins": trial.suggest_int("max_n_prebins", 5, 30)}


SEARCH_SPACES = {"xgboost": _xgboost_space, "scorecard": _scorecard_space}


def choose_regime(spec, n_fit_rows: int) -> dict:
    small = n_fit_rows < spec.pd_model.small_data_rows
    name = "small" if small else "large"
    reason = (f"{n_fit_rows:,} train+validation rows < small_data_rows {spec.pd_model.small_data_rows:,}: "
              f"{spec.pd_model.cv_folds}-fold cross-validation on the pooled train and validation rows "
              "chooses the boosting rounds and the champion, then the champion is refitted on them all"
              if small else
              f"{n_fit_rows:,} train+validation rows >= small_data_rows {spec.pd_model.small_data_rows:,}: "
              "fit on train, early stopping and champion choice on the validation slice")
    return {"name": name, "reason": reason, "rows": int(n_fit_rows),
            "folds": spec.pd_model.cv_folds if small else None}


def boosting_params(spec, regime: str, overrides: dict | None = None) -> dict:
    """The regime's boosting defaults, then the spec's explicit values, then `overrides`."""
    set_in_spec = {k: v for k, v in spec.pd_model.model_dump().items() if k in BOOSTING_KEYS and v is not None}
    return {**REGIME_PARAMS[regime], **set_in_spec, **(overrides or {})}


def scorecard_params(spec, overrides: dict | None = None) -> dict:
    return {**spec.pd_model.scorecard.model_dump(), **(overrides or {})}


def folds(spec, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    kf = StratifiedKFold(spec.pd_model.cv_folds, shuffle=True, random_state=spec.split.seed)
    return list(kf.split(np.zeros(len(y)), y))


# --- candidates ---------------------------------------------------------------------------

def xgboost_candidate(spec, pool: pd.DataFrame, y_pool, train, y_train, valid, y_valid, regime: str,
                      overrides: dict | None = None, log=None) -> tuple[Candidate, object]:
    """(figures, fitted model). Small regime: cross-validated rounds, refit on the pool."""
    params = boosting_params(spec, regime, overrides)
    if regime == "large":
        model = PDModel(spec.features, params, seed=spec.split.seed, log=log).fit(train, y_train, valid, y_valid)
        auc = float(roc_auc_score(y_valid, model.predict_native(valid)["pd"]))
        return Candidate("xgboost", params, auc, "validation AUC",
                         n_estimators=model.best_iteration_ + 1), model
    rounds, fold_aucs = cv_rounds(spec, pool, y_pool, params)
    final = {**params, "n_estimators": rounds}
    final.pop("early_stopping_rounds")
    model = PDModel(spec.features, final, seed=spec.split.seed).fit(pool, y_pool)
    return Candidate("xgboost", params, float(np.mean(fold_aucs)),
                     f"{spec.pd_model.cv_folds}-fold CV AUC (mean of folds)", float(np.std(fold_aucs)),
                     n_estimators=rounds, fold_aucs=fold_aucs), model


class _KeepFolds(xgb.callback.TrainingCallback):
    """Keeps xgb.cv's fold boosters, to score each fold at the chosen round."""

    def after_training(self, model):
        self.folds = model.cvfolds
        return model


def cv_rounds(spec, pool: pd.DataFrame, y_pool, params: dict) -> tuple[int, list[float]]:
    """XGBoost's cross-validated early stopping on the pool: (rounds, each fold's AUC at that
    round, in the order of `folds`)."""
    from training.onnx.preprocess import RawPreprocessor

    y_pool = np.asarray(y_pool)
    # Medians and categories from the pool: the folds' models see the same columns.
    pre = RawPreprocessor(spec.features).fit(pool)
    p = dict(params)
    early, n_rounds = p.pop("early_stopping_rounds"), p.pop("n_estimators")
    booster_params = {"objective": "binary:logistic", "tree_method": "hist", "eval_metric": "auc",
                      "eta": p.pop("learning_rate"), "lambda": p.pop("reg_lambda"), "nthread": 2,
                      "seed": spec.split.seed,
                      "monotone_constraints": str(monotone_constraints(spec.features, pre.columns_)), **p}
    dtrain = xgb.DMatrix(pre.transform(pool), label=y_pool)
    kept = _KeepFolds()
    history = xgb.cv(booster_params, dtrain, num_boost_round=n_rounds, folds=folds(spec, y_pool),
                     early_stopping_rounds=early, maximize=True, seed=spec.split.seed, callbacks=[kept])
    rounds = int(history["test-auc-mean"].to_numpy().argmax()) + 1
    fold_aucs = [float(roc_auc_score(f.dtest.get_label(), f.bst.predict(f.dtest, iteration_range=(0, rounds))))
                 for f in kept.folds]
    return rounds, fold_aucs


def scorecard_candidate(spec, pool: pd.DataFrame, y_pool, train, y_train, valid, y_valid, regime: str,
                        overrides: dict | None = None) -> tuple[Candidate, object]:
    params = scorecard_params(spec, overrides)
    if regime == "large":
        model = ScorecardModel(spec.features, params, seed=spec.split.seed).fit(train, y_train)
        auc = float(roc_auc_score(y_valid, model.predict_native(valid)["pd"]))
        return Candidate("scorecard", params, auc, "validation AUC"), model
    y_pool = np.asarray(y_pool)
    fold_aucs = []
    for tr, te in folds(spec, y_pool):
        m = ScorecardModel(spec.features, params, seed=spec.split.seed).fit(pool.iloc[tr], y_pool[tr])
        fold_aucs.append(float(roc_auc_score(y_pool[te], m.predict_native(pool.iloc[te])["pd"])))
    model = ScorecardModel(spec.features, params, seed=spec.split.seed).fit(pool, y_pool)
    return Candidate("scorecard", params, float(np.mean(fold_aucs)),
                     f"{spec.pd_model.cv_folds}-fold CV AUC (mean of folds)", float(np.std(fold_aucs)),
                     fold_aucs=fold_aucs), model


CANDIDATES = {"xgboost": xgboost_candidate, "scorecard": scorecard_candidate}


def fit_pd(spec, train: pd.DataFrame, y_train, valid: pd.DataFrame, y_valid, log=print,
           overrides: dict | None = None, tune_trials: int = 0) -> PDFit:
    """Fit the spec's PD family (or both, for `auto`) under the regime the row count calls
    for, and return the champion with every candidate's figures. `overrides` ({family:
    params}) replace spec values. With `tune_trials` > 0, that many seeded Optuna trials then
    search the champion family's parameters on the same selection metric (same folds or
    validation slice); the best trial replaces the champion if it beats it."""
    pool = pd.concat([train, valid])
    y_pool = np.concatenate([np.asarray(y_train), np.asarray(y_valid)])
    regime = choose_regime(spec, len(pool))
    log(f"    PD regime: {regime['name']} ({regime['reason']})")
    families = ["xgboost", "scorecard"] if spec.pd_model.family == "auto" else [spec.pd_model.family]
    fitted = {}
    fit_candidate = {**CANDIDATES, "xgboost": partial(xgboost_candidate, log=log)}  # only boosting reports progress
    for fam in families:
        cand, model = fit_candidate[fam](spec, pool, y_pool, train, y_train, valid, y_valid, regime["name"],
                                         (overrides or {}).get(fam))
        log(f"    {fam}: {cand.metric} {cand.selection_auc:.4f}")
        fitted[fam] = (cand, model)
    if len(families) == 1:
        champion = families[0]
        selection = f"family {champion} fixed by the spec"
    else:
        xgb_cand, sc_cand = fitted["xgboost"][0], fitted["scorecard"][0]
        diffs = (np.subtract(xgb_cand.fold_aucs, sc_cand.fold_aucs)
                 if xgb_cand.fold_aucs and sc_cand.fold_aucs else None)
        champion, selection = choose_champion(xgb_cand.selection_auc, sc_cand.selection_auc,
                                              spec.pd_model.tie_tolerance, diffs)
    log(f"    PD champion: {champion} ({selection})")
    records = {fam: c.record(fam == champion) for fam, (c, _) in fitted.items()}
    model, tuning = fitted[champion][1], None
    if tune_trials > 0:
        run = (spec, pool, y_pool, train, y_train, valid, y_valid, regime["name"])
        best, tuning = tune(champion, run, fitted[champion][0], tune_trials, spec.split.seed,
                            (overrides or {}).get(champion), log)
        if best is not None:
            cand, model = best
            records[champion] = dict(cand.record(True), tuned=True)
    return PDFit(model=model, regime=regime, candidates=list(records.values()), selection=selection, tuning=tuning)


def choose_champion(xgb_auc: float, scorecard_auc: float, tolerance: float,
                    fold_diffs=None) -> tuple[str, str]:
    """(family, why): XGBoost only if it beats the scorecard by more than `tolerance` and, given
    the per-fold AUC differences (XGBoost minus scorecard, same folds), by more than their
    standard error too (the one-standard-error rule: the simpler model unless the gap is real)."""
    margin, what = tolerance, f"tie tolerance {tolerance}"
    if fold_diffs is not None and len(fold_diffs) > 1:
        se = float(np.std(fold_diffs, ddof=1) / np.sqrt(len(fold_diffs)))
        if se > tolerance:
            margin, what = se, f"one standard error {se:.4f} of the {len(fold_diffs)} per-fold differences"
    if xgb_auc > scorecard_auc + margin:
        return "xgboost", f"xgboost {xgb_auc:.4f} > scorecard {scorecard_auc:.4f} + {what}"
    if scorecard_auc >= xgb_auc:
        return "scorecard", f"scorecard {scorecard_auc:.4f} >= xgboost {xgb_auc:.4f}"
    return "scorecard", (f"scorecard {scorecard_auc:.4f} within {what} of xgboost "
                         f"{xgb_auc:.4f}: the simpler model wins ties")


def tune(family: str, run: tuple, untuned: Candidate, n_trials: int, seed: int, base: dict | None, log):
    """Seeded TPE search over `family`'s parameters, each trial scored like the candidates.
    Returns ((candidate, model) of the best trial, or None if none beat `untuned`; the record)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: dict = {"auc": untuned.selection_auc, "fit": None}

    def objective(trial) -> float:
        cand, model = CANDIDATES[family](*run, {**(base or {}), **SEARCH_SPACES[family](trial)})
        if cand.selection_auc > best["auc"]:
            best.update(auc=cand.selection_auc, fit=(cand, model))
        log(f"    tune {family} trial {trial.number}: {cand.metric} {cand.selection_auc:.4f}")
        return cand.selection_auc

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    record = {"family": family, "sampler": f"TPESampler(seed={seed})", "n_trials": n_trials,
              "metric": untuned.metric, "untuned_auc": untuned.selection_auc,
              "best_auc": best["auc"], "improved": best["fit"] is not None,
              "trials": [{"number": t.number, "params": t.params, "auc": t.value} for t in study.trials]}
    return best["fit"], record
