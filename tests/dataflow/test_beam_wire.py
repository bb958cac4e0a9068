"""IAM at the wire for the Dataflow identity: the pipeline (its launch-time steps and its workers,
all as `rs-ENV-dataflow` in the cloud) on the DirectRunner, reading incoming/ and the model
bucket, staging in the Dataflow bucket, committing to scored/, and reading the source table into
batch_scores through the staging dataset; every request recorded at the emulators and judged by
the configuration's grants (tests/support/wire.py, scripts/iam_grants.py).

Runs in .venv-beam (`make test-dataflow`, part of `make test`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("apache_beam", reason="Beam runs in .venv-beam: `make test-dataflow`")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from dataflow.__main__ import main  # noqa: E402
from support.wire import RECORDER  # noqa: E402
from support.wire_plugin import check  # noqa: E402
from support.terraform import load_script  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN_DATE = "2026-11-20"
RESOLVER = load_script("iam_grants").Resolver()


def upload_store(client, bucket: str, local: Path) -> str:
    b = client.bucket(bucket)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        b.blob(f"models/{path.relative_to(local).as_posix()}").upload_from_filename(str(path))
    return f"gs://{bucket}/models"


def assert_permitted(recorded) -> None:
    assert recorded, "no Google API call was recorded"
    refused = check(recorded, RESOLVER)
    assert not refused, "\n".join(refused)


def run(store: str, source: str, output: str, *extra) -> int:
    return main(["--input", source, "--output", output, "--run-date", RUN_DATE, "--model-store", store,
                 "--chunk-rows", "300", "--runner", "DirectRunner", *extra])


def test_the_pipeline_reads_incoming_and_writes_scored_through_the_dataflow_bucket(
        wire, trained_store, small_data, gcs_emulator, monkeypatch):
    client = gcs_emulator.client()
    store = upload_store(client, gcs_emulator.new_bucket("model"), trained_store.path)
    batch, temp = gcs_emulator.new_bucket("batch"), gcs_emulator.new_bucket("dataflow")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(small_data.head(600), preserve_index=False), buf, row_group_size=200)
    client.bucket(batch).blob("incoming/day/p0.parquet").upload_from_string(buf.getvalue())
    wire.act_as(monkeypatch, "dataflow", gcs=gcs_emulator)
    mark = len(RECORDER.calls)
    for _ in range(2):  # the rerun overwrites scored/
        assert run(store, f"gs://{batch}/incoming/day/", f"gs://{batch}/scored/day",
                   "--temp_location", f"gs://{temp}/tmp") == 0
    recorded = RECORDER.since(mark)
    resources = {c.resource for c in recorded}
    assert "gs://batch/incoming/day/p0.parquet" in resources
    assert any(r.startswith("gs://batch/scored/day/run_date=") for r in resources)
    assert_permitted(recorded)


def test_the_pipeline_reads_the_source_table_into_batch_scores_through_the_staging_dataset(
        wire, trained_store, small_data, gcs_emulator, bq_emulator, monkeypatch, tmp_path):
    from google.cloud import bigquery

    client = bq_emulator.client()
    p = bq_emulator.project
    main_ds, staging, source_ds = (bq_emulator.new_dataset(n) for n in ("main", "staging", "input"))
    df = small_data.head(500).drop(columns=["application_date"])
    types = {"applicant_id": "STRING", "housing": "STRING", "employment_type": "STRING", "loan_purpose": "STRING",
             "default": "INTEGER"}
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    buf.seek(0)
    client.load_table_from_file(buf, f"{p}.{source_ds}.batch_source", job_config=bigquery.LoadJobConfig(
        source_format="PARQUET", schema=[bigquery.SchemaField(c, types.get(c, "FLOAT")) for c in df.columns])).result()
    for name, schema_file in (("batch_scores", "batch_scores.json"), ("batch_scores_rejects", "batch_scores_rejects.json")):
        schema = json.loads((ROOT / "infra" / "bigquery" / "schemas" / schema_file).read_text())
        table = bigquery.Table(f"{p}.{main_ds}.{name}", schema=[bigquery.SchemaField.from_api_repr(f) for f in schema])
        table.time_partitioning = bigquery.TimePartitioning(field="run_date")
        client.create_table(table)  # Terraform creates both (infra/bigquery)
    store = upload_store(gcs_emulator.client(), gcs_emulator.new_bucket("model"), trained_store.path)
    wire.act_as(monkeypatch, "dataflow", gcs=gcs_emulator, bq=bq_emulator)
    mark = len(RECORDER.calls)
    assert run(store, f"bq://{p}.{source_ds}.batch_source", f"bq://{p}.{main_ds}.batch_scores",
               "--staging-dataset", f"{p}.{staging}", "--temp_location", str(tmp_path)) == 0
    recorded = RECORDER.since(mark)
    assert ("bigquery.jobs.insert.query.write", "bq://main.batch_scores") in {(c.method, c.resource) for c in recorded}
    assert_permitted(recorded)
