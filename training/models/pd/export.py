"""The PD model in the export protocol: whichever family `fit_pd` chooses, one graph and entry."""

from __future__ import annotations

import onnx
import pandas as pd

from training.models.pd.family import PDFit, fit_pd
from training.models.pd.booster import verify_export
from training.onnx.preprocess import RawPreprocessor
from training.data.spec import ModelSpec

FILE = "pd.onnx"
OUTPUTS = ["pd", "logit", "score", "contributions"]


class PDExport:
    """fit_version runs the family and regime selection (`fit_pd`); `fit_` holds its result and
    `model_` the champion (PDModel or ScorecardModel); `bias_` is set by to_onnx and
    `preprocessor_` by shared_preprocessor."""

    key = "pd"

    def __init__(self, spec: ModelSpec, log=print, overrides: dict | None = None, tune_trials: int = 0):
        self.spec = spec
        self.log = log
        self.overrides = overrides
        self.tune_trials = tune_trials

    def fit_version(self, data) -> "PDExport":
        parts, target = data.parts, self.spec.target
        self.fit_: PDFit = fit_pd(self.spec, parts["train"], parts["train"][target].to_numpy(), parts["valid"],
                                  parts["valid"][target].to_numpy(), log=self.log, overrides=self.overrides,
                                  tune_trials=self.tune_trials)
        self.model_ = self.fit_.model
        return self

    def shared_preprocessor(self, data) -> RawPreprocessor:
        """The raw-column preprocessing the other models share (kept as `preprocessor_`), fitted
        on the rows PD was fitted on: XGBoost's own; the scorecard bins raw values, so one is
        fitted for the others."""
        if self.model_.family == "xgboost":
            self.preprocessor_ = self.model_.preprocessor_
        else:
            rows = (data.parts["train"] if self.fit_.regime["name"] == "large"
                    else pd.concat([data.parts["train"], data.parts["valid"]]))
            self.preprocessor_ = RawPreprocessor(self.spec.features).fit(rows)
        return self.preprocessor_

    def to_onnx(self) -> onnx.ModelProto:
        onnx_model, self.bias_ = self.model_.to_onnx(self.spec.scaling)
        return onnx_model

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        return verify_export(self.model_, onnx_model, self.bias_, X)

    def manifest_entry(self) -> dict:
        fit = self.fit_
        return {"file": FILE, "outputs": list(OUTPUTS), "family": self.model_.family, "regime": fit.regime,
                "candidates": fit.candidates, "selection": fit.selection, "contribution_bias": self.bias_,
                "tuning": ({k: v for k, v in fit.tuning.items() if k != "trials"} if fit.tuning else None),
                **_family_entry(self.model_, self.spec)}


def _family_entry(model, spec: ModelSpec) -> dict:
    """What the manifest says about the fitted PD model beyond its family and candidates."""
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
