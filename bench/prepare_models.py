"""Data and models for bench/serving.py: a synthetic applicant table, our ONNX bundle
(`training.train.train` into a local model store) and the conventional joblib pipeline
(bench/alternative/train_alternative.py), both trained on the same rows, spec and split.

    .venv/bin/python bench/prepare_models.py --dir /tmp/bench [--rows 50000] [--seed 7]

Writes DIR/data.parquet, DIR/store/, DIR/alternative.joblib and DIR/prepared.json. It runs in
its own process so that the benchmark client never imports pandas, xgboost or onnxruntime
(which would share pages with the servers it measures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "alternative"))

import pandas as pd  # noqa: E402

from riskscore.io.store import LocalStore  # noqa: E402
from train_alternative import train_alternative  # noqa: E402
from training.data.spec import load_spec  # noqa: E402
from training.data.synthetic import generate  # noqa: E402
from training.train import train  # noqa: E402

SPEC = ROOT / "training" / "specs" / "credit_default.yaml"


def prepare(out_dir: Path, rows: int, seed: int, log=print) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    data = out_dir / "data.parquet"
    generate(rows=rows, seed=seed).to_parquet(data)
    raw = pd.read_parquet(data)
    log(f"generated {len(raw):,} rows (seed {seed}) -> {data}")
    spec = load_spec(SPEC)
    store = LocalStore(out_dir / "store")
    result = train(spec, raw, store, log=lambda msg: log("  [ours] " + msg))
    m = result.manifest
    pd_model = m["models"]["pd"]
    # Our trees when `auto` chose XGBoost; else the alternative finds its own by early stopping.
    trees = int(pd_model["best_iteration"]) + 1 if "best_iteration" in pd_model else None
    alt = train_alternative(spec, raw, out_dir / "alternative.joblib", n_estimators=trees,
                            log=lambda msg: log("  [alternative] " + msg))
    prepared = {
        "rows": len(raw), "seed": seed, "spec": str(SPEC.relative_to(ROOT)),
        "ours": {"store": str(out_dir / "store"), "model_name": spec.name, "version": m["version"],
                 "family": pd_model["family"], "trees": trees, "test_auc": m["metrics"]["test"]["auc"], "onnx_models": sorted(m["models"]),
                 "bundle_bytes": sum(f["bytes"] for f in m["files"].values())},
        "alternative": {"path": alt["path"], "trees": alt["n_estimators"], "test_auc": alt["test_auc"],
                        "bytes": alt["bytes"]},
        "prepare_s": round(time.perf_counter() - clock, 1),
    }
    (out_dir / "prepared.json").write_text(json.dumps(prepared, indent=2))
    return prepared


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(prepare(args.dir, args.rows, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
