"""Running an exported graph in training exactly as serving runs it: sessions come from
serving's own builder (`riskscore.model.sessions.build_session`, its default settings), so every
parity check covers the session configuration that scores in production."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd

from riskscore.model.feeds import frame_feeds as onnx_inputs
from riskscore.model.sessions import build_session
from riskscore.settings import ScoreSettings

__all__ = ["onnx_inputs", "run_onnx", "session"]


def session(graph: bytes):
    """An onnxruntime session for `graph` (serialized), configured as serving configures it."""
    return build_session(graph, ScoreSettings())


def run_onnx(onnx_model: onnx.ModelProto, features, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every output of an exported graph on the raw rows `X`."""
    sess = session(onnx_model.SerializeToString())
    names = [o.name for o in sess.get_outputs()]
    # a graph with derived features compiled in takes only the raw ones of `features`
    wanted = {i.name for i in sess.get_inputs()}
    feeds = onnx_inputs(X, [f for f in features if f.name in wanted])
    return dict(zip(names, sess.run(names, feeds)))
