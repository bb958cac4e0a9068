"""Applicant segments: KMeans on the standardized preprocessed features, ids ordered by risk."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans

from riskscore.errors import ExportVerificationError

from .onnx_graph import GraphParts, apply_scaler, const, fit_scaler, make_model, scaler_parts
from .pd_model import run_onnx

FIT_ROWS = 50_000  # KMeans centroids are stable well before this; keeps training fast
TIER_NAMES = ["Prime", "Near-prime", "Standard", "Subprime", "Deep subprime"]


class SegmentModel(ClusterMixin, BaseEstimator):
    """fit(X, y) learns k clusters; `segment` ids run from 0 (lowest observed default rate) up."""

    def __init__(self, preprocessor=None, k: int = 5, seed: int = 0):
        self.preprocessor = preprocessor
        self.k = k
        self.seed = seed

    def _scaled(self, X: pd.DataFrame) -> np.ndarray:
        return apply_scaler(self.preprocessor.transform(X), self.mean_, self.std_)

    def fit(self, X: pd.DataFrame, y):
        matrix = self.preprocessor.transform(X)
        self.mean_, self.std_ = fit_scaler(matrix)
        scaled = apply_scaler(matrix, self.mean_, self.std_)
        rng = np.random.default_rng(self.seed)
        idx = rng.choice(len(scaled), size=min(FIT_ROWS, len(scaled)), replace=False)
        self.kmeans_ = KMeans(n_clusters=self.k, n_init=4, random_state=self.seed).fit(scaled[idx])
        raw = self.kmeans_.predict(scaled)
        rates = np.array([np.asarray(y)[raw == c].mean() if (raw == c).any() else 0.0 for c in range(self.k)])
        # rank_[cluster] = risk-ordered segment id
        self.rank_ = np.argsort(np.argsort(rates, kind="stable"), kind="stable").astype(np.int64)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.rank_[self.kmeans_.predict(self._scaled(X))]

    def to_onnx(self) -> onnx.ModelProto:
        centers = self.kmeans_.cluster_centers_.astype(np.float32)
        # Squared distances as |x|^2 - 2 x.c + |c|^2, the same expansion scikit-learn uses.
        nodes = [helper.make_node("Mul", ["scaled", "scaled"], ["seg_sq"]),
                 helper.make_node("ReduceSum", ["seg_sq", "seg_axis1"], ["seg_xx"], keepdims=1),
                 helper.make_node("MatMul", ["scaled", "seg_centers_t"], ["seg_xc"]),
                 helper.make_node("Mul", ["seg_xc", "seg_minus2"], ["seg_xc2"]),
                 helper.make_node("Add", ["seg_xx", "seg_xc2"], ["seg_partial"]),
                 helper.make_node("Add", ["seg_partial", "seg_cc"], ["segment_distances"]),
                 helper.make_node("ArgMin", ["segment_distances"], ["seg_cluster"], axis=1, keepdims=0),
                 helper.make_node("Gather", ["seg_rank", "seg_cluster"], ["segment"], axis=0)]
        inits = [const("seg_axis1", np.array([1], dtype=np.int64)),
                 const("seg_centers_t", centers.T.copy()),
                 const("seg_minus2", np.float32(-2.0)),
                 const("seg_cc", (centers ** 2).sum(axis=1).astype(np.float32)),
                 const("seg_rank", self.rank_)]
        parts = self.preprocessor.graph_parts().extend(scaler_parts(self.mean_, self.std_)).extend(
            GraphParts(nodes, inits, [helper.make_tensor_value_info("segment", TensorProto.INT64, [None]),
                                      helper.make_tensor_value_info("segment_distances", TensorProto.FLOAT,
                                                                    [None, self.k])]))
        return make_model(self.preprocessor.features, parts, "applicant segments")

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        got = run_onnx(onnx_model, self.preprocessor.features, X)["segment"]
        mismatches = int(np.sum(got != self.predict(X)))
        if mismatches:
            raise ExportVerificationError(f"segment ONNX export assigns {mismatches} of {len(X)} rows to a "
                                          "different segment than KMeans")
        return {"rows": int(len(X)), "segment_mismatches": mismatches}

    def profiles(self, segment: np.ndarray, y, pd_: np.ndarray, lgd: np.ndarray) -> list[dict]:
        """Size, observed default rate, mean PD, mean predicted LGD and a short name per segment."""
        y = np.asarray(y)
        columns = self.preprocessor.columns_
        order = np.argsort(self.rank_)  # cluster index for each segment id
        out = []
        for seg, cluster in enumerate(order):
            mask = segment == seg
            z = self.kmeans_.cluster_centers_[cluster]
            # The two value columns (not indicators or one-hots) furthest from the average applicant.
            value_cols = [i for i, (feat, label) in enumerate(columns) if feat == label]
            top = sorted(value_cols, key=lambda i: -abs(z[i]))[:2]
            traits = ", ".join(f"{'high' if z[i] > 0 else 'low'} {columns[i][0]}" for i in top)
            out.append({"id": seg, "name": f"{_tier(seg, self.k)}: {traits}", "size": int(mask.sum()),
                        "share": float(mask.mean()), "observed_default_rate": float(y[mask].mean()) if mask.any() else None,
                        "mean_pd": float(pd_[mask].mean()) if mask.any() else None,
                        "mean_lgd": float(lgd[mask].mean()) if mask.any() else None})
        return out

    def manifest_entry(self) -> dict:
        return {"file": "segment.onnx", "outputs": ["segment", "segment_distances"], "k": self.k,
                "order": "segment 0 has the lowest observed default rate on the training rows"}


def _tier(seg: int, k: int) -> str:
    return TIER_NAMES[min(len(TIER_NAMES) - 1, round(seg * (len(TIER_NAMES) - 1) / max(k - 1, 1)))]
