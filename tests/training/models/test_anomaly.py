"""AnomalyModel: IsolationForest exported to one raw-column ONNX graph with exact flags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import onnx
import pytest
from onnx import TensorProto

from support.onnx_helpers import EXTREME, FEATURES, TYPICAL, applicants, assert_raw_column_inputs, tampered
from riskscore.errors import ExportVerificationError
from training.models import anomaly
from training.models.anomaly import PARITY_TOLERANCE, AnomalyModel
from training.onnx.graph import expose_outputs
from training.onnx.preprocess import RawPreprocessor
from training.onnx.run import run_onnx

SEED = 7


@pytest.fixture(scope="module")
def fitted(data, preprocessor):
    model = AnomalyModel(preprocessor, contamination=0.01, seed=SEED).fit(data[0])
    return model, model.to_onnx()


def test_parity_flags_identical_scores_close(fitted, data):
    model, onnx_model = fitted
    test = data[1]
    report = model.verify(onnx_model, test)
    assert report["rows"] == len(test)
    assert report["flag_mismatches"] == 0
    assert report["score_max_abs_diff"] <= PARITY_TOLERANCE
    assert report["band_sum_mismatches"] == 0
    assert report["depth_sum_max_abs_diff"] <= report["depth_band"] / anomaly.DEPTH_BAND_MARGIN
    out = run_onnx(onnx_model, FEATURES, test)
    assert np.array_equal(out["anomaly_flag"], model.predict(test))
    native = model.forest_.predict(model.preprocessor_.transform(test))
    assert np.array_equal(out["anomaly_flag"] == 1, native == -1)
    assert np.array_equal(out["anomaly_score"] > 0, out["anomaly_flag"] == 1)


INSPECT = {"anom_depth": TensorProto.DOUBLE, "anom_depth_approx": TensorProto.DOUBLE,
           "anom_in_band": TensorProto.BOOL}


def test_fast_sum_is_inexact_but_within_the_proven_band(fitted, data):
    """The float32 sum differs from scikit-learn's float64 sum (so it alone could flip a row on
    the threshold), but never by more than the bound; rows outside the band keep it."""
    model, onnx_model = fitted
    test = data[1]
    out = run_onnx(expose_outputs(onnx_model, INSPECT), FEATURES, test)
    native = model._depth_native(model.preprocessor_.transform(test))
    diff = np.abs(out["anom_depth_approx"] - native)
    assert np.mean(diff > 0) > 0.5
    assert diff.max() <= model.depth_band() / anomaly.DEPTH_BAND_MARGIN
    in_band = np.abs(out["anom_depth_approx"] - model.depth_threshold_) <= model.depth_band()
    assert np.array_equal(out["anom_in_band"], in_band)
    assert np.array_equal(out["anom_depth"][~in_band], out["anom_depth_approx"][~in_band])


def test_band_rows_get_scikit_learns_sum_bit_for_bit(fitted, data, monkeypatch):
    """With the band widened to every row, the exact path gives scikit-learn's float64
    path-length sum bit for bit on all of them (rows in any order, batch size 1 included)."""
    model, _ = fitted
    monkeypatch.setattr(anomaly, "DEPTH_BAND_MARGIN", 1e9)
    wide = model.to_onnx()
    test = data[1]
    out = run_onnx(expose_outputs(wide, INSPECT), FEATURES, test)
    native = model._depth_native(model.preprocessor_.transform(test))
    assert out["anom_in_band"].all()
    assert np.array_equal(out["anom_depth"], native)
    assert np.array_equal(model._score_from_depth(native),
                          model.forest_.score_samples(model.preprocessor_.transform(test)))
    one = run_onnx(expose_outputs(wide, INSPECT), FEATURES, test.iloc[[7]])
    assert one["anom_depth"][0] == native[7]
    report = model.verify(wide, test)
    assert report["band_rows"] == len(test) and report["band_sum_mismatches"] == 0
    assert report["flag_mismatches"] == 0


def test_onnx_takes_raw_named_columns(fitted):
    _, onnx_model = fitted
    assert_raw_column_inputs(onnx_model, FEATURES)
    outputs = {o.name: o.type.tensor_type.elem_type for o in onnx_model.graph.output}
    assert outputs == {"anomaly_score": TensorProto.FLOAT, "anomaly_flag": TensorProto.INT64}


def test_anomaly_rate_follows_contamination(fitted, data):
    model, onnx_model = fitted
    assert abs(model.train_anomaly_rate_ - 0.01) <= 0.002
    test_rate = run_onnx(onnx_model, FEATURES, data[1])["anomaly_flag"].mean()
    assert 0.002 <= test_rate <= 0.03


def test_extreme_applicant_flagged_typical_not(fitted):
    model, onnx_model = fitted
    out = run_onnx(onnx_model, FEATURES, applicants(TYPICAL, EXTREME))
    assert out["anomaly_flag"].tolist() == [0, 1]
    assert out["anomaly_score"][0] < 0 < out["anomaly_score"][1]
    assert model.predict(applicants(TYPICAL, EXTREME)).tolist() == [0, 1]


@pytest.mark.parametrize("name, change, message", [
    ("anom_depth_threshold", lambda a: a + 25.0, "flags .* rows differently"),
    ("anom_band", lambda a: a * 0.0, "sums 0 rows exactly"),
    ("revolving_utilization__Imputer/imputed_value_floats", lambda a: a + np.float32(5.0), "anomaly ONNX"),
])
def test_tampered_graph_fails_verification(fitted, data, name, change, message, monkeypatch):
    model, onnx_model = fitted
    test = data[1]
    if name == "revolving_utilization__Imputer/imputed_value_floats":  # the median only matters for missing values
        test = test.assign(revolving_utilization=np.nan)
    if name == "anom_band":  # rows near the threshold, so that the band is not empty
        native = model._depth_native(model.preprocessor_.transform(test))
        test = test.iloc[np.argsort(np.abs(native - model.depth_threshold_))[:50]]
        monkeypatch.setattr(model, "depth_band", lambda: 100.0)  # this instance only, undone after
        onnx_model = model.to_onnx()
    with pytest.raises(ExportVerificationError, match=message):
        model.verify(tampered(onnx_model, name, change), test)


def test_tampered_exact_lengths_fail_verification(fitted, data, monkeypatch):
    model, _ = fitted
    monkeypatch.setattr(anomaly, "DEPTH_BAND_MARGIN", 1e9)
    with pytest.raises(ExportVerificationError, match="near the threshold differ"):
        model.verify(tampered(model.to_onnx(), "anom_path_lengths", lambda a: a * 1.05), data[1])


def test_tampered_fast_lengths_fail_verification(fitted, data):
    """Leaf lengths of the fast ensemble off by a little: beyond the bound, so verify fails."""
    model, onnx_model = fitted
    bad = onnx.ModelProto()
    bad.CopyFrom(onnx_model)
    (fast,) = [n for n in bad.graph.node if n.output[0] == "anom_depth32"]
    (weights,) = [a for a in fast.attribute if a.name == "target_weights"]
    weights.floats[:] = [w + 0.01 for w in weights.floats]
    with pytest.raises(ExportVerificationError, match="beyond the proven bound"):
        model.verify(bad, data[1])


def test_rows_tied_on_the_threshold_are_exact(data, preprocessor):
    """20 identical training rows straddling the contamination quantile make offset_ exactly
    their score; scikit-learn does not flag them (score == offset_). Comparing scores in the
    graph with libm's pow (onnxruntime's) would flag them whenever numpy's vectorised pow
    differs from it in the last bit (about 5% of values on AVX-512 machines); the depth-sum
    threshold keeps the flags identical whatever the pow."""
    train = data[0].iloc[:3000]
    first = AnomalyModel(preprocessor, seed=SEED).fit(train)
    unusual = int(np.argsort(first.forest_.score_samples(preprocessor.transform(train)))[30])
    block = pd.concat([train.iloc[[unusual]]] * 20, ignore_index=True)
    train = pd.concat([train, block], ignore_index=True)
    probe = AnomalyModel(preprocessor, seed=SEED).fit(train)
    scores = np.sort(probe.forest_.score_samples(preprocessor.transform(train)))
    ranks = np.flatnonzero(scores == probe.forest_.score_samples(preprocessor.transform(block))[0])
    contamination = (ranks.min() + ranks.max()) / 2 / (len(train) - 1)
    assert len(ranks) == len(block) + 1 and 0 < contamination < 0.5  # the copies and the original
    model = AnomalyModel(preprocessor, contamination=contamination, seed=SEED).fit(train)
    tied = model.forest_.score_samples(preprocessor.transform(block))
    assert np.all(tied == model.offset_)  # the tie this test is about
    assert model.predict(block).sum() == 0
    onnx_model = model.to_onnx()
    assert run_onnx(onnx_model, FEATURES, block)["anomaly_flag"].sum() == 0
    report = model.verify(onnx_model, train)
    assert report["flag_mismatches"] == 0 and report["closest_native_score_to_threshold"] == 0.0
    assert report["band_rows"] >= len(block) and report["band_sum_mismatches"] == 0


def test_deterministic_with_fixed_seed(fitted, data, preprocessor):
    model, onnx_model = fitted
    again = AnomalyModel(preprocessor, contamination=0.01, seed=SEED).fit(data[0])
    assert again.to_onnx().SerializeToString() == onnx_model.SerializeToString()
    assert again.manifest_entry() == model.manifest_entry()


def test_manifest_entry_is_json_safe(fitted):
    model, _ = fitted
    entry = json.loads(json.dumps(model.manifest_entry()))
    assert entry["file"] == "anomaly.onnx"
    assert entry["outputs"] == ["anomaly_score", "anomaly_flag"]
    assert entry["contamination"] == 0.01
    assert entry["parameters"]["n_estimators"] == 100
    assert entry["threshold"]["score_samples_offset"] == model.offset_
    assert entry["train_anomaly_rate"] == model.train_anomaly_rate_


def test_unfitted_preprocessor_is_cloned_and_fitted(data):
    raw = RawPreprocessor(FEATURES)
    model = AnomalyModel(raw, n_estimators=20, seed=SEED).fit(data[0].iloc[:2000])
    assert not hasattr(raw, "medians_")
    assert model.preprocessor_ is not raw and hasattr(model.preprocessor_, "medians_")
    model.verify(model.to_onnx(), data[1].iloc[:500])
