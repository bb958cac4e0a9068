"""Benchmark: a drift check over 1,000,000 logged predictions (target: <= 15 s on 2 cores).

    .venv/bin/python bench/drift.py [--rows 1000000] [--out bench/out/drift]

Prepares once (cached under --out): a model version whose drift baseline is frozen from the
synthetic generator, and a prediction log of `--rows` fresh rows written exactly as `score`
writes it (features, outputs with four reason codes, one day). Then, side by side in one run:

1. read only: the prediction log parsed into Arrow record batches (the floor: JSON parsing);
2. the full drift check (`riskscore.drift.report.run`): read + bins, tests, backtest-free
   report, page, index, warehouse row;
3. the same check over a batch output (Parquet, outputs and outcomes, with the backtest).

Each is timed `--repeat` times (best and median). The machine is shared: the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import drift_data as dd  # noqa: E402
from riskscore.drift.report import run  # noqa: E402
from riskscore.drift.sources import Columns, open_source  # noqa: E402
from riskscore.settings import DriftSettings  # noqa: E402
from riskscore.io.store import LocalStore  # noqa: E402

REASON_TEXT = ("Number of payments 30-59 days late in the last two years: 1, which raises the estimated "
               "risk of default")


def prepare(out: Path, rows: int) -> tuple[Path, Path, Path]:
    store, log, batch = out / "models", out / f"predictions_{rows}.jsonl", out / f"batch_{rows}"
    if not (store / dd.MODEL / "current.json").exists():
        shutil.rmtree(store, ignore_errors=True)
        dd.make_version(LocalStore(store))
    if not log.exists() or not batch.exists():
        df = dd.scored_rows(rows, seed=11)
        if not log.exists():
            tmp = log.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                for record in dd.records(df):
                    record["outputs"]["reasons"] = [{"feature": "late_30_59", "value": 1.0, "contribution": 0.38,
                                                     "text": REASON_TEXT}] * 4
                    record["outputs"] |= {"segment": {"id": 3, "name": "Subprime: low age"},
                                          "anomaly": {"score": -0.09, "flag": False}, "expected_loss": 409.1,
                                          "exposure": 12000.0, "lgd": 0.43}
                    fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            tmp.rename(log)
        if not batch.exists():
            dd.write_batch_output(batch, df)
    return store, log, batch


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "drift"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store, log, batch = prepare(out, args.rows)
    print(f"prepared in {time.perf_counter() - t0:.1f}s: {log} ({log.stat().st_size / 1e6:.0f} MB)")
    settings = DriftSettings(model_store=str(store), reports_dir=str(out / "reports"))
    body = {"start": dd.DAY.isoformat()}
    columns = Columns(features={f.name: f.type for f in dd.SPEC.features}, target=dd.SPEC.target)

    def read_only():
        return sum(b.num_rows for b in open_source(str(log)).batches(columns, dd.DAY, dd.DAY))

    results = [("read the log only (Arrow JSON)", *timed(read_only, args.repeat)),
               ("drift check, prediction log", *timed(lambda: run(settings, {**body, "source": str(log)}),
                                                      args.repeat)),
               ("drift check, batch output + backtest",
                *timed(lambda: run(settings, {**body, "source": str(batch)}), args.repeat))]
    floor = results[0][1]
    print(f"\nrows={args.rows:,} cpus={os.cpu_count()} load average={os.getloadavg()[0]:.1f} "
          f"repeat={args.repeat}")
    print(f"{'what':40s} {'best s':>8s} {'median s':>9s} {'rows/s':>12s} {'/ read':>7s}")
    for name, best, median, result in results:
        rows = result if isinstance(result, int) else result["rows"]
        print(f"{name:40s} {best:8.2f} {median:9.2f} {rows / best:12,.0f} {best / floor:7.2f}")
    report = results[1][3]
    print(f"\nprediction-log report: status={report['status']} rows={report['rows']:,}")


if __name__ == "__main__":
    main()
