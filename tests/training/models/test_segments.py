"""The segment model: KMeans parity, ordering by risk, profiles and tamper checks."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from riskscore.errors import ExportVerificationError
from training.models.segments import SegmentModel, segment_name
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
        assert p["name"].startswith(f"Segment {p['id']} (")


def test_segment_names_say_what_sets_each_segment_apart(segments, parts, small_spec):
    """Every trait in a name holds for the segment's rows against the population, with the
    right direction; the risk words follow the default rates (never 'deep subprime' for a
    clean, older group)."""
    test = parts["test"]
    seg = segments.predict(test)
    numeric = [f.name for f in small_spec.features if f.type == "numeric"]
    profiles = segments.profiles(seg, test["default"], np.zeros(len(seg)), np.zeros(len(seg)), test[numeric])
    assert "lowest default rate" in profiles[0]["name"] and "highest default rate" in profiles[-1]["name"]
    named = 0
    for p in profiles:
        mask = seg == p["id"]
        for trait in p["name"].partition(": ")[2].split(", ") if ": " in p["name"] else []:
            direction, feature = trait.split(" ", 1)
            inside, everyone = test.loc[mask, feature].mean(), test[feature].mean()
            assert (inside > everyone) == (direction == "higher"), (p["name"], feature, inside, everyone)
            named += 1
    assert named >= 2


@pytest.mark.parametrize("seg, rate, traits, name", [
    (0, 0.01, ["higher age"], "Segment 0 (lowest default rate): higher age"),
    (3, 0.30, ["higher late_90_plus", "lower age"], "Segment 3 (highest default rate): higher late_90_plus, lower age"),
    (1, 0.12, [], "Segment 1 (default rate 2.0x the average)"),
])
def test_segment_name(seg, rate, traits, name):
    assert segment_name(seg, 4, rate, 0.06, traits) == name


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


def test_preprocessor_is_kept_when_fitted_else_cloned_and_fitted(segments, pre, small_spec, parts):
    """As every model after PD (training/onnx/preprocess.fitted_preprocessor)."""
    from training.onnx.preprocess import RawPreprocessor

    assert segments.preprocessor_ is pre
    raw = RawPreprocessor(small_spec.features)
    train = parts["train"].iloc[:2000]
    model = SegmentModel(raw, k=2).fit(train, train["default"])
    assert not hasattr(raw, "medians_")
    assert model.preprocessor_ is not raw and hasattr(model.preprocessor_, "medians_")
    model.verify(model.to_onnx(), parts["test"].iloc[:500])
