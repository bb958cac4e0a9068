"""Loss given default: XGBoost with a logistic link on the defaulted rows, bounded in [0, 1].

A fractional-logit fit (`reg:logistic` on targets in [0, 1]). The trees are converted by
onnxmltools, the converter of record for XGBoost. onnxmltools 1.16 drops this objective's
sigmoid (onnxmltools issue 646) and adds base_score as XGBoost stores it, a probability,
where the margin needs its log-odds: the graph adds the difference and applies the link
itself, reading base_score from the booster's configuration, and the parity check proves the
result (tests/training/onnx/test_converters.py shows the converter's own output is wrong).
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import xgboost as xgb
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, RegressorMixin

from riskscore.errors import ExportVerificationError

from training.models.pd.booster import PARITY_TOLERANCE
from training.onnx.converters import xgboost_parts
from training.onnx.graph import GraphParts, const, make_model, xgboost_base_score
from training.onnx.preprocess import fitted_preprocessor
from training.onnx.run import run_onnx


class LGDModel(RegressorMixin, BaseEstimator):
    """fit(X, lgd, X_valid, lgd_valid) on defaulted rows, through `preprocessor` (kept as
    `preprocessor_`; fitted on X first when it is not yet, as the other models do)."""

    key = "lgd"

    def __init__(self, preprocessor=None, n_estimators: int = 400, learning_rate: float = 0.05,
                 max_depth: int = 3, early_stopping_rounds: int = 30, seed: int = 0):
        self.preprocessor = preprocessor
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame, y_valid):
        self.preprocessor_ = fitted_preprocessor(self.preprocessor, X)
        self.model_ = xgb.XGBRegressor(
            objective="reg:logistic", tree_method="hist", n_estimators=self.n_estimators,
            learning_rate=self.learning_rate, max_depth=self.max_depth, min_child_weight=5,
            subsample=0.8, early_stopping_rounds=self.early_stopping_rounds, n_jobs=2,
            random_state=self.seed)
        self.model_.fit(self.preprocessor_.transform(X), np.asarray(y, dtype=np.float64),
                        eval_set=[(self.preprocessor_.transform(X_valid), np.asarray(y_valid, dtype=np.float64))],
                        verbose=False)
        self.train_mean_ = float(np.mean(y))
        return self

    def fit_version(self, data) -> "LGDModel":
        """The export protocol's fit (training/models/protocol.py): the defaulted rows of the training and
        validation splits, target the spec's LGD column."""
        train, valid, lgd = data.defaulted["train"], data.defaulted["valid"], data.spec.lgd
        return self.fit(train, train[lgd], valid, valid[lgd])

    def _booster(self):
        return self.model_.get_booster()[: int(self.model_.best_iteration) + 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._booster().predict(xgb.DMatrix(self.preprocessor_.transform(X)))

    def to_onnx(self) -> onnx.ModelProto:
        booster = self._booster()
        objective = self.model_.get_params()["objective"]
        assert objective == "reg:logistic", objective
        base_score = xgboost_base_score(booster)
        parts = self.preprocessor_.graph_parts().extend(
            xgboost_parts(booster, len(self.preprocessor_.columns_), "lgd_", "lgd_converted"))
        # The link onnxmltools leaves out: margin = converted - base_score + logit(base_score).
        fix = np.float32(np.log(base_score / (1.0 - base_score)) - base_score)
        parts = parts.extend(GraphParts(
            [helper.make_node("Add", ["lgd_converted", "lgd_base_margin_fix"], ["lgd_logit"]),
             helper.make_node("Squeeze", ["lgd_logit", "lgd_axis1"], ["lgd_margin"]),
             helper.make_node("Sigmoid", ["lgd_margin"], ["lgd"])],
            [const("lgd_base_margin_fix", fix), const("lgd_axis1", np.array([1], dtype=np.int64))],
            [helper.make_tensor_value_info("lgd", TensorProto.FLOAT, [None])]))
        return make_model(self.preprocessor_.features, parts, "loss given default")

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        got = run_onnx(onnx_model, self.preprocessor_.features, X)["lgd"]
        diff = float(np.max(np.abs(got - self.predict(X))))
        if not diff <= PARITY_TOLERANCE or got.min() < 0 or got.max() > 1:
            raise ExportVerificationError(f"LGD ONNX export differs from XGBoost by {diff:.3g} "
                                          f"(tolerance {PARITY_TOLERANCE}) or leaves [0, 1]")
        return {"rows": int(len(X)), "lgd_max_abs_diff": diff, "tolerance": PARITY_TOLERANCE}

    def metrics(self, X: pd.DataFrame, y) -> dict:
        y = np.asarray(y, dtype=np.float64)
        pred = self.predict(X).astype(np.float64)
        base = np.full_like(y, self.train_mean_)
        return {"rows": int(len(y)), "mean_lgd": float(y.mean()), "mean_predicted": float(pred.mean()),
                "mae": float(np.mean(np.abs(pred - y))), "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
                "baseline_mae": float(np.mean(np.abs(base - y))),
                "baseline_rmse": float(np.sqrt(np.mean((base - y) ** 2))),
                "baseline": "mean LGD of the training defaults"}

    def evaluate(self, onnx_model: onnx.ModelProto, ev) -> None:
        """Metrics on the test defaults; the graph's LGD on every row, with PD and the exposure
        column (if the spec names one) the expected loss; the card's test arrays."""
        spec, df, defaults = ev.data.spec, ev.data.df, ev.data.defaulted["test"]
        ev.metrics["lgd"] = self.metrics(defaults, defaults[spec.lgd])
        ev.outputs[self.key] = run_onnx(onnx_model, self.preprocessor_.features, df)
        lgd_all = ev.outputs[self.key]["lgd"]
        if spec.exposure:
            el = ev.outputs["pd"]["pd"] * lgd_all * df[spec.exposure].to_numpy()
            ev.metrics["expected_loss"] = {"total": float(np.nansum(el)), "mean": float(np.nanmean(el)),
                                           "definition": "PD x LGD x exposure"}
        ev.card.update(lgd_actual=defaults[spec.lgd].to_numpy(),
                       lgd_pred=ev.rows(self.key, defaults)["lgd"])

    def manifest_entry(self) -> dict:
        return {"file": "lgd.onnx", "outputs": ["lgd"], "objective": "reg:logistic",
                "best_iteration": int(self.model_.best_iteration), "train_mean_lgd": self.train_mean_}
