"""Benchmark: train the whole model suite on synthetic rows, with per-stage timings.

    .venv/bin/python bench/training.py --rows 200000

Target (model-suite issue): <= 3 minutes in all on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riskscore.io.store import LocalStore  # noqa: E402
from training.data.spec import load_spec  # noqa: E402
from training.data.synthetic import generate  # noqa: E402
from training.train import train  # noqa: E402

TARGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    spec = load_spec(ROOT / "training/specs/credit_default.yaml")
    started = time.perf_counter()
    df = generate(rows=args.rows, seed=7)
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(spec, df, LocalStore(tmp), log=lambda *a: None)
        train_s = time.perf_counter() - t0
    stages = dict(result.timings_s)
    print(f"## Training the whole suite on {args.rows:,} rows ({date.today()})\n")
    print(f"Command: `.venv/bin/python bench/training.py --rows {args.rows}`\n")
    print("| stage | seconds |\n|---|---:|")
    for name, seconds in stages.items():
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **train() total** | **{train_s:.1f}** |")
    print(f"| (data generation, not part of training) | {generate_s:.1f} |")
    verdict = "meets" if train_s <= TARGET_S else "MISSES"
    print(f"\nTotal {train_s:.1f} s: {verdict} the target of {TARGET_S:.0f} s "
          f"({train_s / TARGET_S:.2f} of the budget). Test AUC {result.manifest['metrics']['test']['auc']:.4f}.")
    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "training.json").write_text(json.dumps({"rows": args.rows, "train_s": train_s, "stages": stages,
                                                   "date": str(date.today())}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
