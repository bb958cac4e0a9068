"""Probability-of-default model: XGBoost on the ONNX preprocessing, exported as one graph.

The exported graph takes the raw named columns and returns `pd` [N], `logit` [N] (raw
log-odds), `score` [N] (the spec's scaling) and `contributions` [N, F] (per-feature
path attributions in log-odds; `contribution_bias` + row sum = logit).
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import xgboost as xgb
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, ClassifierMixin

from riskscore.errors import ExportVerificationError
from riskscore.contract.schema import ScalingSpec

from training.onnx.graph import GraphParts, booster_trees, const, make_model, tree_ensemble_parts
from training.onnx.preprocess import RawPreprocessor
from training.onnx.run import run_onnx

PARITY_TOLERANCE = 1e-5
ADDITIVITY_TOLERANCE = 1e-4


class PDModel(ClassifierMixin, BaseEstimator):
    """fit(X, y, X_valid, y_valid) on raw columns; predict_proba via native XGBoost.

    With X_valid None no rounds are held back: all `n_estimators` rounds are kept (the
    small-data regime chooses that number by cross-validation, then refits).
    """

    family = "xgboost"
    native_name = "XGBoost"  # how export errors name the native model

    def __init__(self, features=(), params=None, seed: int = 0, log=None):
        self.features = features
        self.params = params
        self.seed = seed
        self.log = log

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame | None = None, y_valid=None):
        p = dict(self.params or {})
        early = p.pop("early_stopping_rounds", 50) if X_valid is not None else None
        self.preprocessor_ = RawPreprocessor(self.features).fit(X)
        constraints = monotone_constraints(self.features, self.preprocessor_.columns_)
        self.booster_model_ = xgb.XGBClassifier(
            objective="binary:logistic", tree_method="hist", eval_metric="logloss",
            early_stopping_rounds=early, monotone_constraints=constraints, n_jobs=2,
            random_state=self.seed,
            callbacks=[_Progress(self.log)] if self.log and X_valid is not None else None, **p)
        eval_set = [(self.preprocessor_.transform(X_valid), np.asarray(y_valid))] if X_valid is not None else None
        self.booster_model_.fit(self.preprocessor_.transform(X), np.asarray(y), eval_set=eval_set,
                                verbose=False)
        self.classes_ = np.array([0, 1])
        return self

    @property
    def best_iteration_(self) -> int:
        if self.booster_model_.early_stopping_rounds is None:  # refit: every round counts
            return int(self.booster_model_.n_estimators) - 1
        return int(self.booster_model_.best_iteration)

    def _booster(self):
        # The exported trees are exactly those up to the best iteration.
        return self.booster_model_.get_booster()[: self.best_iteration_ + 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.predict_native(X)["pd"]
        return np.column_stack([1 - p, p])

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """PD, log-odds and grouped path contributions from XGBoost itself."""
        dm = xgb.DMatrix(self.preprocessor_.transform(X))
        booster = self._booster()
        logit = booster.predict(dm, output_margin=True)
        contribs = booster.predict(dm, pred_contribs=True, approx_contribs=True)
        grouped = np.zeros((len(X), len(self.features)))
        for col, group in enumerate(self.preprocessor_.column_groups_):
            grouped[:, group] += contribs[:, col]
        return {"pd": 1 / (1 + np.exp(-logit.astype(np.float64))), "logit": logit, "contributions": grouped}

    def to_onnx(self, scaling: ScalingSpec) -> onnx.ModelProto:
        """The whole model as one ONNX graph; sets `contribution_bias_` (the base value)."""
        trees, base_margin, _ = booster_trees(self._booster())
        parts = self.preprocessor_.graph_parts()
        # One pass over the trees gives the contributions and the margin (its last column),
        # rather than a second, margin-only ensemble: half the tree work per row.
        n = len(self.features)
        both, bias = tree_ensemble_parts(trees, base_margin, "contributions_and_logit",
                                         column_groups=self.preprocessor_.column_groups_,
                                         n_groups=n, with_margin=True)
        split = GraphParts([helper.make_node("Split", ["contributions_and_logit", "pd_split"],
                                             ["contributions", "logit_2d"], axis=1)],
                           [const("pd_split", np.array([n, 1], dtype=np.int64))], [])
        parts = parts.extend(both).extend(split).extend(scoring_parts(scaling))
        parts.outputs += [helper.make_tensor_value_info("pd", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("logit", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("score", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("contributions", TensorProto.FLOAT,
                                                        [None, len(self.features)])]
        self.contribution_bias_ = float(bias)
        return make_model(self.features, parts, "probability of default")


def monotone_constraints(features, columns: list[tuple[str, str]]) -> tuple[int, ...]:
    """XGBoost's constraint per matrix column: the spec's direction on the value column of a
    numeric feature, never on its missing indicator or on one-hot columns."""
    monotone = {f.name: (1 if f.monotone == "increasing" else -1 if f.monotone == "decreasing" else 0)
                for f in features}
    return tuple(monotone[feat] if label == feat else 0 for feat, label in columns)


class _Progress(xgb.callback.TrainingCallback):
    """Reports boosting progress every 100 rounds on long fits."""

    def __init__(self, log, every: int = 100):
        self.log, self.every = log, every

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if (epoch + 1) % self.every == 0:
            loss = next(iter(next(iter(evals_log.values())).values()))[-1]
            self.log(f"    round {epoch + 1}: validation logloss {loss:.5f}")
        return False


def scoring_parts(scaling: ScalingSpec) -> GraphParts:
    """logit_2d [N, 1] -> pd, logit, score [N]."""
    nodes = [helper.make_node("Squeeze", ["logit_2d", "axis1"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["pd"])]
    inits = [const("axis1", np.array([1], dtype=np.int64))]
    if scaling.method == "linear":
        inits += [const("score_span", np.float32(scaling.linear_span)),
                  const("score_top", np.float32(scaling.linear_base + scaling.linear_span))]
        # base + (1 - pd) * span == (base + span) - pd * span
        nodes += [helper.make_node("Mul", ["pd", "score_span"], ["pd_points"]),
                  helper.make_node("Sub", ["score_top", "pd_points"], ["score"])]
    else:
        # ln(good/bad odds) = -logit, so score = offset - factor * logit.
        inits += [const("score_factor", np.float32(scaling.factor)),
                  const("score_offset", np.float32(scaling.offset))]
        nodes += [helper.make_node("Mul", ["logit", "score_factor"], ["logit_points"]),
                  helper.make_node("Sub", ["score_offset", "logit_points"], ["score"])]
    return GraphParts(nodes, inits, [])


def verify_export(model, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
    """Compare the ONNX graph with the native model (either PD family: `predict_native`,
    `features`, `native_name`, and `contribution_bias_` set by its `to_onnx`) on real rows;
    raise on any mismatch."""
    bias = model.contribution_bias_
    out = run_onnx(onnx_model, model.features, X)
    pd_onnx, logit_onnx, contrib_onnx = out["pd"], out["logit"], out["contributions"]
    native = model.predict_native(X)
    pd_diff = float(np.max(np.abs(pd_onnx - native["pd"])))
    contrib_diff = float(np.max(np.abs(contrib_onnx - native["contributions"])))
    additivity = float(np.max(np.abs(contrib_onnx.astype(np.float64).sum(axis=1) + bias - logit_onnx)))
    report = {"rows": int(len(X)), "pd_max_abs_diff": pd_diff,
              "logit_max_abs_diff": float(np.max(np.abs(logit_onnx - native["logit"]))),
              "contributions_max_abs_diff": contrib_diff, "additivity_max_abs_diff": additivity,
              "tolerance": PARITY_TOLERANCE, "additivity_tolerance": ADDITIVITY_TOLERANCE}
    if not pd_diff <= PARITY_TOLERANCE:
        raise ExportVerificationError(f"PD ONNX export differs from {model.native_name} by {pd_diff:.3g} "
                                      f"(tolerance {PARITY_TOLERANCE})")
    if not (additivity <= ADDITIVITY_TOLERANCE and contrib_diff <= ADDITIVITY_TOLERANCE):
        raise ExportVerificationError(
            f"reason-code contributions are not exact: additivity error {additivity:.3g}, difference from "
            f"{model.native_name} contributions {contrib_diff:.3g} (tolerance {ADDITIVITY_TOLERANCE})")
    return report
