"""Write the BigQuery table schemas Terraform declares (infra/bigquery/schemas/*.json) from the
code that writes those tables, so the two cannot drift apart.

Each writer exposes its schema as a list of dicts in BigQuery's REST form ({"name", "type",
"mode"}, RECORD fields with "fields"). Types are written with the names the BigQuery API returns
(FLOAT, INTEGER, BOOLEAN, RECORD), so Terraform sees no difference after an apply.

    python scripts/sync_bq_schemas.py          # rewrite the files
    python scripts/sync_bq_schemas.py --check  # exit 1 if a file differs from the code
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "infra" / "bigquery" / "schemas"

# table -> (module, constant) of the code that writes it
TABLES = {
    "batch_scores": ("riskscore.batch", "SCORES_SCHEMA"),
    "batch_scores_rejects": ("riskscore.batch", "REJECTS_SCHEMA"),
    "drift_reports": ("riskscore.drift", "DRIFT_REPORTS_SCHEMA"),
    "training_runs": ("training.evaluation.runs_log", "RUNS_SCHEMA"),
}

# Standard SQL names -> the (legacy) names the REST API returns.
_API_TYPES = {"FLOAT64": "FLOAT", "INT64": "INTEGER", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}


def normalize(schema: list[dict]) -> list[dict]:
    """The schema in the form the API returns: API type names, mode always present."""
    out = []
    for field in schema:
        kind = field["type"].upper()
        item = {"name": field["name"], "type": _API_TYPES.get(kind, kind), "mode": field.get("mode", "NULLABLE").upper()}
        if field.get("fields"):
            item["fields"] = normalize(field["fields"])
        if field.get("description"):
            item["description"] = field["description"]
        out.append(item)
    return out


def code_schema(table: str) -> list[dict]:
    """The schema the code writes `table` with (ImportError / AttributeError if not there)."""
    module, constant = TABLES[table]
    return normalize(getattr(importlib.import_module(module), constant))


def declared_schema(table: str) -> list[dict]:
    return json.loads((SCHEMAS / f"{table}.json").read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    differ = 0
    for table in TABLES:
        try:
            schema = code_schema(table)
        except (ImportError, AttributeError) as exc:
            print(f"{table}: skipped, the code does not declare it yet ({exc})")
            continue
        if args.check:
            if schema != declared_schema(table):
                print(f"{table}: infra/bigquery/schemas/{table}.json differs from {'.'.join(TABLES[table])}")
                differ += 1
        else:
            (SCHEMAS / f"{table}.json").write_text(json.dumps(schema, indent=2) + "\n")
            print(f"{table}: written from {'.'.join(TABLES[table])}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
