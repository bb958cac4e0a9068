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

from riskscore.batch.cli import ProgressBar, add_job_arguments, job_source, report_error, settings_from, summary_table
from riskscore.errors import RiskScoreError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskscore.batch", description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--workers", type=int, help="chunks scored at once (default: BATCH_WORKERS)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from riskscore.batch.job import today
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run

    settings = settings_from(args, batch_chunk_rows=args.chunk_rows, batch_workers=args.workers)
    progress = None if args.quiet else ProgressBar()
    try:
        model = PinnedModels(settings).pin()
        summary = run(job_source(args), args.output, args.run_date or today(), model, settings, progress=progress)
    except RiskScoreError as exc:
        if progress:
            sys.stderr.write("\n")
        return report_error(exc)
    if progress:
        progress(summary["rows_in"], summary["rows_scored"], summary["rows_rejected"], final=True)
    print(summary_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
