"""Fitting the raw-column preprocessing; its only implementation is the ONNX graph it builds."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, TransformerMixin, clone

from .onnx_graph import MATRIX, make_model, matrix_columns, preprocessing_parts


def onnx_inputs(df: pd.DataFrame, features) -> dict[str, np.ndarray]:
    """Feed dict for a raw-column graph: float32 [N, 1] numeric, str [N, 1] categorical
    (missing as the empty string, exactly what the score function sends)."""
    feeds = {}
    for f in features:
        col = df[f.name]
        if f.type == "numeric":
            feeds[f.name] = col.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            feeds[f.name] = np.array([("" if v is None or v != v else str(v)) for v in col],
                                     dtype=object).reshape(-1, 1)
    return feeds


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
        parts = self.graph_parts()
        parts.outputs.append(helper.make_tensor_value_info(MATRIX, TensorProto.FLOAT, [None, len(self.columns_)]))
        self.graph_ = make_model(self.features, parts, "raw-column preprocessing")
        self._session = ort.InferenceSession(self.graph_.SerializeToString(), providers=["CPUExecutionProvider"])
        return self

    def graph_parts(self):
        return preprocessing_parts(self.features, self.medians_, self.categories_)

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
