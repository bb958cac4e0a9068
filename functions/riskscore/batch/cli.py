"""What the two batch command lines share (`python -m riskscore.batch`, `python -m dataflow`):
the job's flags, settings from flags over the environment, errors and the summary table."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from riskscore.errors import RiskScoreError
from riskscore.settings import BatchSettings

__all__ = ["ProgressBar", "add_job_arguments", "job_source", "report_error", "settings_from", "summary_table"]


def add_job_arguments(parser: argparse.ArgumentParser, *, underscores: bool = False) -> None:
    """--input | --query, --output, --run-date, --model-store, --model-name, --model-version,
    --chunk-rows. With `underscores` each flag also takes its underscore form (`--run_date`)."""
    def names(flag: str) -> tuple[str, ...]:
        return (flag, flag.replace("-", "_").replace("__", "--", 1)) if underscores and flag.count("-") > 2 else (flag,)

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="bq://project.dataset.table, gs://bucket/path or a local file/folder")
    source.add_argument("--query", help="BigQuery SQL whose result is the input")
    parser.add_argument("--output", required=True, help="bq://project.dataset.table, gs://bucket/prefix or a local folder")
    parser.add_argument(*names("--run-date"), type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")
    parser.add_argument(*names("--model-store"), help="local folder or gs://bucket/prefix (default: MODEL_STORE)")
    parser.add_argument(*names("--model-name"))
    parser.add_argument(*names("--model-version"), help="pin a version (default: current.json at the start)")
    parser.add_argument(*names("--chunk-rows"), type=int, help="rows per chunk (default: BATCH_CHUNK_ROWS)")


def job_source(args: argparse.Namespace):
    """The job's input: the --query as {"query": …}, else the --input."""
    return {"query": args.query} if args.query else args.input


def settings_from(args: argparse.Namespace, **overrides) -> BatchSettings:
    """BatchSettings from the environment with the flags given (and `overrides`) on top, validated."""
    given = {"model_store": args.model_store, "model_name": args.model_name, "model_version": args.model_version,
             **overrides}
    settings = BatchSettings.from_env().model_copy(update={k: v for k, v in given.items() if v is not None})
    return BatchSettings.model_validate(settings.model_dump())  # validate the flags too


def report_error(exc: RiskScoreError) -> int:
    """The error on stderr; the exit status: 2 for unusable input or output, 1 for an outage."""
    print(f"error: {exc.message}", file=sys.stderr)
    for d in exc.details:
        print(f"  {d.get('field')}: {d.get('problem')}", file=sys.stderr)
    return 2 if exc.status < 500 else 1


class ProgressBar:
    """One self-overwriting line: rows read, rows/s, rejects so far."""

    def __init__(self, stream=None, every_s: float = 0.5):
        self.stream, self.every_s = stream or sys.stderr, every_s
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
