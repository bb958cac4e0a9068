"""Benchmark: the hand-built anomaly graph against skl2onnx's IsolationForest converter.

    .venv/bin/python bench/converters.py --rows 100000 --repeats 5

Both graphs take the same raw columns through the same preprocessing (skl2onnx's
IsolationForest conversion is spliced after it exactly as the product splices converters), run
on one-thread sessions as the functions do, alternated within one run; the figure is the ratio
of their median times. It also reports the rows on which the converter's flag differs from
scikit-learn's (the exactness shortfall, tests/training/onnx/test_converters.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "functions"))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from training.data.spec import load_spec  # noqa: E402
from training.data.synthetic import generate  # noqa: E402
from training.models.anomaly import AnomalyModel  # noqa: E402
from training.onnx.converters import sklearn_parts  # noqa: E402
from training.onnx.graph import make_model  # noqa: E402
from training.onnx.preprocess import RawPreprocessor  # noqa: E402
from training.onnx.run import onnx_inputs  # noqa: E402


def session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    features = load_spec(ROOT / "training/specs/credit_default.yaml").features
    train = generate(rows=60_000, seed=7)
    rows = generate(rows=args.rows, seed=8)
    pre = RawPreprocessor(features).fit(train)
    model = AnomalyModel(pre, contamination=0.01, seed=7).fit(train)
    hand = model.to_onnx()
    parts = pre.graph_parts().extend(sklearn_parts(model.forest_, len(pre.columns_), "if_",
                                                   {"label": "label", "scores": "scores"}))
    parts.outputs += [helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
                      helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1])]
    converted = make_model(features, parts, "skl2onnx IsolationForest")
    feeds = onnx_inputs(rows, features)
    sessions = {"hand-built": session(hand), "skl2onnx": session(converted)}
    times = {name: [] for name in sessions}
    for _ in range(args.repeats):
        for name, s in sessions.items():
            start = time.perf_counter()
            out = s.run(None, feeds)
            times[name].append(time.perf_counter() - start)
    native = model.predict_native(rows)["anomaly_flag"]
    flags = {"hand-built": sessions["hand-built"].run(["anomaly_flag"], feeds)[0],
             "skl2onnx": (sessions["skl2onnx"].run(["label"], feeds)[0].ravel() == -1).astype(np.int64)}
    print(f"IsolationForest graph on {args.rows:,} rows, one-thread sessions, median of {args.repeats}:\n")
    print("| graph | seconds | rows/s | flags differing from scikit-learn |\n|---|---:|---:|---:|")
    for name in sessions:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} | {args.rows / med:,.0f} | {int(np.sum(flags[name] != native))} |")
    ratio = statistics.median(times["skl2onnx"]) / statistics.median(times["hand-built"])
    print(f"\nskl2onnx / hand-built time: {ratio:.2f}")
    del out
    return 0


if __name__ == "__main__":
    sys.exit(main())
