"""The LightGBM PD family: gradient boosting on the shared raw-column preprocessing.

Same contract as the XGBoost PD graph (`pd`, `logit`, `score`, `contributions` [N, F] in
log-odds, `contribution_bias` + row sum = logit): the trees are read from LightGBM's own model
dump and emitted by the same builder as XGBoost's (`onnx_graph.tree_ensemble_parts`), which
also credits each split's change in expected value to its feature (path attribution, exact
for the exported model). onnxmltools, LightGBM's converter of record, converts the LGD trees
(`lgd_lgbm.py`); for PD it has the same shortfall as for XGBoost: no per-feature
contributions.

LightGBM sends `x <= threshold` (a float64 threshold, the float32 input widened) left. The
graph compares float32 values with BRANCH_LT, so each threshold t is exported as the smallest
float32 above the largest float32 <= t: for every float32 x, `x <= t` <=> `x < exported`, and
the float32 graph routes every row exactly as LightGBM does. The preprocessed matrix holds no
missing values (imputation comes first), so LightGBM's missing-value routing never applies.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper

from riskscore.contract.schema import ScalingSpec

from training.onnx.graph import GraphParts, const, make_model, tree_ensemble_parts
from training.models.pd.booster import monotone_constraints, scoring_parts
from training.onnx.preprocess import RawPreprocessor


def lgb_params(params: dict, seed: int) -> dict:
    """LightGBM's native parameters from the family's (XGBoost-style names where they exist)."""
    p = dict(params)
    depth = p.pop("max_depth", -1)
    out = {"objective": "binary", "learning_rate": p.pop("learning_rate", 0.1),
           "num_leaves": p.pop("num_leaves", 2 ** depth if depth and depth > 0 else 31),
           "max_depth": depth if depth else -1,
           "min_sum_hessian_in_leaf": p.pop("min_child_weight", 1e-3),
           "min_data_in_leaf": p.pop("min_child_samples", 20),
           "lambda_l2": p.pop("reg_lambda", 0.0),
           "bagging_fraction": p.pop("subsample", 1.0), "bagging_freq": 1,
           "feature_fraction": p.pop("colsample_bytree", 1.0),
           "max_bin": p.pop("max_bin", 255), "seed": seed, "deterministic": True,
           # one thread: LightGBM's OpenMP pool spins badly on a shared host (~20 ms a call)
           "num_threads": 1,
           "verbose": -1}
    p.pop("n_estimators", None)
    p.pop("early_stopping_rounds", None)
    p.pop("scale_pos_weight", None)
    return {**out, **p}


class LightGBMModel:
    """fit(X, y, X_valid, y_valid) on checked raw columns; with X_valid, early stopping on it,
    else all `n_estimators` rounds (chosen beforehand by cross-validation)."""

    family = "lightgbm"
    native_name = "LightGBM"

    def __init__(self, features=(), params=None, seed: int = 0, log=None):
        self.features = list(features)
        self.params = dict(params or {})
        self.seed = seed
        self.log = log

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame | None = None, y_valid=None) -> "LightGBMModel":
        self.preprocessor_ = RawPreprocessor(self.features).fit(X)
        params = lgb_params(self.params, self.seed)
        params["monotone_constraints"] = list(monotone_constraints(self.features, self.preprocessor_.columns_))
        train = lgb.Dataset(self.preprocessor_.transform(X), np.asarray(y), free_raw_data=False)
        rounds = int(self.params.get("n_estimators", 100))
        callbacks, valid_sets = [], []
        if X_valid is not None:
            valid_sets = [lgb.Dataset(self.preprocessor_.transform(X_valid), np.asarray(y_valid), reference=train)]
            callbacks = [lgb.early_stopping(int(self.params.get("early_stopping_rounds", 50)), verbose=False)]
            params["metric"] = "binary_logloss"
        self.booster_ = lgb.train(params, train, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
        self.n_rounds_ = int(self.booster_.best_iteration or rounds) if X_valid is not None else rounds
        self.classes_ = np.array([0, 1])
        return self

    @property
    def best_iteration_(self) -> int:
        return self.n_rounds_ - 1

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """PD and log-odds from LightGBM itself; contributions from its own leaf assignment
        (`pred_leaf`) and the dumped trees' expected values along each path."""
        m = self.preprocessor_.transform(X)
        logit = self.booster_.predict(m, raw_score=True, num_iteration=self.n_rounds_, num_threads=1)
        leaves = self.booster_.predict(m, pred_leaf=True, num_iteration=self.n_rounds_, num_threads=1).reshape(len(X), -1)
        trees = self.trees()
        grouped = np.zeros((len(X), len(self.features)))
        groups = self.preprocessor_.column_groups_
        for t, tree in enumerate(trees):
            path = _leaf_paths(tree, groups)
            for leaf_index, node in tree["leaf_node"].items():
                rows = leaves[:, t] == leaf_index
                for group, value in path[node].items():
                    grouped[rows, group] += value
        return {"pd": 1 / (1 + np.exp(-logit)), "logit": logit, "contributions": grouped}

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.predict_native(X)["pd"]
        return np.column_stack([1 - p, p])

    def trees(self) -> list[dict]:
        """The kept trees in the array form `tree_ensemble_parts` reads (XGBoost's JSON layout)."""
        dump = self.booster_.dump_model(num_iteration=self.n_rounds_)
        return [_flatten(t["tree_structure"]) for t in dump["tree_info"]]

    def to_onnx(self, scaling: ScalingSpec) -> onnx.ModelProto:
        """One graph; sets `contribution_bias_` (the base value of the path attributions)."""
        n = len(self.features)
        both, bias = tree_ensemble_parts(self.trees(), 0.0, "contributions_and_logit",
                                         column_groups=self.preprocessor_.column_groups_, n_groups=n,
                                         with_margin=True)
        split = GraphParts([helper.make_node("Split", ["contributions_and_logit", "pd_split"],
                                             ["contributions", "logit_2d"], axis=1)],
                           [const("pd_split", np.array([n, 1], dtype=np.int64))], [])
        parts = self.preprocessor_.graph_parts().extend(both).extend(split).extend(scoring_parts(scaling))
        parts.outputs += [helper.make_tensor_value_info("pd", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("logit", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("score", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("contributions", TensorProto.FLOAT, [None, n])]
        self.contribution_bias_ = float(bias)
        return make_model(self.features, parts, "probability of default (LightGBM)")

    def manifest_entry(self) -> dict:
        return {"contributions": "per-feature path attributions (Saabas) of the exported LightGBM trees in "
                                 "log-odds, exact for the exported model: contribution_bias + sum = logit",
                "matrix_columns": [label for _, label in self.preprocessor_.columns_],
                "best_iteration": self.best_iteration_, "params": self.params}


def float32_below_next(t: float) -> float:
    """The float32 threshold for BRANCH_LT equivalent to LightGBM's `x <= t` on float32 x."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(np.nextafter(f, np.float32(np.inf)))


def _flatten(root: dict) -> dict:
    """LightGBM's nested tree -> XGBoost-style arrays; `leaf_node` maps LightGBM's leaf index
    to the node id. Hessian sums serve as cover, leaf values as a leaf's split condition."""
    t = {k: [] for k in ("left_children", "right_children", "parents", "split_indices", "split_conditions",
                         "default_left", "sum_hessian", "split_type")}
    t["leaf_node"] = {}

    def visit(node: dict, parent: int) -> int:
        nid = len(t["left_children"])
        for k in t:
            if k != "leaf_node":
                t[k].append(0)
        t["parents"][nid] = parent
        if "leaf_value" in node:
            t["left_children"][nid] = t["right_children"][nid] = -1
            t["split_conditions"][nid] = node["leaf_value"]
            t["sum_hessian"][nid] = node.get("leaf_weight", 0.0)
            t["leaf_node"][node.get("leaf_index", 0)] = nid
            return nid
        if node["decision_type"] != "<=":
            raise ValueError(f"LightGBM split {node['decision_type']!r} is not supported: one-hot encode in the graph")
        t["split_indices"][nid] = node["split_feature"]
        t["split_conditions"][nid] = float32_below_next(node["threshold"])
        t["default_left"][nid] = int(node["default_left"])
        t["sum_hessian"][nid] = node["internal_weight"]
        t["left_children"][nid] = visit(node["left_child"], nid)
        t["right_children"][nid] = visit(node["right_child"], nid)
        return nid

    visit(root, 2 ** 31 - 1)
    return t


def _leaf_paths(tree: dict, groups: list[int]) -> dict[int, dict[int, float]]:
    """{leaf node: {feature group: summed change in expected value along its path}}."""
    from training.onnx.graph import _node_means, _path_contributions

    means = _node_means(tree)
    return {node: _path_contributions(tree, node, means, groups) for node in tree["leaf_node"].values()}
