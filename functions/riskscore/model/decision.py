"""The one scoring core: the graphs' output arrays -> the credit decision of every row, as columns.

`score` (one row), `batch_score` (millions), Dataflow and the console all call `decide`, so a
row gets exactly the same PD, score, rating, LGD, expected loss, segment, anomaly and reason
codes whichever way it arrives. Everything here is numpy over whole columns: no per-row Python.
The applicant-facing texts (reason sentences, explanation) are built at `score`'s edge only.
"""

from __future__ import annotations

import numpy as np

from riskscore.contract.manifest import Manifest
from riskscore.model.reasons import top_reasons

__all__ = ["DecisionCore"]


class DecisionCore:
    """Built once per model version from its manifest; `decide` is thread-safe (no state)."""

    def __init__(self, manifest: Manifest | dict):
        m = Manifest.of(manifest)
        self.features = m.features
        # a reason's position names a feature or, after them, a derived feature
        self.feature_names = np.array([f.name for f in m.reason_features], dtype=object)
        self.scaling = m.scaling
        # Expected loss without an LGD model: the spec's declared LGD (e.g. 0.45), else none.
        self.lgd_default = m.lgd_default
        self._band_names = np.array([b.name for b in self.scaling.bands], dtype=object)
        names = {int(p["id"]): p["name"] for p in m.segment_profiles}
        k = max(names, default=-1) + 1
        self._segment_names = np.array([names.get(i, str(i)) for i in range(k)], dtype=object)

    @property
    def band_names(self) -> np.ndarray:
        return self._band_names

    def segment_names(self, segment: np.ndarray) -> np.ndarray:
        """The profile name of each segment id (the id as text for an id without a profile)."""
        known = (segment >= 0) & (segment < len(self._segment_names))
        names = np.empty(len(segment), dtype=object)
        names[known] = self._segment_names[segment[known]]
        if not known.all():
            names[~known] = [str(s) for s in segment[~known]]
        return names

    def decide(self, out: dict[str, np.ndarray], exposure: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Graph outputs for N rows (and their exposure, NaN where unknown) -> decision columns.

        Always: pd, score (rounded to 0.1, as shown), rating (of the rounded score; and
        rating_index, its position in `band_names`),
        reason_index [N, 4] (feature position, -1 for none), reason_contribution [N, 4]
        (rounded to 4 places, NaN for none), exposure (NaN where unknown). With an LGD graph,
        or else the spec's `lgd_default`: lgd, lgd_source ("model" or "default") and
        expected_loss = round(pd x lgd x exposure, 2) (NaN without exposure). With a segment
        graph: segment, segment_name. With an anomaly graph: anomaly_score, anomaly_flag (bool).
        With the embedding graph run: embedding [N, d].
        """
        pd_ = out["pd"].astype(np.float64)
        n = len(pd_)
        # Rate the score as shown, so a 649.96 shown as 650.0 is never rated below 650.
        score = np.round(out["score"].astype(np.float64), 1)
        index, value = top_reasons(out["contributions"])
        rating = self.scaling.rating_index(score)
        result = {"pd": pd_, "score": score, "rating": self._band_names[rating], "rating_index": rating,
                  "reason_index": index, "reason_contribution": np.round(value, 4)}
        exp = np.full(n, np.nan) if exposure is None else np.asarray(exposure, dtype=np.float64)
        result["exposure"] = exp
        if "lgd" in out or self.lgd_default is not None:
            source = "model" if "lgd" in out else "default"
            lgd = out["lgd"].astype(np.float64) if "lgd" in out else np.full(n, self.lgd_default)
            result.update(lgd=lgd, lgd_source=source, expected_loss=np.round(pd_ * lgd * exp, 2))
        if "segment" in out:
            segment = out["segment"].astype(np.int64)
            result.update(segment=segment, segment_name=self.segment_names(segment))
        if "anomaly_score" in out:
            result.update(anomaly_score=out["anomaly_score"].astype(np.float64),
                          anomaly_flag=out["anomaly_flag"].astype(bool))
        if "embedding" in out:
            result["embedding"] = out["embedding"]
        return result
