"""Running an exported graph in training exactly as serving runs it: sessions come from
serving's own builder (`riskscore.scorer.build_session`, its default settings), so every
parity check covers the session configuration that scores in production."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd

from riskscore.scorer import build_session
from riskscore.settings import ScoreSettings

def onnx_inputs(df: pd.DataFrame, features) -> dict[str, np.ndarray]:
    """Feed dict for a raw-column graph: float32 [N, 1] numeric, str [N, 1] categorical
    (missing as the empty string, exactly what the score function sends)."""
    feeds = {}
    for f in features:
        col = df[f.name]
        if f.type == "numeric":
            feeds[f.name] = col.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            values = col.astype(str).to_numpy(dtype=object)  # str(v) of every value, vectorized
            values[col.isna().to_numpy()] = ""
            feeds[f.name] = values.reshape(-1, 1)
    return feeds


def session(graph: bytes):
    """An onnxruntime session for `graph` (serialized), configured as serving configures it."""
    return build_session(graph, ScoreSettings())


def run_onnx(onnx_model: onnx.ModelProto, features, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every output of an exported graph on the raw rows `X`."""
    sess = session(onnx_model.SerializeToString())
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, onnx_inputs(X, features))))
