"""Benchmark: the export-related training stages on their own, for before/after comparisons.

    .venv/bin/python bench/training_stages.py [--root DIR] [--rows 160000]

Times RawPreprocessor.fit, SegmentModel.fit and EmbeddingModel.fit on `rows` synthetic rows and
each export + verify on a quarter of them, importing the code under `--root` (default: this
checkout; pass an extracted older commit, e.g. `git archive REV | tar -x -C DIR`, and alternate
runs to compare side by side). Prints one JSON line of seconds per stage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--rows", type=int, default=160_000)
    args = parser.parse_args()
    sys.path[:0] = [args.root, f"{args.root}/functions"]
    from training.data.spec import load_spec
    from training.data.synthetic import generate
    from training.models.embedding import EmbeddingModel
    from training.models.segments import SegmentModel
    from training.onnx.preprocess import RawPreprocessor

    features = load_spec(f"{args.root}/training/specs/credit_default.yaml").features
    df = generate(args.rows, 7)
    check = df.iloc[: args.rows // 4]
    out = {}

    def timed(name, func):
        start = time.perf_counter()
        value = func()
        out[name] = round(time.perf_counter() - start, 3)
        return value

    pre = timed("preprocessing_fit", lambda: RawPreprocessor(features).fit(df))
    seg = timed("segment_fit", lambda: SegmentModel(pre, k=5, seed=0).fit(df, df["default"]))
    timed("segment_export_verify", lambda: seg.verify(seg.to_onnx(), check))
    emb = timed("embedding_fit", lambda: EmbeddingModel(pre, seed=0).fit(df))
    timed("embedding_export_verify", lambda: emb.verify(emb.to_onnx(), check))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
