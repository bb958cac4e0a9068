"""Batch scoring against the Cloud Storage and BigQuery emulators, through functions-framework:
`batch_score` over gs:// and bq:// inputs and outputs, and the `batch_score_gcs` CloudEvent."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.batch import RUN_DATE, post
from support.client import cloud_event


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def read_blob(client, bucket: str, name: str) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(client.bucket(bucket).blob(name).download_as_bytes())).to_pandas()


def names(client, bucket: str) -> list[str]:
    return sorted(b.name for b in client.list_blobs(bucket))


@pytest.fixture
def broken(small_data) -> pd.DataFrame:
    df = small_data.head(400).copy().reset_index(drop=True)
    df.loc[[5, 6], "revolving_utilization"] = float("nan")  # required: two rejects
    return df


# --- Cloud Storage -----------------------------------------------------------------------------

def test_gcs_prefix_in_gcs_prefix_out_and_a_rerun_replaces_it(function_app, trained_store, gcs_emulator, gcs_bucket,
                                                               broken, small_data):
    client = gcs_emulator.client()
    bucket = client.bucket(gcs_bucket)
    bucket.blob("in/part-0.parquet").upload_from_string(parquet_bytes(broken))
    csv = small_data.iloc[400:600].to_csv(index=False).encode()
    bucket.blob("in/part-1.csv").upload_from_string(csv)
    bucket.blob("in/_SUCCESS").upload_from_string(b"")
    app = function_app(trained_store.path, "batch_score")
    for _ in range(2):
        status, body = post(app, {"input": f"gs://{gcs_bucket}/in", "output": f"gs://{gcs_bucket}/out",
                                  "run_date": RUN_DATE})
        assert status == 200, body
        assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (600, 598, 2)
    assert body["output"] == f"gs://{gcs_bucket}/out/run_date={RUN_DATE}/scores.parquet"
    assert [n for n in names(client, gcs_bucket) if n.startswith("out/")] == [
        f"out/run_date={RUN_DATE}/rejects.parquet", f"out/run_date={RUN_DATE}/scores.parquet"]  # no temp objects
    scores = read_blob(client, gcs_bucket, f"out/run_date={RUN_DATE}/scores.parquet")
    assert len(scores) == 598 and scores["applicant_id"].is_unique
    rejects = read_blob(client, gcs_bucket, f"out/run_date={RUN_DATE}/rejects.parquet")
    assert list(rejects["row_number"]) == [6, 7]


def test_a_missing_gcs_input_is_a_404_and_nothing_is_written(function_app, trained_store, gcs_emulator, gcs_bucket):
    status, body = post(function_app(trained_store.path, "batch_score"), {"input": f"gs://{gcs_bucket}/nothing-here.parquet",
                                                        "output": f"gs://{gcs_bucket}/out", "run_date": RUN_DATE})
    assert (status, body["error"]) == (404, "input_not_found") and "nothing-here" in body["message"]
    assert names(gcs_emulator.client(), gcs_bucket) == []


def test_an_output_bucket_that_does_not_exist_is_a_422_naming_it_and_nothing_is_written(
        function_app, trained_store, gcs_emulator, gcs_bucket, broken):
    gcs_emulator.client().bucket(gcs_bucket).blob("in/a.parquet").upload_from_string(parquet_bytes(broken))
    status, body = post(function_app(trained_store.path, "batch_score"),
                        {"input": f"gs://{gcs_bucket}/in/a.parquet", "output": "gs://no-such-bucket-77/scored",
                         "run_date": RUN_DATE})
    assert (status, body["error"]) == (422, "output_not_writable"), body
    assert "no such bucket gs://no-such-bucket-77" in body["message"]
    assert names(gcs_emulator.client(), gcs_bucket) == ["in/a.parquet"]


def test_a_file_dropped_in_incoming_is_scored_beside_and_a_redelivery_rewrites_it(function_app, trained_store,
                                                                                 gcs_emulator, gcs_bucket, broken):
    client = gcs_emulator.client()
    client.bucket(gcs_bucket).blob("incoming/branch-7/apps.parquet").upload_from_string(parquet_bytes(broken))
    app = function_app(trained_store.path, target="batch_score_gcs")
    for attempt in range(2):  # a redelivered event rewrites the same output
        response = cloud_event(app, gcs_bucket, "incoming/branch-7/apps.parquet", event_id="evt-7")
        assert response.status_code == 200, response.get_data(as_text=True)
    out = "scored/branch-7/apps/run_date=2026-11-20"
    assert names(client, gcs_bucket) == ["incoming/branch-7/apps.parquet", f"{out}/rejects.parquet",
                                         f"{out}/scores.parquet"]
    assert len(read_blob(client, gcs_bucket, f"{out}/scores.parquet")) == 398
    assert len(read_blob(client, gcs_bucket, f"{out}/rejects.parquet")) == 2


@pytest.mark.parametrize("name", ["scored/branch-7/apps/run_date=2026-11-20/scores.parquet", "other/x.parquet",
                                  "incoming/notes.txt", "incoming/_tmp/x.parquet", "incoming/"])
def test_events_outside_incoming_are_acknowledged_and_ignored(function_app, trained_store, gcs_emulator, gcs_bucket,
                                                              name, capsys):
    app = function_app(trained_store.path, target="batch_score_gcs")
    response = cloud_event(app, gcs_bucket, name)
    assert response.status_code == 200
    assert names(gcs_emulator.client(), gcs_bucket) == []
    assert '"batch event ignored"' in capsys.readouterr().out


def test_a_broken_incoming_file_is_logged_and_acknowledged(function_app, trained_store, gcs_emulator, gcs_bucket, capsys):
    client = gcs_emulator.client()
    client.bucket(gcs_bucket).blob("incoming/junk.parquet").upload_from_string(b"not parquet at all")
    response = cloud_event(function_app(trained_store.path, target="batch_score_gcs"), gcs_bucket, "incoming/junk.parquet")
    assert response.status_code == 200  # retrying cannot fix the file
    # Moved aside with its reason, so the event is acknowledged once and the file kept.
    assert names(client, gcs_bucket) == ["quarantine/junk.parquet", "quarantine/junk.parquet.reason.json"]
    reason = json.loads(client.bucket(gcs_bucket).blob("quarantine/junk.parquet.reason.json").download_as_bytes())
    assert reason["error"] == "invalid_input" and reason["object"] == f"gs://{gcs_bucket}/incoming/junk.parquet"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "batch event failed" in line]
    assert len(logged) == 1 and logged[0]["severity"] == "ERROR" and logged[0]["error"] == "invalid_input"
    assert "junk.parquet" in logged[0]["reason"] and logged[0]["quarantined"].endswith("quarantine/junk.parquet")


# --- BigQuery ----------------------------------------------------------------------------------

@pytest.fixture
def bq_input(bq_for_batch, bq_dataset, broken) -> str:
    """The broken table loaded into the emulator; returns project.dataset.table."""
    from google.cloud import bigquery

    table_id = f"{bq_for_batch.project}.{bq_dataset}.applicants"
    df = broken.drop(columns=["application_date"])
    types = {"applicant_id": "STRING", "housing": "STRING", "employment_type": "STRING", "loan_purpose": "STRING",
             "default": "INTEGER"}
    schema = [bigquery.SchemaField(c, types.get(c, "FLOAT")) for c in df.columns]
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    bq_for_batch.client().load_table_from_file(io.BytesIO(parquet_bytes(df)), table_id, job_config=config).result()
    return table_id


def bq_rows(emulator, sql: str) -> pd.DataFrame:
    return emulator.client().query(sql).result().to_arrow(create_bqstorage_client=False).to_pandas()


def test_bigquery_table_in_bigquery_table_out_partitioned_and_idempotent(function_app, trained_store, bq_for_batch,
                                                                        bq_dataset, bq_input):
    out = f"{bq_for_batch.project}.{bq_dataset}.batch_scores"
    app = function_app(trained_store.path, "batch_score")
    for run_date in (RUN_DATE, RUN_DATE, "2026-11-21"):
        status, body = post(app, {"input": f"bq://{bq_input}", "output": f"bq://{out}", "run_date": run_date})
        assert status == 200, body
        assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (400, 398, 2)
    assert (body["output"], body["rejects"]) == (f"bq://{out}", f"bq://{out}_rejects")
    counts = bq_rows(bq_for_batch, f"SELECT run_date, COUNT(*) AS n, COUNT(DISTINCT applicant_id) AS ids "
                                   f"FROM `{out}` GROUP BY run_date ORDER BY run_date")
    assert counts["n"].tolist() == [398, 398] and counts["ids"].tolist() == [398, 398]
    rejects = bq_rows(bq_for_batch, f"SELECT row_number, field, run_date FROM `{out}_rejects` ORDER BY run_date, row_number")
    assert rejects["row_number"].tolist() == [6, 7, 6, 7]
    assert set(rejects["field"]) == {"revolving_utilization"}
    table = bq_for_batch.client().get_table(out)
    assert table.time_partitioning.field == "run_date"
    from riskscore.batch import SCORES_SCHEMA
    assert [f.name for f in table.schema] == [f["name"] for f in SCORES_SCHEMA]
    leftovers = [t.table_id for t in bq_for_batch.client().list_tables(bq_dataset) if "staging" in t.table_id]
    assert leftovers == []


def test_staging_tables_go_to_the_staging_dataset_when_one_is_set(function_app, trained_store, bq_for_batch,
                                                                  bq_dataset, bq_input):
    """BATCH_STAGING_DATASET: the run creates and drops its staging tables there (in the cloud
    the function may create tables only there), and the output is the same."""
    project = bq_for_batch.project
    out = f"{project}.{bq_dataset}.batch_scores"
    body = {"input": f"bq://{bq_input}", "output": f"bq://{out}", "run_date": RUN_DATE}
    staging = bq_for_batch.new_dataset("staging")
    status, answer = post(function_app(trained_store.path, "batch_score", BATCH_STAGING_DATASET=f"{project}.{staging}"), body)
    assert status == 200 and answer["rows_scored"] == 398, answer
    assert bq_rows(bq_for_batch, f"SELECT COUNT(*) AS n FROM `{out}`")["n"][0] == 398
    for dataset in (staging, bq_dataset):
        assert [t.table_id for t in bq_for_batch.client().list_tables(dataset) if "staging" in t.table_id] == []


def test_a_bigquery_query_is_an_input(function_app, trained_store, bq_for_batch, bq_dataset, bq_input, tmp_path):
    sql = f"SELECT * FROM `{bq_input}` WHERE revolving_utilization IS NOT NULL AND age < 60"
    expected = bq_rows(bq_for_batch, f"SELECT COUNT(*) AS n FROM ({sql})")["n"][0]
    allowed = bq_input.rsplit(".", 1)[0]
    status, body = post(function_app(trained_store.path, "batch_score", BATCH_QUERY_DATASETS=allowed),
                        {"input": {"query": sql}, "output": str(tmp_path / "o"),
                                                        "run_date": RUN_DATE})
    assert status == 200, body
    assert body["rows_in"] == body["rows_scored"] == expected > 0


def test_a_query_failing_on_a_value_is_a_422_that_never_quotes_it(trained_store, bq_for_batch, bq_input, tmp_path):
    """Running the query fails on the first id that is not a number, and BigQuery's message
    quotes that id: ours gives the reason only. (Called below the handler: the emulator's dry
    run evaluates the query, so its guard would refuse it first; BigQuery's dry run does not.)"""
    from datetime import date

    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run
    from riskscore.errors import InvalidInput
    from riskscore.settings import BatchSettings

    sql = f"SELECT * REPLACE (CAST(applicant_id AS INT64) AS age) FROM `{bq_input}`"
    ids = bq_rows(bq_for_batch, f"SELECT applicant_id FROM `{bq_input}`")["applicant_id"].tolist()
    settings = BatchSettings(model_store=str(trained_store.path))
    with pytest.raises(InvalidInput, match=r"BigQuery failed running the query \(reason \w+") as info:
        run({"query": sql}, str(tmp_path / "o"), date(2026, 11, 20), PinnedModels(settings).pin(), settings)
    said = json.dumps([info.value.message, info.value.details])
    assert not [i for i in ids if i in said]
    assert not (tmp_path / "o").exists()


def test_a_missing_bigquery_table_is_a_404(function_app, trained_store, bq_for_batch, bq_dataset):
    out = f"{bq_for_batch.project}.{bq_dataset}.batch_scores"
    status, body = post(function_app(trained_store.path, "batch_score"), {"input": f"bq://{bq_for_batch.project}.{bq_dataset}.nope",
                                                        "output": f"bq://{out}", "run_date": RUN_DATE})
    assert (status, body["error"]) == (404, "input_not_found") and "nope" in body["message"]
    assert [t.table_id for t in bq_for_batch.client().list_tables(bq_dataset)] == []


# --- live BigQuery: what the emulator cannot show ----------------------------------------------

@pytest.mark.gcp
def test_a_query_streams_through_the_storage_read_api_into_a_real_table(trained_store, small_data, gcp_bigquery,
                                                                       monkeypatch):
    """On BigQuery itself, a query's result is read through the Storage Read API (the emulator
    keeps no result table for it), and the rerun transaction is real BigQuery SQL."""
    import uuid
    from datetime import date

    from google.cloud import bigquery

    import riskscore.io.bq
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run
    from riskscore.settings import BatchSettings

    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", lambda project=None: gcp_bigquery)
    dataset = gcp_bigquery.create_dataset(f"riskscore_test_{uuid.uuid4().hex[:12]}")
    try:
        table = f"{dataset.project}.{dataset.dataset_id}.applicants"
        df = small_data.head(1000).drop(columns=["application_date"])
        gcp_bigquery.load_table_from_file(io.BytesIO(parquet_bytes(df)), table,
                                          job_config=bigquery.LoadJobConfig(source_format="PARQUET")).result()
        out = f"{dataset.project}.{dataset.dataset_id}.batch_scores"
        settings = BatchSettings(model_store=str(trained_store.path))
        model = PinnedModels(settings).pin()
        for _ in range(2):
            summary = run({"query": f"SELECT * FROM `{table}`"}, f"bq://{out}", date(2026, 11, 20), model, settings)
            assert summary["rows_scored"] == 1000
        n = list(gcp_bigquery.query(f"SELECT COUNT(*) AS n FROM `{out}`").result())[0]["n"]
        assert n == 1000
    finally:
        gcp_bigquery.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
