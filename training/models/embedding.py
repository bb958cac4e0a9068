"""Applicant embedding: a small tanh autoencoder on the standardized preprocessed matrix.

No deep-learning framework: scikit-learn's MLPRegressor with hidden layers
(hidden, latent_dim, hidden) learns to reproduce its own standardized input. The exported
graph takes the raw named columns and returns
  `embedding`            [N, latent_dim] float32: the bottleneck (second hidden layer)
                         activations, each in (-1, 1); similar applicants lie close together;
  `reconstruction_error` [N] float32: mean over matrix columns of (standardized input -
                         reconstruction)^2; large for applicants unlike the training rows
                         (compare with `manifest_entry()["train_reconstruction_error"]`).
skl2onnx converts the StandardScaler and the network. Its MLP converter returns only the
network's output, not a hidden layer, so the fitted autoencoder is split into two
MLPRegressors sharing its weights, an encoder (the layers up to the bottleneck, tanh output)
and a decoder (the rest, identity output), each converted as it stands; the decoder reads the
encoder's output, so no layer is computed twice. Everything runs in float64, as the network
was fitted (in float32 the wide layers alone add ~1e-5 of rounding noise to the
reconstruction, the size of the parity tolerance); the two outputs are cast to float32.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from riskscore.errors import ExportVerificationError

from training.onnx.converters import MATRIX64, matrix64_parts, sklearn_parts
from training.onnx.graph import GraphParts, const, expose_outputs, make_model
from training.onnx.preprocess import fitted_preprocessor
from training.onnx.run import run_onnx

FIT_ROWS = 50_000  # enough for 31 inputs and ~2.5k weights; keeps the fit to a few seconds
PARITY_TOLERANCE = 1e-5  # absolute for embeddings (in (-1, 1)); relative above 1 for the rest
FILE = "embedding.onnx"
OUTPUTS = ["embedding", "reconstruction_error"]
SCALED = "ae_scaled64"
BOTTLENECK = 2  # layers up to the embedding: input -> hidden -> latent


class EmbeddingModel(TransformerMixin, BaseEstimator):
    """fit(X) on raw columns; transform(X) gives the native embedding.

    Learned: preprocessor_, scaler_ (standardization of the float64 matrix), mlp_ (the
    autoencoder), encoder_ and decoder_ (its two halves, sharing its weights), n_fit_rows_,
    n_iter_, validation_r2_ (scikit-learn's early-stopping score), train_error_ (distribution
    of the reconstruction error over the training rows).
    """

    key = "embedding"

    def __init__(self, preprocessor=None, latent_dim: int = 8, hidden: int = 32, seed: int = 0,
                 max_iter: int = 120, fit_rows: int = FIT_ROWS, batch_size: int = 512,
                 learning_rate_init: float = 3e-3):
        self.preprocessor = preprocessor
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.seed = seed
        self.max_iter = max_iter
        self.fit_rows = fit_rows
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init

    # --- fitting --------------------------------------------------------------------------

    def fit_version(self, data) -> "EmbeddingModel":
        """The export protocol's fit (training/models/protocol.py): the training split."""
        return self.fit(data.parts["train"])

    def fit(self, X: pd.DataFrame, y=None):
        self.preprocessor_ = fitted_preprocessor(self.preprocessor, X)
        matrix = self.preprocessor_.transform(X).astype(np.float64)
        self.scaler_ = StandardScaler().fit(matrix)
        scaled = self.scaler_.transform(matrix)
        rng = np.random.default_rng(self.seed)
        idx = np.sort(rng.choice(len(scaled), size=min(self.fit_rows, len(scaled)), replace=False))
        self.mlp_ = MLPRegressor(hidden_layer_sizes=(self.hidden, self.latent_dim, self.hidden),
                                 activation="tanh", solver="adam", batch_size=self.batch_size,
                                 learning_rate_init=self.learning_rate_init, max_iter=self.max_iter,
                                 early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
                                 random_state=self.seed)
        # Tiny matrices: one BLAS thread is faster than two and gives the same result every run.
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a time budget
            # float64 weights: the graph then runs the network in double and matches it to ~1e-7
            # after the final cast, instead of to the ~1e-5 float32 noise of the wide layers.
            self.mlp_.fit(scaled[idx], scaled[idx])
        if self.mlp_.out_activation_ != "identity" or self.mlp_.activation != "tanh":
            raise ValueError("the embedding assumes tanh hidden layers and an identity output")
        self.encoder_ = _sub_network(self.mlp_, 0, BOTTLENECK, self.mlp_.activation)
        self.decoder_ = _sub_network(self.mlp_, BOTTLENECK, len(self.mlp_.coefs_), self.mlp_.out_activation_)
        self.n_fit_rows_ = int(len(idx))
        self.n_iter_ = int(self.mlp_.n_iter_)
        self.validation_r2_ = float(self.mlp_.best_validation_score_)
        err = self._error(scaled, self.mlp_.predict(scaled))
        self.train_error_ = {"rows": int(len(err)), "mean": float(err.mean()),
                             **{f"p{q}": float(np.percentile(err, q)) for q in (50, 90, 95, 99)},
                             "max": float(err.max())}
        return self

    # --- native predictions ---------------------------------------------------------------

    def _scaled(self, X: pd.DataFrame) -> np.ndarray:
        return self.scaler_.transform(self.preprocessor_.transform(X).astype(np.float64))

    def _embed(self, scaled: np.ndarray) -> np.ndarray:
        return self.encoder_.predict(scaled)

    @staticmethod
    def _error(scaled: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
        diff = scaled - reconstruction.astype(np.float64)
        return np.mean(diff * diff, axis=1)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self._embed(self._scaled(X))

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        scaled = self._scaled(X)
        reconstruction = self.mlp_.predict(scaled)
        return {"embedding": self._embed(scaled), "reconstruction": reconstruction,
                "reconstruction_error": self._error(scaled, reconstruction)}

    # --- export ---------------------------------------------------------------------------

    def _network_parts(self) -> GraphParts:
        """`features64` -> scaler, encoder, decoder (skl2onnx, float64) -> the two outputs."""
        n = len(self.preprocessor_.columns_)
        parts = (matrix64_parts()
                 .extend(sklearn_parts(self.scaler_, n, "ae_scaler_", {"variable": SCALED},
                                       input_name=MATRIX64, double=True))
                 .extend(_mlp_parts(self.encoder_, SCALED, "ae_encoder_", "ae_embedding64"))
                 .extend(_mlp_parts(self.decoder_, "ae_embedding64", "ae_decoder_", "ae_reconstruction")))
        # The reconstruction error is not a model's output: mean((scaled - reconstruction)^2).
        nodes = [helper.make_node("Cast", ["ae_embedding64"], ["embedding"], to=TensorProto.FLOAT),
                 helper.make_node("Sub", [SCALED, "ae_reconstruction"], ["ae_diff"]),
                 helper.make_node("Mul", ["ae_diff", "ae_diff"], ["ae_sq"]),
                 helper.make_node("ReduceMean", ["ae_sq"], ["ae_error64"], axes=[1], keepdims=0),
                 helper.make_node("Cast", ["ae_error64"], ["reconstruction_error"], to=TensorProto.FLOAT)]
        outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, self.latent_dim]),
                   helper.make_tensor_value_info("reconstruction_error", TensorProto.FLOAT, [None])]
        return parts.extend(GraphParts(nodes, [], outputs))

    def to_onnx(self) -> onnx.ModelProto:
        parts = self.preprocessor_.graph_parts().extend(self._network_parts())
        return make_model(self.preprocessor_.features, parts,
                          f"applicant embedding: tanh autoencoder {self.mlp_.hidden_layer_sizes}")

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        """Compare the graph with the native network on real rows; raise on any mismatch.

        embedding: max abs diff <= 1e-5 (values lie in (-1, 1)). reconstruction (the
        graph's internal float64 `ae_reconstruction` against `mlp_.predict`) and
        reconstruction_error: |onnx - native| <= 1e-5 * max(1, |native|), i.e. absolute
        below 1 and relative above: the error of an extreme applicant reaches 1e5 and more,
        and its float32 output carries ~6e-8 relative rounding.
        """
        inspect = expose_outputs(onnx_model, {"ae_reconstruction": TensorProto.DOUBLE})
        out = run_onnx(inspect, self.preprocessor_.features, X)
        native = self.predict_native(X)
        emb_diff = _max_abs(out["embedding"], native["embedding"])
        rec_diff = _max_scaled(out["ae_reconstruction"], native["reconstruction"])
        err_diff = _max_scaled(out["reconstruction_error"], native["reconstruction_error"])
        report = {"rows": int(len(X)), "embedding_max_abs_diff": emb_diff,
                  "reconstruction_max_scaled_diff": rec_diff,
                  "reconstruction_error_max_scaled_diff": err_diff,
                  "reconstruction_error_max_abs_diff": _max_abs(out["reconstruction_error"],
                                                                native["reconstruction_error"]),
                  "tolerance": PARITY_TOLERANCE,
                  "scaled_diff": "|onnx - native| / max(1, |native|)"}
        bad = {k: v for k, v in (("embedding", emb_diff), ("reconstruction", rec_diff),
                                 ("reconstruction_error", err_diff)) if not v <= PARITY_TOLERANCE}
        if out["embedding"].shape != (len(X), self.latent_dim):
            bad["embedding shape"] = float("nan")
        if bad:
            raise ExportVerificationError(
                "embedding ONNX export differs from the native autoencoder: "
                + ", ".join(f"{k} {v:.3g}" for k, v in bad.items()) + f" (tolerance {PARITY_TOLERANCE})")
        return report

    def evaluate(self, onnx_model: onnx.ModelProto, ev) -> None:
        """Nothing beyond parity: the embedding is an input to other models, not a figure."""

    def manifest_entry(self) -> dict:
        return {
            "file": FILE, "outputs": list(OUTPUTS),
            "method": "tanh autoencoder (scikit-learn MLPRegressor) on the standardized feature matrix",
            "parameters": {"latent_dim": int(self.latent_dim), "hidden": int(self.hidden),
                           "layers": [int(v) for v in self.mlp_.hidden_layer_sizes], "seed": int(self.seed),
                           "max_iter": int(self.max_iter), "batch_size": int(self.batch_size),
                           "learning_rate_init": float(self.learning_rate_init), "fit_rows": self.n_fit_rows_,
                           "epochs": self.n_iter_},
            "validation_r2": self.validation_r2_,
            "reconstruction_error": "mean over matrix columns of (standardized value - reconstruction)^2",
            "train_reconstruction_error": dict(self.train_error_),
            "thresholds": {"unusual_p99": self.train_error_["p99"]},
        }


def _sub_network(mlp: MLPRegressor, start: int, stop: int, out_activation: str) -> MLPRegressor:
    """Layers start..stop-1 of a fitted MLPRegressor as a fitted MLPRegressor of its own (the
    same weight arrays), whose output activation is `out_activation`."""
    coefs, intercepts = mlp.coefs_[start:stop], mlp.intercepts_[start:stop]
    net = MLPRegressor(hidden_layer_sizes=tuple(w.shape[1] for w in coefs[:-1]), activation=mlp.activation)
    net.coefs_, net.intercepts_ = list(coefs), list(intercepts)
    net.n_layers_ = len(coefs) + 1
    net.n_outputs_ = int(coefs[-1].shape[1])
    net.n_features_in_ = int(coefs[0].shape[0])
    net.out_activation_ = out_activation
    return net


def _mlp_parts(net: MLPRegressor, input_name: str, prefix: str, output: str) -> GraphParts:
    """skl2onnx's float64 conversion of `net`, [N, outputs] again: skl2onnx 1.20 reshapes every
    MLPRegressor's output to [-1, 1], which flattens a multi-output network to [N * outputs, 1]
    row by row (tests/training/onnx/test_converters.py); reshaping back restores it exactly."""
    flat = f"{prefix}flat"
    converted = sklearn_parts(net, net.n_features_in_, prefix, {"variable": flat}, input_name=input_name,
                              double=True)
    shape = f"{prefix}shape"
    return converted.extend(GraphParts([helper.make_node("Reshape", [flat, shape], [output])],
                                       [const(shape, np.array([-1, net.n_outputs_], dtype=np.int64))], []))


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def _max_scaled(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    b = b.astype(np.float64)
    return float(np.max(np.abs(a.astype(np.float64) - b) / np.maximum(1.0, np.abs(b))))
