"""The serving graph: the models that run on every request, combined into one ONNX model at
training time, so that no instance combines them at its cold start.

`riskscore.model.graphs.combine` is what serving would otherwise run at every load (about 12 ms of
CPU in pure Python on the bench's bundle, docs/benchmarks.md). Here it runs once, and its
result is verified like every export: on real rows, under both graph optimization levels
serving uses ("basic" for `score`, "all" for batch chunks), every output of the combined model
must equal the separate graph's output bit for bit, or training fails. The manifest entry
names the models it holds and their outputs; serving uses the file only when that list is
exactly the per-request models it would combine (`riskscore.model.sessions.Model`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskscore.model import graphs
from riskscore.errors import ExportVerificationError
from riskscore.model.sessions import ON_DEMAND, build_session
from riskscore.settings import ScoreSettings

from training.onnx.run import onnx_inputs

FILE = "serving.onnx"
# build_session's optimization levels: "basic" for `score`, "all" for batch chunks.
LEVELS = ("basic", "all")


def serving_graph(files: dict[str, bytes], features, rows: pd.DataFrame) -> tuple[bytes, dict] | None:
    """(the combined model, its manifest entry) for the per-request models among `files`
    ({model: serialized graph}), verified on `rows`; None when there is nothing to combine or
    the graphs cannot be combined (serving then runs one session per model, as verified).
    Raises ExportVerificationError if the combined model answers differently."""
    every_request = {name: data for name, data in files.items() if name not in ON_DEMAND}
    if len(every_request) < 2:
        return None
    try:
        combined, outputs = graphs.combine(every_request)
    except graphs.CombineError:
        return None
    feeds = onnx_inputs(rows, features)
    for level in LEVELS:
        together = _run(combined, feeds, level)
        for name, data in every_request.items():
            for output, value in _run(data, feeds, level).items():
                if not _same(value, together[output]):
                    raise ExportVerificationError(
                        f"the combined serving graph differs from {name}.onnx in {output!r} "
                        f"(graph optimization {level!r})")
    entry = {"file": FILE, "models": sorted(every_request), "outputs": outputs,
             "verified": {"rows": int(len(rows)), "optimization_levels": list(LEVELS), "equal": "bit for bit"}}
    return combined, entry


def _run(graph: bytes, feeds: dict[str, np.ndarray], level: str) -> dict[str, np.ndarray]:
    """Every output of `graph`, in a session built as serving builds it."""
    session = build_session(graph, ScoreSettings(), level)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))
