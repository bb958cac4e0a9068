"""EmbeddingModel: a tanh autoencoder exported to one raw-column ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto

from support.onnx_helpers import EXTREME, FEATURES, TYPICAL, assert_raw_column_inputs, tampered
from riskscore.errors import ExportVerificationError
from training.models.embedding import PARITY_TOLERANCE, EmbeddingModel
from training.onnx.graph import expose_outputs
from training.onnx.preprocess import RawPreprocessor
from training.onnx.run import run_onnx

SEED = 11


@pytest.fixture(scope="module")
def fitted(data, preprocessor):
    model = EmbeddingModel(preprocessor, seed=SEED).fit(data[0])
    return model, model.to_onnx()


def test_parity_with_native_network(fitted, data):
    model, onnx_model = fitted
    test = data[1]
    report = model.verify(onnx_model, test)
    assert report["rows"] == len(test)
    assert report["embedding_max_abs_diff"] <= PARITY_TOLERANCE
    assert report["reconstruction_max_scaled_diff"] <= PARITY_TOLERANCE
    assert report["reconstruction_error_max_scaled_diff"] <= PARITY_TOLERANCE
    # the pieces, independently of verify(): reconstruction against MLPRegressor.predict,
    # the embedding against a numpy forward pass over the first two layers
    out = run_onnx(expose_outputs(onnx_model, {"ae_reconstruction": TensorProto.DOUBLE}), FEATURES, test)
    scaled = model._scaled(test)
    assert np.max(np.abs(out["ae_reconstruction"] - model.mlp_.predict(scaled))) <= 1e-9
    h = scaled.astype(np.float64)
    for W, b in zip(model.mlp_.coefs_[:2], model.mlp_.intercepts_[:2]):
        h = np.tanh(h @ W + b)
    assert np.max(np.abs(out["embedding"] - h)) <= 1e-6
    native_error = ((scaled - model.mlp_.predict(scaled)) ** 2).mean(axis=1)
    assert np.allclose(out["reconstruction_error"], native_error, rtol=1e-5, atol=1e-6)


def test_outputs_shapes(fitted, data):
    _, onnx_model = fitted
    out = run_onnx(onnx_model, FEATURES, data[1])
    assert out["embedding"].shape == (len(data[1]), 8) and out["embedding"].dtype == np.float32
    assert out["reconstruction_error"].shape == (len(data[1]),)
    assert np.all(np.abs(out["embedding"]) < 1) and np.all(out["reconstruction_error"] >= 0)


def test_onnx_takes_raw_named_columns(fitted):
    _, onnx_model = fitted
    assert_raw_column_inputs(onnx_model, FEATURES)
    outputs = {o.name: o.type.tensor_type.elem_type for o in onnx_model.graph.output}
    assert outputs == {"embedding": TensorProto.FLOAT, "reconstruction_error": TensorProto.FLOAT}


def test_extreme_applicant_reconstructs_worse(fitted):
    model, onnx_model = fitted
    out = run_onnx(onnx_model, FEATURES, pd.DataFrame([TYPICAL, EXTREME]))
    typical, extreme = out["reconstruction_error"]
    p99 = model.manifest_entry()["train_reconstruction_error"]["p99"]
    assert typical < p99 < extreme
    assert extreme > 100 * typical


def test_training_error_distribution(fitted, data):
    model, onnx_model = fitted
    dist = model.manifest_entry()["train_reconstruction_error"]
    assert dist["rows"] == len(data[0])
    assert 0 < dist["p50"] <= dist["p90"] <= dist["p95"] <= dist["p99"] <= dist["max"]
    assert dist["p50"] < dist["mean"]  # a right-skewed error
    train_error = run_onnx(onnx_model, FEATURES, data[0])["reconstruction_error"].astype(np.float64)
    assert train_error.mean() == pytest.approx(dist["mean"], rel=1e-5)
    assert np.percentile(train_error, 99) == pytest.approx(dist["p99"], rel=1e-5)
    assert 0.97 <= (train_error <= dist["p99"]).mean() <= 1.0


@pytest.mark.parametrize("name, change", [
    ("ae_encoder_coefficient", lambda a: a * 1.01),
    ("ae_decoder_intercepts1", lambda a: a + 1e-3),  # the last layer
    ("age__Imputer/imputed_value_floats", lambda a: a + np.float32(1.0)),  # the preprocessing part of the graph
])
def test_tampered_graph_fails_verification(fitted, data, name, change):
    model, onnx_model = fitted
    bad = tampered(onnx_model, name, change)
    test = data[1]
    if name == "age__Imputer/imputed_value_floats":
        test = test.assign(age=np.nan)  # the median only matters for missing values
    with pytest.raises(ExportVerificationError, match="embedding ONNX export differs"):
        model.verify(bad, test)


def test_deterministic_with_fixed_seed(fitted, data, preprocessor):
    model, onnx_model = fitted
    again = EmbeddingModel(preprocessor, seed=SEED).fit(data[0])
    assert again.to_onnx().SerializeToString() == onnx_model.SerializeToString()
    assert again.manifest_entry() == model.manifest_entry()


def test_manifest_entry_is_json_safe(fitted):
    model, _ = fitted
    entry = json.loads(json.dumps(model.manifest_entry()))
    assert entry["file"] == "embedding.onnx"
    assert entry["outputs"] == ["embedding", "reconstruction_error"]
    assert entry["parameters"]["latent_dim"] == 8 and entry["parameters"]["hidden"] == 32
    assert {"mean", "p50", "p99"} <= set(entry["train_reconstruction_error"])
    assert entry["thresholds"]["unusual_p99"] == entry["train_reconstruction_error"]["p99"]


def test_subsample_and_unfitted_preprocessor(data):
    raw = RawPreprocessor(FEATURES)
    model = EmbeddingModel(raw, latent_dim=3, hidden=12, seed=SEED, max_iter=5, fit_rows=1000).fit(data[0])
    assert not hasattr(raw, "medians_") and hasattr(model.preprocessor_, "medians_")
    assert model.n_fit_rows_ == 1000 and model.train_error_["rows"] == len(data[0])
    report = model.verify(model.to_onnx(), data[1].iloc[:300])
    assert report["embedding_max_abs_diff"] <= PARITY_TOLERANCE
    assert run_onnx(model.to_onnx(), FEATURES, data[1].iloc[:5])["embedding"].shape == (5, 3)
