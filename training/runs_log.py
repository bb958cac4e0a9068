"""The training-runs record: every `train` run's parameters, metrics and outcome.

Locally, one JSON line per run appended to `<store>/training_runs.jsonl`; for a GCS store one
object per run under `<store>/_runs/`; and, when a table is configured, one row in BigQuery.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from riskscore.store import LocalStore, Store

RUNS_FILE = "training_runs.jsonl"

BQ_SCHEMA = [("run_id", "STRING"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
             ("model", "STRING"), ("version", "STRING"), ("outcome", "STRING"), ("promoted", "BOOL"),
             ("reason", "STRING"), ("data_uri", "STRING"), ("data_fingerprint", "STRING"),
             ("params_json", "STRING"), ("metrics_json", "STRING"), ("timings_json", "STRING"),
             ("error", "STRING"), ("tuning_json", "STRING")]


def run_record(*, run_id: str, started_at: datetime, model: str, data_uri: str, params: dict,
               result=None, error: BaseException | None = None) -> dict:
    """A flat, JSON-safe record of one run (result: a TrainResult, or None if it failed)."""
    m = result.manifest if result else {}
    return {"run_id": run_id, "started_at": started_at.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(), "model": model,
            "version": m.get("version"), "outcome": "failed" if error else "published",
            "promoted": bool(result and result.promoted),
            "reason": result.promotion_reason if result else None, "data_uri": data_uri,
            "data_fingerprint": m.get("data", {}).get("fingerprint_sha256"),
            "params_json": json.dumps(params, sort_keys=True, default=str),
            "metrics_json": json.dumps(_headline(m.get("metrics", {})), sort_keys=True),
            "timings_json": json.dumps(result.timings_s if result else {}, sort_keys=True),
            "error": f"{type(error).__name__}: {error}" if error else None,
            # `--tune`: every Optuna trial (parameters and selection AUC); null when not tuned
            "tuning_json": json.dumps(result.tuning, sort_keys=True) if result and result.tuning else None}


def _headline(metrics: dict) -> dict:
    """The metrics without bulky tables (calibration deciles stay in the manifest)."""
    return {k: ({kk: vv for kk, vv in v.items() if not isinstance(vv, list)} if isinstance(v, dict) else v)
            for k, v in metrics.items()}


def append_run(store: Store, record: dict, bq_table: str | None = None, bq_client=None) -> None:
    line = json.dumps(record, sort_keys=True) + "\n"
    if isinstance(store, LocalStore):
        store.root.mkdir(parents=True, exist_ok=True)
        with open(store.root / RUNS_FILE, "a", encoding="utf-8") as fh:
            fh.write(line)
    else:  # object stores cannot append: one object per run
        store.write(f"_runs/{record['run_id']}.json", line.encode())
    if bq_table:
        insert_bigquery(bq_table, record, bq_client)


def insert_bigquery(table: str, record: dict, client=None) -> None:
    """One row into `project.dataset.table` (created with BQ_SCHEMA if absent); the run id
    doubles as the insert id, so a retried insert is not duplicated."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    client = client or bigquery.Client()
    schema = [bigquery.SchemaField(name, kind) for name, kind in BQ_SCHEMA]
    try:
        client.get_table(table)
    except NotFound:
        client.create_table(bigquery.Table(table, schema=schema))
    errors = client.insert_rows_json(table, [record], row_ids=[record["run_id"]])
    if errors:
        raise RuntimeError(f"BigQuery rejected the training-run record for {table}: {errors}")
