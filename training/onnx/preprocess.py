"""The raw-column preprocessing every model's graph starts with, and the matrix training uses.

Per feature, in `matrix_columns` order: a numeric column's NaN replaced by the training median
(scikit-learn's SimpleImputer, converted by skl2onnx), followed, if the feature is nullable, by
a 0/1 missing indicator; a categorical column one-hot encoded over the training categories
(OneHotEncoder, converted by skl2onnx; missing is the empty string, its own column if nullable;
an unseen category gives all zeros). The indicator is the one hand-built step: skl2onnx 1.20
drops SimpleImputer's `add_indicator` columns and has no MissingIndicator converter
(tests/training/onnx/test_converters.py), so the graph casts IsNaN itself.

Training fits every model on the graph's output (`transform`), so the models learn from exactly
what serving computes; `fit` checks that output against the scikit-learn steps bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from riskscore.errors import ExportVerificationError

from training.onnx.converters import splice_sklearn
from training.onnx.graph import MATRIX, GraphParts, make_model, matrix_columns
from training.onnx.run import onnx_inputs, session


class RawPreprocessor(TransformerMixin, BaseEstimator):
    """Learns medians and categories from the training rows; transforms through ONNX."""

    def __init__(self, features=()):
        self.features = features

    def fit(self, X: pd.DataFrame, y=None):
        self.medians_ = {}
        self.categories_ = {}
        for f in self.features:
            if f.type == "numeric":
                med = X[f.name].median()
                self.medians_[f.name] = float(med) if pd.notna(med) else 0.0
            else:
                seen = sorted(X[f.name].dropna().unique().tolist())
                self.categories_[f.name] = list(f.categories) if f.categories is not None else seen
        self.columns_ = matrix_columns(self.features, self.categories_)
        names = [f.name for f in self.features]
        self.column_groups_ = [names.index(feature) for feature, _ in self.columns_]
        self.steps_ = {f.name: self._step(f) for f in self.features}
        self.parts_ = self._build_parts()
        parts = self.graph_parts()
        parts.outputs.append(helper.make_tensor_value_info(MATRIX, TensorProto.FLOAT, [None, len(self.columns_)]))
        self.graph_ = make_model(self.features, parts, "raw-column preprocessing")
        self._session = session(self.graph_.SerializeToString())
        feeds = onnx_inputs(X, self.features)
        graph, native = self._session.run([MATRIX], feeds)[0], self._native(feeds)
        if not np.array_equal(graph, native):
            raise ExportVerificationError("the preprocessing graph differs from its scikit-learn steps on "
                                          f"{int(np.sum(np.any(graph != native, axis=1)))} of {len(X)} rows")
        return self

    def _step(self, f):
        """The fitted scikit-learn step of one feature (missing indicators are added apart)."""
        if f.type == "numeric":
            step = SimpleImputer(strategy="constant", fill_value=self.medians_[f.name])
            return step.fit(np.array([[self.medians_[f.name]]], dtype=np.float32))  # fit needs a value
        cats = list(self.categories_[f.name]) + ([""] if f.nullable else [])
        step = OneHotEncoder(categories=[cats], handle_unknown="ignore", sparse_output=False, dtype=np.float32)
        return step.fit(np.array(cats or [""], dtype=object).reshape(-1, 1))

    def _build_parts(self) -> GraphParts:
        parts, pieces = GraphParts([], [], []), []
        for f in self.features:
            n = f.name
            out = f"{n}__imputed" if f.type == "numeric" else f"{n}__onehot"
            parts = parts.extend(splice_sklearn(self.steps_[n], f"{n}__", out, n, numeric=f.type == "numeric"))
            pieces.append(out)
            if f.type == "numeric" and f.nullable:
                parts = parts.extend(GraphParts(
                    [helper.make_node("IsNaN", [n], [f"{n}__isnan"]),
                     helper.make_node("Cast", [f"{n}__isnan"], [f"{n}__missing"], to=TensorProto.FLOAT)], [], []))
                pieces.append(f"{n}__missing")
        return parts.extend(GraphParts([helper.make_node("Concat", pieces, [MATRIX], axis=1)], [], []))

    def graph_parts(self) -> GraphParts:
        """Raw columns -> `features` [N, C] float32 (a fresh copy of the lists, safe to extend)."""
        return GraphParts(list(self.parts_.nodes), list(self.parts_.initializers), list(self.parts_.outputs))

    def transform_native(self, X: pd.DataFrame) -> np.ndarray:
        """The matrix from the scikit-learn steps and numpy indicators (the graph's twin)."""
        return self._native(onnx_inputs(X, self.features))

    def _native(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        pieces = []
        for f in self.features:
            pieces.append(self.steps_[f.name].transform(feeds[f.name]).astype(np.float32))
            if f.type == "numeric" and f.nullable:
                pieces.append(np.isnan(feeds[f.name]).astype(np.float32))
        return np.hstack(pieces)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self._session.run([MATRIX], onnx_inputs(X, self.features))[0]

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_session", None)
        return state


def fitted_preprocessor(preprocessor: RawPreprocessor, X: pd.DataFrame) -> RawPreprocessor:
    """The preprocessor itself when already fitted (shared by every model of a version), else a
    fitted clone: an estimator never mutates its constructor parameters."""
    if hasattr(preprocessor, "medians_"):
        return preprocessor
    return clone(preprocessor).fit(X)
