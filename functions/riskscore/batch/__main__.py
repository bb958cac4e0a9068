"""Command line for batch scoring: the same code path as the `batch_score` function.

    python -m riskscore.batch --input data/applicants.parquet --output out/ [--run-date 2026-11-22]
        [--model-store models] [--model-name credit_default] [--model-version v…]
    python -m riskscore.batch --query "SELECT … FROM `p.d.t`" --output bq://p.d.batch_scores

Settings not given as flags come from the environment, as for the function (MODEL_STORE,
BATCH_CHUNK_ROWS, …). Shows a progress bar (rows, rows/s) on stderr and a summary table at
the end; exits 2 with a clear message (and nothing written) for a missing or unusable input
or output, 1 if the model store cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from riskscore.errors import RiskScoreError
from riskscore.settings import BatchSettings


class ProgressBar:
    """One self-overwriting line: rows read, rows/s, rejects so far."""

    def __init__(self, stream=sys.stderr, every_s: float = 0.5):
        self.stream, self.every_s = stream, every_s
        self.started = self.last = time.perf_counter()

    def __call__(self, rows_in: int, rows_scored: int, rows_rejected: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        rate = rows_in / max(now - self.started, 1e-9)
        self.stream.write(f"\r  {rows_in:>13,} rows  {rate:>11,.0f} rows/s  {rows_rejected:>9,} rejected"
                          + ("\n" if final else ""))
        self.stream.flush()


def summary_table(summary: dict) -> str:
    width = max(len(k) for k in summary)
    lines = []
    for key, value in summary.items():
        shown = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskscore.batch", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="bq://project.dataset.table, gs://bucket/path or a local file/folder")
    source.add_argument("--query", help="BigQuery SQL whose result is the input")
    parser.add_argument("--output", required=True, help="bq://project.dataset.table, gs://bucket/prefix or a local folder")
    parser.add_argument("--run-date", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--model-store", help="local folder or gs://bucket/prefix (default: MODEL_STORE)")
    parser.add_argument("--model-name")
    parser.add_argument("--model-version", help="pin a version (default: current.json at the start)")
    parser.add_argument("--chunk-rows", type=int, help="rows per chunk (default: BATCH_CHUNK_ROWS)")
    parser.add_argument("--workers", type=int, help="chunks scored at once (default: BATCH_WORKERS)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from riskscore.batch.job import today
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run

    overrides = {"model_store": args.model_store, "model_name": args.model_name,
                 "model_version": args.model_version, "batch_chunk_rows": args.chunk_rows,
                 "batch_workers": args.workers}
    settings = BatchSettings.from_env().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings = BatchSettings.model_validate(settings.model_dump())  # validate the flags too
    progress = None if args.quiet else ProgressBar()
    try:
        model = PinnedModels(settings).pin()
        summary = run({"query": args.query} if args.query else args.input, args.output,
                      args.run_date or today(), model, settings, progress=progress)
    except RiskScoreError as exc:
        if progress:
            sys.stderr.write("\n")
        print(f"error: {exc.message}", file=sys.stderr)
        for d in exc.details:
            print(f"  {d.get('field')}: {d.get('problem')}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    if progress:
        progress(summary["rows_in"], summary["rows_scored"], summary["rows_rejected"], final=True)
    print(summary_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
