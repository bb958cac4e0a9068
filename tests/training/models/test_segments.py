"""The segment model: KMeans parity, ordering by risk, profiles and tamper checks."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from riskscore.errors import ExportVerificationError
from training.models.segments import SegmentModel
from training.onnx.run import run_onnx


@pytest.fixture(scope="module")
def segments(pre, parts):
    return SegmentModel(pre, k=4).fit(parts["train"], parts["train"]["default"])


def test_segments_match_kmeans_and_are_ordered_by_risk(segments, parts):
    onnx_model = segments.to_onnx()
    assert segments.verify(onnx_model, parts["test"])["segment_mismatches"] == 0
    seg = segments.predict(parts["train"])
    rates = [parts["train"]["default"].to_numpy()[seg == s].mean() for s in range(4)]
    assert rates == sorted(rates)


def test_segment_profiles(segments, parts):
    seg = segments.predict(parts["test"])
    pd_ = np.linspace(0, 1, len(seg))
    profiles = segments.profiles(seg, parts["test"]["default"], pd_, np.full(len(seg), 0.4))
    assert [p["id"] for p in profiles] == [0, 1, 2, 3]
    assert sum(p["size"] for p in profiles) == len(seg)
    for p in profiles:
        assert p["mean_pd"] == pytest.approx(pd_[seg == p["id"]].mean())
        assert p["name"] and ":" in p["name"]


def test_segment_distances_match_kmeans(segments, parts):
    report = segments.verify(segments.to_onnx(), parts["test"])
    assert report["distances_max_scaled_diff"] <= report["distance_tolerance"] == 1e-5
    out = run_onnx(segments.to_onnx(), segments.preprocessor.features, parts["test"])
    assert np.allclose(out["segment_distances"], segments.kmeans_.transform(segments._scaled(parts["test"])),
                       rtol=1e-5, atol=1e-5)


def test_segment_distance_tampering_is_caught(segments, parts):
    from support.onnx_helpers import tampered

    bad = tampered(segments.to_onnx(), "seg_Di_Divcst", lambda std: std * 1.001)  # the scaler's std
    with pytest.raises(ExportVerificationError, match="segment ONNX"):
        segments.verify(bad, parts["test"])


def test_segment_graph_tampering_is_caught(segments, parts):
    onnx_model = segments.to_onnx()
    init = next(i for i in onnx_model.graph.initializer if i.name == "seg_rank")
    init.CopyFrom(onnx.numpy_helper.from_array(np.roll(segments.rank_, 1), "seg_rank"))
    with pytest.raises(ExportVerificationError, match="different segment"):
        segments.verify(onnx_model, parts["test"])
