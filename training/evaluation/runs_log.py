"""The training-runs record: every `train` run's parameters, metrics and outcome.

Locally, one JSON line per run appended to `<store>/training_runs.jsonl`; for a GCS store one
object per run under `<store>/_runs/`; and, when a table is configured, one row in BigQuery
(schema `RUNS_SCHEMA`, in BigQuery's REST form).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from riskscore.io.store import LocalStore, Store

RUNS_FILE = "training_runs.jsonl"

_RUNS_COLUMNS = [("run_id", "STRING"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
                 ("model", "STRING"), ("version", "STRING"), ("outcome", "STRING"),
                 ("promoted", "BOOLEAN"), ("reason", "STRING"), ("data_uri", "STRING"),
                 ("data_fingerprint", "STRING"), ("params_json", "STRING"), ("metrics_json", "STRING"),
                 ("timings_json", "STRING"), ("error", "STRING"), ("tuning_json", "STRING")]
# The training-runs table (REST form, as Terraform declares it): one row per `run_record`.
RUNS_SCHEMA = [{"name": name, "type": kind, "mode": "NULLABLE"} for name, kind in _RUNS_COLUMNS]


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
    """Add `record` to `project.dataset.table` (created with RUNS_SCHEMA if absent) unless a row
    with its run_id is already there, so a retried call never duplicates a run.

    One MERGE statement with query parameters rather than a streaming insert: DML is exact
    (streaming's insert-id dedup is best effort), is visible to readers at once, and runs the
    same on the BigQuery emulator the tests use. A few runs a day are far below DML quotas.
    `client`: a `google.cloud.bigquery.Client`; default `riskscore.io.bq.bigquery_client()`.
    """
    from google.cloud import bigquery

    from riskscore.io.bq import bigquery_client

    client = client or bigquery_client()
    schema = [bigquery.SchemaField.from_api_repr(field) for field in RUNS_SCHEMA]
    client.create_table(bigquery.Table(table, schema=schema), exists_ok=True)
    names = [field["name"] for field in RUNS_SCHEMA]
    sql = (f"MERGE `{table}` AS t USING (SELECT {', '.join(f'@{n} AS {n}' for n in names)}) AS s "
           f"ON t.run_id = s.run_id WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
           f"VALUES ({', '.join(f's.{n}' for n in names)})")
    params = [bigquery.ScalarQueryParameter(f["name"], _param_type(f["type"]), _param_value(f, record))
              for f in RUNS_SCHEMA]
    try:
        client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()
    except Exception as exc:
        exc.add_note(f"while recording training run {record.get('run_id')} in {table}")
        raise


def _param_type(kind: str) -> str:
    return {"BOOLEAN": "BOOL"}.get(kind, kind)


def _param_value(field: dict, record: dict):
    value = record.get(field["name"])
    if value is not None and field["type"] == "TIMESTAMP":
        return datetime.fromisoformat(value)
    return value
