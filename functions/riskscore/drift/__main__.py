"""`python -m riskscore.drift --source … [--start YYYY-MM-DD] [--end YYYY-MM-DD]`: one drift check."""

from __future__ import annotations

import argparse
import json
import sys

from riskscore.drift.report import run
from riskscore.errors import RiskScoreError
from riskscore.io import deadlines
from riskscore.settings import DriftSettings


EXIT_CODES = ("exit status: 0 stable or insufficient data; 1 warning or alert (drift found: a scheduler "
              "or CI step can act on it); 2 the check could not run (bad arguments, source or store)")


def main(argv=None) -> int:
    """`python -m riskscore.drift`: run the check, write the report, print the JSON."""
    parser = argparse.ArgumentParser(prog="python -m riskscore.drift", epilog=EXIT_CODES,
                                     description="Run the drift check of a window, write its report, print the JSON.")
    parser.add_argument("--source", help="prediction log or batch output (default: DRIFT_SOURCE)")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (default: the last full day, UTC)")
    parser.add_argument("--end", help="last day, YYYY-MM-DD (default: start)")
    # The batch CLI's names; --store and --model are kept as aliases.
    parser.add_argument("--model-store", "--store", dest="store",
                        help="local folder or gs://bucket/prefix (default: MODEL_STORE)")
    parser.add_argument("--model-name", "--model", dest="model", help="model name (default: MODEL_NAME)")
    parser.add_argument("--reports-dir", help="where reports go (default: REPORTS_DIR or <store>/<model>/reports/drift)")
    args = parser.parse_args(argv)
    try:
        settings = DriftSettings.from_env()
    except ValueError as exc:  # pydantic's ValidationError: the environment, not a bug
        print(json.dumps({"error": "invalid_settings", "message": str(exc).splitlines()[0]}), file=sys.stderr)
        return 2
    updates = {k: v for k, v in {"model_store": args.store, "model_name": args.model,
                                 "reports_dir": args.reports_dir}.items() if v}
    # The operator names local paths on their own machine: confined only if LOCAL_ROOT says so.
    settings = settings.model_copy(update={"local_root": settings.local_root or "/", **updates})
    deadlines.apply(settings)
    try:
        report = run(settings, {"source": args.source, "start": args.start, "end": args.end})
    except RiskScoreError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 2 if exc.status < 500 else 1
    print(json.dumps(report, indent=2, allow_nan=False))
    return 0 if report["status"] in ("stable", "insufficient_data", "no_data") else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
