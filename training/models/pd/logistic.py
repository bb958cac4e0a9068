"""The logistic PD family: regularised logistic regression on imputed, one-hot, standardised
columns, with exact per-feature contributions.

Columns are the shared raw-column preprocessing (median imputation with missing indicators,
one-hot categories; `preprocess.RawPreprocessor`), standardised (scikit-learn's StandardScaler,
converted by skl2onnx), then an L2 logistic regression whose C is chosen by inner stratified
cross-validation on AUC (`C_GRID`), unless the spec or `--tune` fixes it. A feature's
contribution is the sum, over its matrix columns (its value and missing indicator, or its
one-hot columns), of coefficient x standardised value, so

    logit = intercept + sum of the features' contributions       (exactly: this IS the model)

and the graph has the PD graph's contract (`pd`, `logit`, `score`, `contributions` [N, F]).
The weighted sum is hand-built (a MatMul by a column-to-feature weight matrix): skl2onnx's
LogisticRegression converter returns probabilities, never per-feature terms.

A category never seen in training (which serving scores as missing when the feature is not
nullable) one-hot encodes to all zeros. Here its columns are filled with the training shares
of the categories before standardising, so its contribution is exactly the population average
(0): an unknown category neither raises nor lowers the risk.
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from riskscore.contract.schema import ScalingSpec

from training.onnx.converters import MATRIX64, matrix64_parts, sklearn_parts
from training.onnx.graph import GraphParts, const, make_model
from training.models.pd.booster import scoring_parts
from training.onnx.preprocess import RawPreprocessor

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
INNER_FOLDS = 5
# Inner CV for C runs on at most this many rows: on larger tables the penalty hardly matters.
INNER_ROWS = 20_000


class LogisticModel:
    """fit(X, y) on checked raw columns; predict_native through the preprocessing graph and numpy."""

    family = "logistic"
    native_name = "scikit-learn LogisticRegression"

    def __init__(self, features=(), params=None, seed: int = 0, log=None):
        self.features = list(features)
        self.params = dict(params or {})
        self.seed = seed
        self.log = log

    def fit(self, X: pd.DataFrame, y, X_valid=None, y_valid=None) -> "LogisticModel":
        """X_valid/y_valid are ignored (C comes from inner CV): the signature matches the others'."""
        y = np.asarray(y).astype(int)
        self.preprocessor_ = RawPreprocessor(self.features).fit(X)
        m = self.preprocessor_.transform(X).astype(np.float64)
        self._unseen_fill(m)
        self.scaler_ = StandardScaler().fit(m)
        z = self.scaler_.transform(m)
        self.C_ = float(self.params["C"]) if self.params.get("C") else self._inner_cv(z, y)
        self.regression_ = LogisticRegression(C=self.C_, max_iter=5000).fit(z, y)
        self.coef_ = self.regression_.coef_[0].astype(np.float64)
        self.intercept_ = float(self.regression_.intercept_[0])
        return self

    def _inner_cv(self, z: np.ndarray, y: np.ndarray) -> float:
        """The C of `C_GRID` with the best mean inner-fold AUC (ties: the smaller C)."""
        rows = np.arange(len(y))
        if len(y) > INNER_ROWS:
            rows = np.sort(np.random.default_rng(self.seed).choice(len(y), INNER_ROWS, replace=False))
        zs, ys = z[rows], y[rows]
        folds = list(StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=self.seed).split(zs, ys))
        means = []
        for c in C_GRID:
            aucs = [roc_auc_score(ys[te], LogisticRegression(C=c, max_iter=5000).fit(zs[tr], ys[tr])
                                  .decision_function(zs[te])) for tr, te in folds]
            means.append(float(np.mean(aucs)))
        self.inner_cv_ = {"C_grid": list(C_GRID), "mean_auc": means, "folds": INNER_FOLDS, "rows": int(len(rows))}
        return float(C_GRID[int(np.argmax(means))])

    # --- unseen categories -------------------------------------------------------------

    def _unseen_fill(self, m: np.ndarray | None = None) -> None:
        """Build (on the training matrix `m`) the block matrices of the fill
        `m + (1 - m @ B) @ P`: B [C, G] sums each categorical feature's one-hot columns, P
        [G, C] holds its training shares; a row with a known category has sum 1 (no change)."""
        groups = self.preprocessor_.column_groups_
        categorical = [i for i, f in enumerate(self.features) if f.type == "categorical"]
        n_cols = len(groups)
        self.fill_b_ = np.zeros((n_cols, len(categorical)))
        self.fill_p_ = np.zeros((len(categorical), n_cols))
        for g, feature in enumerate(categorical):
            cols = [c for c in range(n_cols) if groups[c] == feature]
            self.fill_b_[cols, g] = 1.0
            self.fill_p_[g, cols] = m[:, cols].mean(axis=0)

    def _filled(self, m: np.ndarray) -> np.ndarray:
        if self.fill_b_.shape[1] == 0:
            return m
        return m + (1.0 - m @ self.fill_b_) @ self.fill_p_

    # --- prediction ---------------------------------------------------------------------

    def _group_weights(self) -> np.ndarray:
        """[C, F]: column c's coefficient in the column of its feature."""
        w = np.zeros((len(self.coef_), len(self.features)))
        w[np.arange(len(self.coef_)), self.preprocessor_.column_groups_] = self.coef_
        return w

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        m = self.preprocessor_.transform(X).astype(np.float64)
        contributions = self.scaler_.transform(self._filled(m)) @ self._group_weights()
        logit = self.intercept_ + contributions.sum(axis=1)
        return {"pd": 1 / (1 + np.exp(-logit)), "logit": logit, "contributions": contributions}

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.predict_native(X)["pd"]
        return np.column_stack([1 - p, p])

    # --- export -------------------------------------------------------------------------

    def to_onnx(self, scaling: ScalingSpec) -> onnx.ModelProto:
        """One graph, in float64 from the preprocessed matrix to the contributions (as numpy
        computes them), then float32 outputs like every PD graph; sets `contribution_bias_`
        (the intercept)."""
        n_cols, n = len(self.coef_), len(self.features)
        parts = self.preprocessor_.graph_parts().extend(matrix64_parts())
        source = MATRIX64
        if self.fill_b_.shape[1]:
            source = "lr_filled"
            parts = parts.extend(GraphParts(
                [helper.make_node("MatMul", [MATRIX64, "lr_fill_b"], ["lr_known"]),
                 helper.make_node("Sub", ["lr_one", "lr_known"], ["lr_unseen"]),
                 helper.make_node("MatMul", ["lr_unseen", "lr_fill_p"], ["lr_fill"]),
                 helper.make_node("Add", [MATRIX64, "lr_fill"], [source])],
                [const("lr_fill_b", self.fill_b_), const("lr_fill_p", self.fill_p_),
                 const("lr_one", np.float64(1.0))], []))
        parts = parts.extend(sklearn_parts(self.scaler_, n_cols, "lr_scaler_", {"variable": "lr_z"},
                                           input_name=source, double=True))
        parts = parts.extend(GraphParts(
            [helper.make_node("MatMul", ["lr_z", "lr_weights"], ["lr_contributions64"]),
             helper.make_node("ReduceSum", ["lr_contributions64", "lr_axis1"], ["lr_sum"], keepdims=1),
             helper.make_node("Add", ["lr_sum", "lr_intercept"], ["lr_logit64"]),
             helper.make_node("Cast", ["lr_logit64"], ["logit_2d"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["lr_contributions64"], ["contributions"], to=TensorProto.FLOAT)],
            [const("lr_weights", self._group_weights()), const("lr_axis1", np.array([1], dtype=np.int64)),
             const("lr_intercept", np.float64(self.intercept_))], []))
        parts = parts.extend(scoring_parts(scaling))
        parts.outputs += [helper.make_tensor_value_info("pd", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("logit", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("score", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("contributions", TensorProto.FLOAT, [None, n])]
        self.contribution_bias_ = self.intercept_
        return make_model(self.features, parts, "probability of default (logistic regression)")

    def manifest_entry(self) -> dict:
        return {"contributions": "coefficient x standardised value, summed over each feature's columns "
                                 "(value and missing indicator, or one-hot columns), in log-odds; "
                                 "contribution_bias (the intercept) + sum = logit exactly; an unseen "
                                 "category contributes 0 (the training average)",
                "C": self.C_, "inner_cv": getattr(self, "inner_cv_", None),
                "matrix_columns": [label for _, label in self.preprocessor_.columns_],
                "coefficients": dict(zip([label for _, label in self.preprocessor_.columns_],
                                         self.coef_.tolist())),
                "params": self.params}


def cv_choose_c(model: "LogisticModel", pool: pd.DataFrame, y, folds, grid=C_GRID) -> tuple[float, list[float], list]:
    """C from `grid` by the mean held-out AUC over `folds` (on the pool's preprocessed matrix:
    the same columns for every fold, as the boosted families' CV uses): (C, its per-fold AUCs,
    every C's mean AUC)."""
    y = np.asarray(y).astype(int)
    pre = RawPreprocessor(model.features).fit(pool)
    m = pre.transform(pool).astype(np.float64)
    aucs = np.zeros((len(grid), len(folds)))
    for k, (tr, te) in enumerate(folds):
        scaler = StandardScaler().fit(m[tr])
        ztr, zte = scaler.transform(m[tr]), scaler.transform(m[te])
        for i, c in enumerate(grid):
            fitted = LogisticRegression(C=c, max_iter=5000).fit(ztr, y[tr])
            aucs[i, k] = roc_auc_score(y[te], fitted.decision_function(zte))
    means = aucs.mean(axis=1)
    best = int(np.argmax(means))
    return float(grid[best]), aucs[best].tolist(), means.tolist()
