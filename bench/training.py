"""Benchmark: train the whole model suite on synthetic rows, with per-stage timings.

    .venv/bin/python bench/training.py --rows 200000 [--fresh 20000] [--family xgboost]

`--fresh N` also scores N fresh applicants (generate(N, seed=8): a table the training never saw)
with the published pd.onnx and reports their AUC; `--family` fixes the PD family (default: the
spec's, `auto`), to compare `auto` with one family on the same rows.

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
    parser.add_argument("--fresh", type=int, default=0)
    parser.add_argument("--family")
    args = parser.parse_args()
    spec = load_spec(ROOT / "training/specs/credit_default.yaml")
    if args.family:
        spec = spec.model_copy(update={"pd_model": spec.pd_model.model_copy(update={"family": args.family})})
    started = time.perf_counter()
    df = generate(rows=args.rows, seed=7)
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(spec, df, LocalStore(tmp), log=lambda *a: None)
        train_s = time.perf_counter() - t0
        fresh_auc = None
        if args.fresh:
            import onnx
            from sklearn.metrics import roc_auc_score

            from training.onnx.run import run_onnx

            m = result.manifest
            graph = onnx.load_from_string(LocalStore(tmp).read(f"{m['name']}/{m['version']}/pd.onnx"))
            fresh = generate(rows=args.fresh, seed=8)
            fresh_auc = float(roc_auc_score(fresh["default"], run_onnx(graph, spec.features, fresh)["pd"]))
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
    pd_entry = result.manifest["models"]["pd"]
    print(f"PD family {pd_entry['family']} ({pd_entry['selection']}); candidates: "
          + ", ".join(f"{c['family']} {c['selection_auc']:.4f}" for c in pd_entry["candidates"]))
    if fresh_auc is not None:
        print(f"Fresh applicants ({args.fresh:,}, generate seed 8): AUC {fresh_auc:.4f}")
    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "training.json").write_text(json.dumps({"rows": args.rows, "train_s": train_s, "stages": stages,
                                                   "family": pd_entry["family"], "fresh_auc": fresh_auc,
                                                   "date": str(date.today())}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
