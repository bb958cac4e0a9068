"""`python -m riskscore.drift --source … [--start YYYY-MM-DD] [--end YYYY-MM-DD]`: one drift check."""

from __future__ import annotations

import argparse
import json
import sys

from riskscore.drift.report import run
from riskscore.errors import RiskScoreError
from riskscore.settings import DriftSettings


def main(argv=None) -> int:
    """`python -m riskscore.drift`: run the check, write the report, print the JSON."""
    parser = argparse.ArgumentParser(prog="python -m riskscore.drift", description="Run the drift check of a window, write its report, print the JSON.")
    parser.add_argument("--source", help="prediction log or batch output (default: DRIFT_SOURCE)")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (default: the last full day, UTC)")
    parser.add_argument("--end", help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument("--store", help="model store (default: MODEL_STORE)")
    parser.add_argument("--model", help="model name (default: MODEL_NAME)")
    parser.add_argument("--reports-dir", help="where reports go (default: REPORTS_DIR or <store>/<model>/reports/drift)")
    args = parser.parse_args(argv)
    settings = DriftSettings.from_env()
    updates = {k: v for k, v in {"model_store": args.store, "model_name": args.model,
                                 "reports_dir": args.reports_dir}.items() if v}
    settings = settings.model_copy(update=updates)
    try:
        report = run(settings, {"source": args.source, "start": args.start, "end": args.end})
    except RiskScoreError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, allow_nan=False))
    return 0 if report["status"] in ("stable", "insufficient_data") else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
