"""Benchmark: the Dataflow pipeline on Beam's DirectRunner next to batch_score's own job
(`python -m riskscore.batch`), on the same rows, Parquet to Parquet, in one run.

    .venv-beam/bin/python bench/dataflow.py --dir /tmp/bench-dataflow [--rows 1000000] [--rounds 2]

Runs in .venv-beam (`make bench-dataflow`): both jobs use its interpreter, so they differ only
in the engine. Each job is its own process (wall, CPU incl. children and peak RSS from wait4,
load average at the start), alternating the order per round:

  batch         python -m riskscore.batch (2 chunks in flight, BATCH_WORKERS=2)
  direct-1      python -m dataflow --runner DirectRunner (in-memory: one process)
  direct-2proc  python -m dataflow --runner DirectRunner --direct_running_mode multi_processing
                --direct_num_workers 2 (one SDK process per core, as Dataflow runs a worker)

Rows per CPU-second of the pipeline is the per-core rate docs/benchmarks.md sizes Dataflow from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from batch import make_data, timed  # noqa: E402  (the batch benchmark's data and timing)

PY = sys.executable


def prepare(work: Path) -> Path:
    """A model store trained on 50,000 synthetic rows (seed 7), as the batch benchmark's."""
    store = work / "store"
    if not store.exists():
        code = f"""
import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'functions')!r}]
from riskscore.io.store import LocalStore
from training.data.spec import load_spec
from training.data.synthetic import generate
from training.train import train
spec = load_spec({str(ROOT / 'training' / 'specs' / 'credit_default.yaml')!r})
train(spec, generate(50_000, 7), LocalStore({str(store)!r}), log=lambda *a, **k: None)
"""
        timed([PY, "-c", code])
    return store


def jobs(work: Path, data: Path, store: Path) -> dict[str, list[str]]:
    common = ["--input", str(data), "--run-date", "2026-11-22", "--model-store", str(store)]
    return {
        "batch": [PY, "-m", "riskscore.batch", *common, "--output", str(work / "out_batch"), "--quiet"],
        "direct-1": [PY, "-m", "dataflow", *common, "--output", str(work / "out_direct1"), "--runner", "DirectRunner"],
        "direct-2proc": [PY, "-m", "dataflow", *common, "--output", str(work / "out_direct2"), "--runner",
                         "DirectRunner", "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-dataflow"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    data = args.dir / f"input_{args.rows}.parquet"
    make_data(data, args.rows)
    store = prepare(args.dir)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions")])
    commands = jobs(args.dir, data, store)
    results = []
    for r in range(args.rounds):
        order = list(commands.items())
        for name, cmd in (order if r % 2 == 0 else order[::-1]):
            m = timed(cmd)
            m.pop("stdout")
            m.update(round=r + 1, job=name, rows=args.rows, rows_per_s=args.rows / m["wall_s"],
                     rows_per_cpu_s=args.rows / m["cpu_s"])
            print(f"  round {r + 1} {name:13s} {m['rows_per_s']:>9,.0f} rows/s  {m['rows_per_cpu_s']:>9,.0f} rows/CPU-s"
                  f"  {m['wall_s']:6.1f} s  CPU {m['cpu_s'] / m['wall_s']:.2f} cores  peak RSS "
                  f"{m['peak_rss_mib']:,.0f} MiB  load {m['load_1m']:.1f}", flush=True)
            results.append(m)
    by = {}
    for m in results:
        by.setdefault(m["job"], []).append(m)
    best = {job: max(ms, key=lambda m: m["rows_per_s"]) for job, ms in by.items()}
    for job in ("direct-1", "direct-2proc"):
        print(f"  {job} / batch: wall {best[job]['rows_per_s'] / best['batch']['rows_per_s']:.2f}x, "
              f"per CPU-second {best[job]['rows_per_cpu_s'] / best['batch']['rows_per_cpu_s']:.2f}x")
    (args.dir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
