"""Benchmark: in-process scoring latency of the full decision (all five ONNX models, reasons,
explanation), without HTTP: the part of a request the function itself controls.

    .venv/bin/python bench/inprocess.py [--store models] [--requests 20000]

Target (score-function issue): p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))

from riskscore.model.scorer import Scorer  # noqa: E402
from riskscore.settings import ScoreSettings  # noqa: E402

EXAMPLES = [
    {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
     "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
     "dependents": 2, "housing": None, "employment_type": None, "loan_purpose": None},
    {"revolving_utilization": 0.98, "age": 22, "late_30_59": 3, "late_60_89": 2, "late_90_plus": 4,
     "debt_ratio": 1.0, "monthly_income": 1500, "open_credit_lines": 12, "real_estate_loans": 0,
     "dependents": 3, "housing": "rent", "employment_type": "salaried", "loan_purpose": "car"},
]


def ensure_store(path: str | None) -> str:
    if path:
        return path
    sys.path.insert(0, str(ROOT))
    from riskscore.io.store import LocalStore
    from training.data.spec import load_spec
    from training.data.synthetic import generate
    from training.train import train

    tmp = tempfile.mkdtemp()
    train(load_spec(ROOT / "training/specs/credit_default.yaml"), generate(50_000, 7), LocalStore(tmp),
          log=lambda *a: None)
    return tmp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", help="model store with a current version (default: train one on 50k rows)")
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    scorer = Scorer(ScoreSettings(model_store=ensure_store(args.store)))
    scorer.ensure_loaded()
    for i in range(500):  # warm-up
        scorer.score(EXAMPLES[i % 2], 10_000)
    gc.collect()
    lat = np.empty(args.requests)
    for i in range(args.requests):
        t = time.perf_counter()
        scorer.score(EXAMPLES[i % 2], 10_000)
        lat[i] = time.perf_counter() - t
    p50, p99, p999 = (np.percentile(lat, q) * 1000 for q in (50, 99, 99.9))
    print(f"## In-process scoring, full decision ({date.today()})\n")
    print(f"Command: `.venv/bin/python bench/inprocess.py --requests {args.requests}`\n")
    print("| requests | p50 (ms) | p99 (ms) | p99.9 (ms) | mean (ms) |\n|---:|---:|---:|---:|---:|")
    print(f"| {args.requests:,} | {p50:.3f} | {p99:.3f} | {p999:.3f} | {lat.mean() * 1000:.3f} |")
    print(f"\np99 {p99:.3f} ms: {'meets' if p99 <= 1.0 else 'MISSES'} the 1 ms target.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
