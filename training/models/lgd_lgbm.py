"""Loss given default with LightGBM: a fractional-logit fit (`cross_entropy` on targets in
[0, 1]) on the defaulted rows, converted by onnxmltools, LightGBM's converter of record.

onnxmltools 1.16 refuses the `cross_entropy` objective ("Unsupported LightGbm objective",
tests/test_converter_shortfalls.py). Its trees are plain regression trees whose summed leaves
are the log-odds, so the converter is given the same model relabelled `regression` (the
identity link: it emits the raw sum) and the graph applies the sigmoid itself; the parity
check proves the result against LightGBM's own prediction.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper

from training.onnx.converters import splice
from training.models.lgd import LGDModel
from training.onnx.graph import GraphParts, const, make_model
from training.onnx.preprocess import fitted_preprocessor

LIGHTGBM_TARGET_OPSET = 15


def lightgbm_regression_parts(booster: lgb.Booster, n_columns: int, prefix: str, output: str) -> GraphParts:
    """onnxmltools' conversion of a LightGBM booster's trees reading the matrix: `output` [N, 1]
    = the raw sum of the leaves (the objective relabelled `regression`, see above)."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    from training.onnx.graph import MATRIX

    objective = booster.dump_model(num_iteration=1)["objective"].split()[0]
    text = booster.model_to_string().replace(f"objective={objective}", "objective=regression").replace(
        f"[objective: {objective}]", "[objective: regression]")
    converted = convert_lightgbm(lgb.Booster(model_str=text),
                                 initial_types=[("input", FloatTensorType([None, n_columns]))],
                                 target_opset=LIGHTGBM_TARGET_OPSET)
    (out,) = [o.name for o in converted.graph.output]
    return splice(converted, prefix, {out: output}, MATRIX)


class LGDLightGBMModel(LGDModel):
    """LGDModel's protocol and metrics, with LightGBM trees: early stopping on the validation
    defaults, as the XGBoost LGD does."""

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame, y_valid):
        params = {"objective": "cross_entropy", "learning_rate": self.learning_rate,
                  "num_leaves": 2 ** self.max_depth, "max_depth": self.max_depth, "min_data_in_leaf": 5,
                  "bagging_fraction": 0.8, "bagging_freq": 1, "seed": self.seed, "deterministic": True,
                  "num_threads": 1, "verbose": -1, "metric": "cross_entropy"}
        self.preprocessor_ = fitted_preprocessor(self.preprocessor, X)
        train = lgb.Dataset(self.preprocessor_.transform(X), np.asarray(y, dtype=np.float64), free_raw_data=False)
        valid = lgb.Dataset(self.preprocessor_.transform(X_valid), np.asarray(y_valid, dtype=np.float64),
                            reference=train)
        self.booster_ = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=[valid],
                                  callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])
        self.rounds_ = int(self.booster_.best_iteration or self.n_estimators)
        self.train_mean_ = float(np.mean(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict(self.preprocessor_.transform(X), num_iteration=self.rounds_, num_threads=1)

    def to_onnx(self) -> onnx.ModelProto:
        booster = lgb.Booster(model_str=self.booster_.model_to_string(num_iteration=self.rounds_))
        parts = self.preprocessor_.graph_parts().extend(
            lightgbm_regression_parts(booster, len(self.preprocessor_.columns_), "lgd_", "lgd_logit"))
        parts = parts.extend(GraphParts(
            [helper.make_node("Squeeze", ["lgd_logit", "lgd_axis1"], ["lgd_margin"]),
             helper.make_node("Sigmoid", ["lgd_margin"], ["lgd"])],
            [const("lgd_axis1", np.array([1], dtype=np.int64))],
            [helper.make_tensor_value_info("lgd", TensorProto.FLOAT, [None])]))
        return make_model(self.preprocessor_.features, parts, "loss given default (LightGBM)")

    def manifest_entry(self) -> dict:
        return {"file": "lgd.onnx", "outputs": ["lgd"], "family": "lightgbm", "objective": "cross_entropy",
                "best_iteration": self.rounds_ - 1, "train_mean_lgd": self.train_mean_}
