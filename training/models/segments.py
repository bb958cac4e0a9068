"""Applicant segments: KMeans on the standardized preprocessed features, ids ordered by risk.

Native model: scikit-learn's StandardScaler and KMeans on the float64 matrix. The graph is
skl2onnx's conversion of both (in float64, as they were fitted), after the raw-column
preprocessing; the only step added by hand is the risk order, a lookup from KMeans' cluster
to the segment id. `segment_distances` are skl2onnx's: Euclidean distances to each centroid
in the standardized space, in KMeans' cluster order (float32, as every float output).
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from riskscore.errors import ExportVerificationError

from training.onnx.converters import MATRIX64, matrix64_parts, sklearn_parts
from training.onnx.graph import GraphParts, const, make_model
from training.onnx.preprocess import fitted_preprocessor
from training.onnx.run import run_onnx

FIT_ROWS = 50_000  # KMeans centroids are stable well before this; keeps training fast
DISTANCE_TOLERANCE = 1e-5  # |onnx - native| / max(1, native): float32 output of float64 distances


class SegmentModel(ClusterMixin, BaseEstimator):
    """fit(X, y) learns k clusters through `preprocessor` (kept as `preprocessor_`; fitted on X
    first when it is not yet, as the other models do); `segment` ids run from 0 (lowest
    observed default rate) up."""

    key = "segment"

    def __init__(self, preprocessor=None, k: int = 5, seed: int = 0):
        self.preprocessor = preprocessor
        self.k = k
        self.seed = seed

    def _scaled(self, X: pd.DataFrame) -> np.ndarray:
        return self.scaler_.transform(self.preprocessor_.transform(X).astype(np.float64))

    def fit(self, X: pd.DataFrame, y):
        self.preprocessor_ = fitted_preprocessor(self.preprocessor, X)
        matrix = self.preprocessor_.transform(X).astype(np.float64)
        self.scaler_ = StandardScaler().fit(matrix)
        scaled = self.scaler_.transform(matrix)
        rng = np.random.default_rng(self.seed)
        idx = rng.choice(len(scaled), size=min(FIT_ROWS, len(scaled)), replace=False)
        self.kmeans_ = KMeans(n_clusters=self.k, n_init=4, random_state=self.seed).fit(scaled[idx])
        raw = self.kmeans_.predict(scaled)
        rates = np.array([np.asarray(y)[raw == c].mean() if (raw == c).any() else 0.0 for c in range(self.k)])
        # rank_[cluster] = risk-ordered segment id
        self.rank_ = np.argsort(np.argsort(rates, kind="stable"), kind="stable").astype(np.int64)
        return self

    def fit_version(self, data) -> "SegmentModel":
        """The export protocol's fit (training/models/protocol.py): the training split and its target."""
        return self.fit(data.parts["train"], data.parts["train"][data.spec.target])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.rank_[self.kmeans_.predict(self._scaled(X))]

    def to_onnx(self) -> onnx.ModelProto:
        pipeline = Pipeline([("scaler", self.scaler_), ("kmeans", self.kmeans_)])
        converted = sklearn_parts(pipeline, len(self.preprocessor_.columns_), "seg_",
                                  {"label": "seg_cluster", "scores": "seg_distances64"},
                                  input_name=MATRIX64, double=True)
        order = GraphParts([helper.make_node("Gather", ["seg_rank", "seg_cluster"], ["segment"], axis=0),
                            helper.make_node("Cast", ["seg_distances64"], ["segment_distances"],
                                             to=TensorProto.FLOAT)],
                           [const("seg_rank", self.rank_)],
                           [helper.make_tensor_value_info("segment", TensorProto.INT64, [None]),
                            helper.make_tensor_value_info("segment_distances", TensorProto.FLOAT,
                                                          [None, self.k])])
        parts = self.preprocessor_.graph_parts().extend(matrix64_parts()).extend(converted).extend(order)
        return make_model(self.preprocessor_.features, parts, "applicant segments")

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        """Every row in the same segment as KMeans, and `segment_distances` within
        DISTANCE_TOLERANCE x max(1, distance) of KMeans.transform; raises otherwise."""
        out = run_onnx(onnx_model, self.preprocessor_.features, X)
        scaled = self._scaled(X)
        mismatches = int(np.sum(out["segment"] != self.rank_[self.kmeans_.predict(scaled)]))
        native = self.kmeans_.transform(scaled)
        diff = (float(np.max(np.abs(out["segment_distances"] - native) / np.maximum(1.0, native)))
                if len(X) else 0.0)
        if mismatches:
            raise ExportVerificationError(f"segment ONNX export assigns {mismatches} of {len(X)} rows to a "
                                          "different segment than KMeans")
        if not diff <= DISTANCE_TOLERANCE:
            raise ExportVerificationError(f"segment ONNX distances differ from KMeans by {diff:.3g} "
                                          f"(scaled; tolerance {DISTANCE_TOLERANCE})")
        return {"rows": int(len(X)), "segment_mismatches": mismatches, "distances_max_scaled_diff": diff,
                "distance_tolerance": DISTANCE_TOLERANCE}

    def profiles(self, segment: np.ndarray, y, pd_: np.ndarray, lgd: np.ndarray,
                 X: pd.DataFrame | None = None) -> list[dict]:
        """Size, observed default rate, mean PD, mean predicted LGD and a name per segment.

        The name says what sets the segment apart, never more: its default rate against the
        whole population's and, from the raw columns of its rows (`X`), the numeric features
        whose mean lies furthest from the population's, in population standard deviations,
        with the direction of that difference ("higher age, lower late_90_plus")."""
        y = np.asarray(y, dtype=np.float64)
        base = float(y.mean()) if len(y) else 0.0
        out = []
        for seg in range(self.k):
            mask = segment == seg
            rate = float(y[mask].mean()) if mask.any() else None
            out.append({"id": seg, "name": segment_name(seg, self.k, rate, base, _traits(X, mask)),
                        "size": int(mask.sum()), "share": float(mask.mean()), "observed_default_rate": rate,
                        "mean_pd": float(pd_[mask].mean()) if mask.any() else None,
                        "mean_lgd": float(lgd[mask].mean()) if mask.any() else None})
        return out

    def evaluate(self, onnx_model: onnx.ModelProto, ev) -> None:
        """The segment profiles of every row (added to the entry), from the graph's segment and
        the PD (and LGD, if the version has one) already evaluated."""
        df = ev.data.df
        segment = run_onnx(onnx_model, self.preprocessor_.features, df)["segment"]
        lgd = ev.outputs["lgd"]["lgd"] if "lgd" in ev.outputs else np.full(len(df), np.nan)
        numeric = [f.name for f in self.preprocessor_.features if f.type == "numeric"]
        ev.entries[self.key]["profiles"] = self.profiles(segment, df[ev.data.spec.target].to_numpy(),
                                                         ev.outputs["pd"]["pd"], lgd, df[numeric])

    def manifest_entry(self) -> dict:
        return {"file": "segment.onnx", "outputs": ["segment", "segment_distances"], "k": self.k,
                "order": "segment 0 has the lowest observed default rate on the training rows"}


# A feature names a segment only if its mean there is at least this many population standard
# deviations from the population's mean: below that it does not set the segment apart.
TRAIT_MIN_Z = 0.25
TRAITS = 2


def _traits(X: pd.DataFrame | None, mask: np.ndarray) -> list[str]:
    """Up to TRAITS "higher/lower <feature>" for the segment's rows `mask` of the numeric
    columns `X`, strongest first (mean against the population mean, in standard deviations)."""
    if X is None or not mask.any() or mask.all():
        return []
    found = []
    for name in X.columns:
        values = X[name].to_numpy(dtype=np.float64)
        std = np.nanstd(values)
        inside = values[mask]
        if not std > 0 or np.isnan(inside).all():
            continue
        z = (np.nanmean(inside) - np.nanmean(values)) / std
        if abs(z) >= TRAIT_MIN_Z:
            found.append((abs(z), f"{'higher' if z > 0 else 'lower'} {name}"))
    return [text for _, text in sorted(found, reverse=True)[:TRAITS]]


def segment_name(seg: int, k: int, rate: float | None, base: float, traits: list[str]) -> str:
    """"Segment 3 (highest default rate): higher late_90_plus, lower age": the risk is the
    segment's rank and its rate against the population's; the traits are what its rows
    differ in (none: the name says so much and no more)."""
    if seg == 0:
        risk = "lowest default rate"
    elif seg == k - 1:
        risk = "highest default rate"
    elif rate is not None and base > 0:
        risk = f"default rate {rate / base:.1f}x the average"
    else:
        risk = "default rate unknown"
    return f"Segment {seg} ({risk})" + (f": {', '.join(traits)}" if traits else "")
