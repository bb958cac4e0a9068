"""Choosing and fitting the PD model: training regime, candidate families, champion.

Candidate families (`family: auto` tries `pd_model.candidates`, by default all five; the
spec may fix one): `logistic` (regularised logistic regression on imputed, one-hot,
standardised columns), `scorecard` (optimal binning, WoE, logistic regression), `xgboost`
and `lightgbm` (gradient boosting with monotone constraints), and `blend` (the mean log-odds
of the logistic and the better boosted candidate, scored from their own out-of-fold or
validation predictions). Each exports one graph with the same outputs (`pd`, `logit`,
`score`, `contributions`).

Two regimes, decided by the rows available for fitting:

- **large** (at least `pd_model.small_data_rows` train + validation rows): each candidate is
  fitted on train (boosting early-stops on the validation slice) and judged by its AUC on the
  validation slice; the champion is chosen by DeLong's paired test on those rows
  (`champion.choose_large`): the simpler family wins unless the better one's lead is
  significant.
- **small**: every row counts. Settings are searched on repeated stratified folds
  (`cv_repeats` x `cv_folds`) of the pooled rows: boosting's depth, regularisation and rounds
  from a small grid sized to the table and the AUC curve averaged over every fold
  (`boosting_cv`), never one fold's early stop; the logistic regression's C likewise. Every
  candidate is then compared on the first repeat's folds (the same for all), the champion
  follows the one-standard-error rule (`champion.choose_small`) and is refitted on every
  pooled row; its out-of-fold predictions on those folds are the version's reported metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.models.pd.booster import PDModel, monotone_constraints
from training.models.pd.boosting_cv import boosting_grid, choose_boosting, repeated_folds
from training.models.pd.blend import BlendModel, blend_pd
from training.models.pd.champion import SIMPLICITY, choose_large, choose_small
from training.models.pd.lgbm import LightGBMModel
from training.models.pd.logistic import C_GRID, LogisticModel, cv_choose_c
from training.models.pd.scorecard import ScorecardModel

MODELS = {"logistic": LogisticModel, "scorecard": ScorecardModel, "xgboost": PDModel, "lightgbm": LightGBMModel}
BOOSTED = ("xgboost", "lightgbm")

# Boosting defaults per regime; a value set in the spec always wins. The small regime's
# depth, regularisation and rounds come from the grid (boosting_cv.boosting_grid).
REGIME_PARAMS = {
    # deep enough for 100k+ rows, early stopping on the validation slice
    "large": dict(n_estimators=600, learning_rate=0.05, max_depth=4, min_child_weight=5.0, subsample=0.8,
                  colsample_bytree=0.8, reg_lambda=1.0, max_bin=256, early_stopping_rounds=50),
    "small": dict(max_bin=64),
}
# LightGBM in the large regime: its defaults (31 leaves), slower learning, early stopping.
LIGHTGBM_LARGE = dict(n_estimators=1000, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                      early_stopping_rounds=50)
BOOSTING_KEYS = ("n_estimators", "learning_rate", "max_depth", "min_child_weight", "subsample",
                 "colsample_bytree", "reg_lambda", "max_bin", "early_stopping_rounds", "scale_pos_weight")


@dataclass
class Candidate:
    family: str
    params: dict
    selection_auc: float
    metric: str
    auc_std: float | None = None          # across folds (small regime)
    n_estimators: int | None = None       # boosting: rounds kept
    fold_aucs: list[float] | None = None  # per fold (small regime; the same folds for every family)
    search: dict | None = None            # small regime: the settings searched on every repeat
    oof_pd: np.ndarray | None = field(default=None, repr=False)    # small: first repeat's out-of-fold PD
    valid_pd: np.ndarray | None = field(default=None, repr=False)  # large: PD on the validation slice

    def record(self, chosen: bool) -> dict:
        return {"family": self.family, "selection_auc": self.selection_auc, "metric": self.metric,
                "auc_std": self.auc_std, "fold_aucs": self.fold_aucs, "n_estimators": self.n_estimators,
                "search": self.search, "chosen": chosen, "params": self.params}


@dataclass
class PDFit:
    model: object                 # the champion, fitted (a MODELS class)
    regime: dict                  # name, reason, rows, folds, repeats
    candidates: list[dict]        # every candidate's figures, the chosen one flagged
    selection: str                # why the champion won
    comparisons: list[dict] = field(default_factory=list)  # the tests behind the choice
    tuning: dict | None = None    # `--tune`: sampler, trials, best (None when not tuned)
    oof: dict | None = None       # small regime: {"y", "pd"} of the champion out of fold (first repeat)
    valid_pd: np.ndarray | None = field(default=None, repr=False)  # large regime: the champion's PD on valid


# `--tune`: Optuna search spaces, per family (log-uniform where the scale matters, not the step).
def _boosting_space(trial) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "max_depth": trial.suggest_int("max_depth", 1, 6),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 50.0, log=True)}


def _scorecard_space(trial) -> dict:
    return {"C": trial.suggest_float("C", 0.01, 10.0, log=True),
            "min_bin_size": trial.suggest_float("min_bin_size", 0.02, 0.15),
            "min_iv": trial.suggest_float("min_iv", 0.0, 0.05),
            "max_n_prebins": trial.suggest_int("max_n_prebins", 5, 30)}


def _logistic_space(trial) -> dict:
    return {"C": trial.suggest_float("C", 0.001, 10.0, log=True)}


SEARCH_SPACES = {"xgboost": _boosting_space, "lightgbm": _boosting_space, "scorecard": _scorecard_space,
                 "logistic": _logistic_space}


def choose_regime(spec, n_fit_rows: int) -> dict:
    p = spec.pd_model
    small = n_fit_rows < p.small_data_rows
    reason = (f"{n_fit_rows:,} rows < small_data_rows {p.small_data_rows:,}: every candidate is scored on the "
              f"same {p.cv_repeats} x {p.cv_folds}-fold stratified cross-validation, the champion is refitted "
              "on all of them, and the reported metrics are out of fold"
              if small else
              f"{n_fit_rows:,} train+validation rows >= small_data_rows {p.small_data_rows:,}: fit on train, "
              "early stopping and champion choice (DeLong's paired test) on the validation slice")
    return {"name": "small" if small else "large", "reason": reason, "rows": int(n_fit_rows),
            "folds": p.cv_folds if small else None, "repeats": p.cv_repeats if small else None}


def family_params(spec, family: str, regime: str, overrides: dict | None = None) -> dict:
    """The family's parameters: defaults, then the spec's explicit values, then `overrides`."""
    p = spec.pd_model
    if family == "scorecard":
        return {**p.scorecard.model_dump(), **(overrides or {})}
    if family == "logistic":
        return {**({"C": p.logistic_C} if p.logistic_C else {}), **(overrides or {})}
    set_in_spec = {k: v for k, v in p.model_dump().items() if k in BOOSTING_KEYS and v is not None}
    base = LIGHTGBM_LARGE if family == "lightgbm" and regime == "large" else REGIME_PARAMS[regime]
    return {**base, **set_in_spec, **(overrides or {})}


def boosting_params(spec, regime: str, overrides: dict | None = None) -> dict:
    """XGBoost's parameters under `regime` (the bench and older callers)."""
    return family_params(spec, "xgboost", regime, overrides)


# --- candidates ---------------------------------------------------------------------------

def large_candidate(spec, family: str, train, y_train, valid, y_valid, overrides=None, log=None):
    """Fitted on train (boosting early-stops on valid), judged on the validation slice."""
    params = family_params(spec, family, "large", overrides)
    model = MODELS[family](spec.features, params, seed=spec.split.seed, log=log if family == "xgboost" else None)
    if family in BOOSTED:  # early stopping on the validation slice
        model.fit(train, y_train, valid, y_valid)
    else:
        model.fit(train, y_train)
    valid_pd = model.predict_native(valid)["pd"]
    return Candidate(family, params, float(roc_auc_score(y_valid, valid_pd)), "validation AUC",
                     n_estimators=model.best_iteration_ + 1 if family in BOOSTED else None,
                     valid_pd=valid_pd), model


def small_candidate(spec, family: str, pool, y_pool, folds, overrides=None, log=None):
    """Scored on the first repeat of `folds` (the comparison folds, the same for every family),
    refitted on the whole pool. Settings searched on every repeat: boosting's grid and rounds,
    the logistic regression's C (unless set)."""
    params = family_params(spec, family, "small", overrides)
    y_pool = np.asarray(y_pool)
    n_folds = spec.pd_model.cv_folds
    compare = folds[:n_folds]
    oof = np.full(len(pool), np.nan)
    metric = f"{n_folds}-fold CV AUC (mean of folds)"
    search = None
    if family in BOOSTED:
        from training.onnx.preprocess import RawPreprocessor

        # Medians and categories from the pool: the folds' models see the same columns.
        pre = RawPreprocessor(spec.features).fit(pool)
        constraints = monotone_constraints(spec.features, pre.columns_)
        fixed = {k: v for k, v in params.items()
                 if k in BOOSTING_KEYS and k not in ("n_estimators", "early_stopping_rounds")}
        grid = [{**g, **fixed} for g in boosting_grid(int(y_pool.sum()))]
        grid = [g for i, g in enumerate(grid) if g not in grid[:i]]
        choice = choose_boosting(family, pre.transform(pool), y_pool, folds, constraints, spec.split.seed, grid, log)
        for (_, te), margin in zip(compare, choice.fold_margins[:n_folds]):
            oof[te] = 1 / (1 + np.exp(-margin))
        params = {**params, **choice.params}
        params.pop("early_stopping_rounds", None)
        fold_aucs, search = choice.fold_aucs[:n_folds], choice.record()
    else:
        if family == "logistic" and "C" not in params:
            c, _, means = cv_choose_c(LogisticModel(spec.features), pool, y_pool, folds)
            params = {**params, "C": c}
            search = {"C_grid": list(C_GRID), "mean_auc": means, "chosen": c}
        fold_aucs = []
        for tr, te in compare:
            m = MODELS[family](spec.features, params, seed=spec.split.seed).fit(pool.iloc[tr], y_pool[tr])
            oof[te] = m.predict_native(pool.iloc[te])["pd"]
            fold_aucs.append(float(roc_auc_score(y_pool[te], oof[te])))
    model = MODELS[family](spec.features, params, seed=spec.split.seed).fit(pool, y_pool)
    return Candidate(family, params, float(np.mean(fold_aucs)), metric, float(np.std(fold_aucs)),
                     n_estimators=params.get("n_estimators") if family in BOOSTED else None,
                     fold_aucs=fold_aucs, search=search, oof_pd=oof), model


BLEND_MEMBERS = ("logistic", "xgboost", "lightgbm")


def blend_candidate(fitted: dict, y_pool, y_valid, compare_folds) -> tuple[Candidate, BlendModel]:
    """The mean log-odds of the logistic candidate and the better boosted one, scored from
    their own out-of-fold (small) or validation (large) predictions: no fitting of its own."""
    boosted = [f for f in BOOSTED if f in fitted]
    if "logistic" not in fitted or not boosted:
        raise ValueError("the blend needs the logistic family and a boosted family among the candidates")
    best = max(boosted, key=lambda f: fitted[f][0].selection_auc)
    (lc, lm), (bc, bm) = fitted["logistic"], fitted[best]
    model = BlendModel([lm, bm])
    params = {"members": ["logistic", best]}
    if compare_folds is None:
        valid_pd = blend_pd(lc.valid_pd, bc.valid_pd)
        return Candidate("blend", params, float(roc_auc_score(y_valid, valid_pd)), "validation AUC",
                         valid_pd=valid_pd), model
    oof = blend_pd(lc.oof_pd, bc.oof_pd)
    y_pool = np.asarray(y_pool)
    fold_aucs = [float(roc_auc_score(y_pool[te], oof[te])) for _, te in compare_folds]
    return Candidate("blend", params, float(np.mean(fold_aucs)), lc.metric, float(np.std(fold_aucs)),
                     fold_aucs=fold_aucs, oof_pd=oof), model


def fit_pd(spec, train: pd.DataFrame, y_train, valid: pd.DataFrame, y_valid, log=print,
           overrides: dict | None = None, tune_trials: int = 0) -> PDFit:
    """Fit the spec's PD family (or every candidate, for `auto`) under the regime the row count
    calls for, and return the champion with every candidate's figures. In the small regime
    `valid` may be empty: all rows are in `train`. `overrides` ({family: params}) replace spec
    values. With `tune_trials` > 0, that many seeded Optuna trials then search the champion
    family's parameters on the same selection metric; the best trial replaces the champion if
    it beats it."""
    pool = pd.concat([train, valid])
    y_pool = np.concatenate([np.asarray(y_train), np.asarray(y_valid)])
    regime = choose_regime(spec, len(pool))
    log(f"    PD regime: {regime['name']} ({regime['reason']})")
    p = spec.pd_model
    families = (sorted(p.candidates, key=SIMPLICITY.index) if p.family == "auto"
                else list(BLEND_MEMBERS) + ["blend"] if p.family == "blend" else [p.family])
    small = regime["name"] == "small"
    folds = repeated_folds(y_pool, p.cv_folds, p.cv_repeats, spec.split.seed) if small else None

    def run(fam: str, params: dict | None):
        if small:
            return small_candidate(spec, fam, pool, y_pool, folds, params, log=log)
        return large_candidate(spec, fam, train, y_train, valid, y_valid, params, log=log)

    fitted = {}
    for fam in families:
        if fam == "blend":
            continue
        cand, model = run(fam, (overrides or {}).get(fam))
        log(f"    {fam}: {cand.metric} {cand.selection_auc:.4f}")
        fitted[fam] = (cand, model)
    if "blend" in families:
        fitted["blend"] = blend_candidate(fitted, y_pool, y_valid, folds[:p.cv_folds] if small else None)
        log(f"    blend: {fitted['blend'][0].metric} {fitted['blend'][0].selection_auc:.4f}")
    aucs = {fam: c.selection_auc for fam, (c, _) in fitted.items()}
    if p.family not in ("auto",):
        champion, selection, comparisons = p.family, f"family {p.family} fixed by the spec", []
    elif small:
        champion, selection, comparisons = choose_small(
            aucs, {fam: c.fold_aucs for fam, (c, _) in fitted.items()}, p.cv_folds, p.tie_tolerance)
    else:
        champion, selection, comparisons = choose_large(aucs, np.asarray(y_valid),
                                                        {fam: c.valid_pd for fam, (c, _) in fitted.items()})
    log(f"    PD champion: {champion} ({selection})")
    records = {fam: c.record(fam == champion) for fam, (c, _) in fitted.items()}
    (cand, model), tuning = fitted[champion], None
    if tune_trials > 0 and champion == "blend":
        log("    --tune: the blend has no parameters of its own (tune its members' families instead)")
    elif tune_trials > 0:
        best, tuning = tune(champion, run, cand, tune_trials, spec.split.seed, (overrides or {}).get(champion), log)
        if best is not None:
            cand, model = best
            records[champion] = dict(cand.record(True), tuned=True)
    oof = {"y": y_pool, "pd": cand.oof_pd} if small else None
    return PDFit(model=model, regime=regime, candidates=list(records.values()), selection=selection,
                 comparisons=comparisons, tuning=tuning, oof=oof, valid_pd=None if small else cand.valid_pd)


def tune(family: str, run, untuned: Candidate, n_trials: int, seed: int, base: dict | None, log):
    """Seeded TPE search over `family`'s parameters, each trial scored like the candidates
    (`run(family, params)`). Returns ((candidate, model) of the best trial, or None if none
    beat `untuned`; the record)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: dict = {"auc": untuned.selection_auc, "fit": None}

    def objective(trial) -> float:
        cand, model = run(family, {**(base or {}), **SEARCH_SPACES[family](trial)})
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
