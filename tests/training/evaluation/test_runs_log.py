"""The training-runs record: the local JSONL log, one GCS object per run, and the BigQuery MERGE."""

from __future__ import annotations

import json

import pytest

from training.evaluation.runs_log import append_run, run_record


def test_runs_are_appended_as_jsonl(tmp_path, trained_store):
    from datetime import datetime, timezone

    from riskscore.store import LocalStore

    store = LocalStore(tmp_path)
    ok = run_record(run_id="r1", started_at=datetime.now(timezone.utc), model="m", data_uri="d.parquet",
                    params={"a": 1}, result=trained_store.result)
    failed = run_record(run_id="r2", started_at=datetime.now(timezone.utc), model="m", data_uri="d.parquet",
                        params={"a": 1}, error=ValueError("column 'x' is missing"))
    append_run(store, ok)
    append_run(store, failed)
    lines = [json.loads(line) for line in (tmp_path / "training_runs.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in lines] == ["published", "failed"]
    assert lines[0]["version"] == trained_store.result.manifest["version"]
    assert json.loads(lines[0]["metrics_json"])["test"]["auc"] == trained_store.result.manifest["metrics"]["test"]["auc"]
    assert "column 'x' is missing" in lines[1]["error"] and lines[1]["version"] is None


def test_runs_go_to_gcs_as_one_object_each(gcs_emulator, gcs_bucket):
    from datetime import datetime, timezone

    from riskscore.store import open_store

    store = open_store(f"gs://{gcs_bucket}/models")
    rec = run_record(run_id="r9", started_at=datetime.now(timezone.utc), model="m", data_uri="x", params={},
                     error=RuntimeError("boom"))
    append_run(store, rec)
    assert json.loads(store.read("_runs/r9.json"))["outcome"] == "failed"


def test_runs_are_recorded_in_bigquery_when_configured(tmp_path, bq_emulator, bq_dataset):
    from datetime import datetime, timezone

    from riskscore.store import LocalStore
    from training.evaluation.runs_log import RUNS_SCHEMA

    client = bq_emulator.client()
    table = f"{bq_emulator.project}.{bq_dataset}.training_runs"
    started = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=timezone.utc)
    rec = run_record(run_id="r7", started_at=started, model="m", data_uri="x", params={"k": 2},
                     error=ValueError("bad"))
    append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=client)  # creates the table
    append_run(LocalStore(tmp_path), dict(rec, run_id="r8"), bq_table=table, bq_client=client)
    append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=client)  # a retry of r7

    assert [(f.name, f.field_type, f.mode) for f in client.get_table(table).schema] == [
        (f["name"], f["type"], f["mode"]) for f in RUNS_SCHEMA]
    rows = {r["run_id"]: r for r in client.list_rows(table)}
    assert sorted(rows) == ["r7", "r8"]  # the retry did not duplicate r7
    r7 = rows["r7"]
    assert r7["started_at"] == started and r7["outcome"] == "failed" and r7["promoted"] is False
    assert r7["version"] is None and r7["error"] == "ValueError: bad"
    assert json.loads(r7["params_json"]) == {"k": 2}
    assert len((tmp_path / "training_runs.jsonl").read_text().splitlines()) == 3  # the local log keeps every call


@pytest.mark.gcp
def test_runs_merge_is_valid_on_real_bigquery(tmp_path, gcp_bigquery):
    """The emulator translates SQL through DuckDB; only BigQuery itself can show the MERGE is valid."""
    import uuid
    from datetime import datetime, timezone

    from riskscore.store import LocalStore

    dataset = gcp_bigquery.create_dataset(f"riskscore_test_{uuid.uuid4().hex[:12]}")
    try:
        table = f"{dataset.project}.{dataset.dataset_id}.training_runs"
        rec = run_record(run_id="live", started_at=datetime.now(timezone.utc), model="m", data_uri="x",
                         params={}, error=ValueError("bad"))
        for _ in range(2):  # a retry must not duplicate the run
            append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=gcp_bigquery)
        assert [r["run_id"] for r in gcp_bigquery.list_rows(table)] == ["live"]
    finally:
        gcp_bigquery.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
