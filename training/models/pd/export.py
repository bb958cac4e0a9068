"""The PD model in the export protocol: whichever family `fit_pd` chooses, one graph and entry."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd

from training.data.spec import ModelSpec
from training.evaluation.metrics import pd_metrics
from training.models.pd.booster import verify_export
from training.models.pd.family import PDFit, fit_pd
from training.models.protocol import Evaluation
from training.onnx.preprocess import RawPreprocessor
from training.onnx.run import run_onnx

FILE = "pd.onnx"
OUTPUTS = ["pd", "logit", "score", "contributions"]


class PDExport:
    """fit_version runs the family and regime selection (`fit_pd`); `fit_` holds its result and
    `model_` the champion (PDModel or ScorecardModel, whose `contribution_bias_` its to_onnx
    sets); `preprocessor_` is set by shared_preprocessor."""

    key = "pd"

    def __init__(self, spec: ModelSpec, log=print, overrides: dict | None = None, tune_trials: int = 0):
        self.spec = spec
        self.log = log
        self.overrides = overrides
        self.tune_trials = tune_trials

    def fit_version(self, data) -> "PDExport":
        """Small tables (fewer than `small_data_rows` rows, unless the spec keeps a test split
        there): every row is fitted, and the metrics come from out-of-fold predictions."""
        parts, target = data.parts, self.spec.target
        self.all_rows_ = all_rows(self.spec, len(data.df))
        train, valid = (data.df, data.df.iloc[:0]) if self.all_rows_ else (parts["train"], parts["valid"])
        self.fit_: PDFit = fit_pd(self.spec, train, train[target].to_numpy(), valid, valid[target].to_numpy(),
                                  log=self.log, overrides=self.overrides, tune_trials=self.tune_trials)
        self.model_ = self.fit_.model
        return self

    def shared_preprocessor(self, data) -> RawPreprocessor:
        """The raw-column preprocessing the other models share (kept as `preprocessor_`), fitted
        on the rows PD was fitted on: the champion's own where it has one; the scorecard bins
        raw values, so one is fitted for the others."""
        if hasattr(self.model_, "preprocessor_"):
            self.preprocessor_ = self.model_.preprocessor_
        else:
            rows = (data.df if self.all_rows_ else data.parts["train"] if self.fit_.regime["name"] == "large"
                    else pd.concat([data.parts["train"], data.parts["valid"]]))
            self.preprocessor_ = RawPreprocessor(self.spec.features).fit(rows)
        return self.preprocessor_

    def to_onnx(self) -> onnx.ModelProto:
        return self.model_.to_onnx(self.spec.scaling)

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        return verify_export(self.model_, onnx_model, X)

    def manifest_entry(self) -> dict:
        fit = self.fit_
        return {"file": FILE, "outputs": list(OUTPUTS), "family": self.model_.family, "regime": fit.regime,
                "candidates": fit.candidates, "selection": fit.selection, "comparisons": fit.comparisons,
                "metrics_source": ("out-of-fold predictions of the champion's cross-validation (every row fitted, "
                                   "no test split)" if self.all_rows_ else "the held-out test split"),
                "contribution_bias": self.model_.contribution_bias_,
                "tuning": ({k: v for k, v in fit.tuning.items() if k != "trials"} if fit.tuning else None),
                **_family_entry(self.model_, self.spec)}


    def evaluate(self, onnx_model: onnx.ModelProto, ev: Evaluation) -> None:
        """Test metrics from the graph (every row scored once, the splits sliced from it); the
        validation figures from the native model's PDs kept by `fit_pd` in the large regime, else
        the champion's cross-validated AUC (the validation rows are in the refit); the card's test arrays."""
        spec, parts = self.spec, ev.data.parts
        ev.outputs[self.key] = run_onnx(onnx_model, spec.features, ev.data.df)
        test = ev.rows(self.key, "test")
        y_test = parts["test"][spec.target].to_numpy()
        pd_test, score_test = test["pd"].astype(np.float64), test["score"]
        if self.all_rows_:  # no row was held out: the honest figures are out of fold
            y_test, pd_test = self.fit_.oof["y"], self.fit_.oof["pd"]
            score_test = scaled_score(spec.scaling, pd_test)
        ev.metrics["test"] = {**pd_metrics(y_test, pd_test), "out_of_fold": self.all_rows_}
        if self.fit_.regime["name"] == "large":  # the PDs the champion was chosen on
            ev.metrics["valid"] = pd_metrics(parts["valid"][spec.target].to_numpy(), self.fit_.valid_pd)
        else:
            champion = next(c for c in self.fit_.candidates if c["chosen"])
            ev.metrics["cv"] = {"auc": champion["selection_auc"], "auc_std": champion["auc_std"],
                                "folds": self.fit_.regime["folds"], "rows": self.fit_.regime["rows"]}
        ev.card.update(y_test=y_test, pd_test=pd_test, score_test=score_test,
                       importance=dict(zip([f.name for f in spec.features],
                                           np.abs(test["contributions"]).mean(axis=0).tolist())))


def all_rows(spec: ModelSpec, rows: int) -> bool:
    """Whether PD is fitted on every row (a small table without `split.test_when_small`)."""
    return rows < spec.pd_model.small_data_rows and not spec.split.test_when_small


def scaled_score(scaling, pd_: np.ndarray) -> np.ndarray:
    """The spec's score of each PD, as the graph computes it (`booster.scoring_parts`)."""
    p = np.clip(np.asarray(pd_, dtype=np.float64), 1e-15, 1 - 1e-15)
    if scaling.method == "linear":
        return (scaling.linear_base + scaling.linear_span) - p * scaling.linear_span
    return scaling.offset - scaling.factor * np.log(p / (1 - p))


def _family_entry(model, spec: ModelSpec) -> dict:
    """What the manifest says about the fitted PD model beyond its family and candidates."""
    if model.family in ("logistic", "lightgbm", "blend"):
        return model.manifest_entry()
    if model.family == "xgboost":
        return {"contributions": "per-feature path attributions (Saabas) of the exported trees in log-odds, "
                                 "exact for the exported model: contribution_bias + sum = logit and "
                                 "pd = sigmoid(logit); no calibration step follows the trees, so a positive "
                                 "contribution always raises the PD",
                "matrix_columns": [label for _, label in model.preprocessor_.columns_],
                "best_iteration": model.best_iteration_, "params": model.params}
    return {"contributions": "scorecard points in log-odds: coefficient x weight of evidence of the "
                             "applicant's bin for each feature; contribution_bias (the intercept) + sum = "
                             "logit exactly, and a feature without points contributes 0",
            "params": model.params, "binning_rows": model.n_binning_rows_,
            "information_value": model.iv_rows(), "points": model.points_rows(spec.scaling)}
