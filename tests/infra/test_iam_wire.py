"""IAM at the wire: each identity's paths through the real stack (functions-framework's app, the
training CLI, the official clients against the emulators, a Dataflow stand-in), every Google API
request recorded with the identity that makes it in the cloud (tests/support/wire.py) and judged
by the configuration's grants (scripts/iam_grants.py). Each test checks its own calls; the
session-end check (tests/support/wire_plugin.py) checks every recorded call of the session."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.batch import RUN_DATE, post
from support.client import cloud_event
from support.fakesnow import fakesnow_executable, fakesnow_server, table_statements
from support.server import function_server
from support.wire import RECORDER, service_account
from support.wire_plugin import check

from .iam_support import RESOLVER, ROOT
SALT = "wire-test-salt"


@pytest.fixture
def calls():
    """The calls recorded during the test: `calls()` -> list; assert_permitted(calls())."""
    mark = len(RECORDER.calls)
    return lambda: RECORDER.since(mark)


def assert_permitted(recorded) -> None:
    assert recorded, "no Google API call was recorded"
    refused = check(recorded, RESOLVER)
    assert not refused, "\n".join(refused)


def methods(recorded) -> set[tuple[str, str]]:
    return {(c.method, c.resource) for c in recorded}


def upload_store(client, bucket: str, local: Path, prefix: str = "models") -> str:
    """Publish a local model store into a bucket (set-up: the fixture's client, not recorded)."""
    b = client.bucket(bucket)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        b.blob(f"{prefix}/{path.relative_to(local).as_posix()}").upload_from_filename(str(path))
    return f"gs://{bucket}/{prefix}"


@pytest.fixture(scope="module")
def model_bucket(gcs_emulator, trained_store):
    bucket = gcs_emulator.new_bucket("model")
    return bucket, upload_store(gcs_emulator.client(), bucket, trained_store.path)


def parquet_bytes(df) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


# --- score ---------------------------------------------------------------------------------------

def test_score_reads_its_model_from_the_model_bucket_and_its_salt(wire, gcs_emulator, model_bucket, small_data,
                                                                   function_app, monkeypatch, calls):
    _, store = model_bucket
    wire.act_as(monkeypatch, "score", gcs=gcs_emulator)
    # Cloud Run resolves the secret-backed variable as the function's identity when it starts.
    wire.record("score", "secretmanager.versions.access", "secret:salt", "Cloud Run: APPLICANT_ID_SALT")
    client = function_app(store, "score", APPLICANT_ID_SALT=SALT)
    assert client.get("/").json()["status"] == "ok"
    row = small_data.iloc[0]
    features = {k: (None if v != v else v) for k, v in row.items() if k not in ("applicant_id", "default", "lgd",
                                                                               "true_pd", "loan_amount",
                                                                               "application_date")}
    reply = client.post("/", json={"applicant_id": "A-1", "features": features})
    assert reply.status_code == 200, reply.text
    recorded = calls()
    assert ("storage.objects.get", "gs://model/models/credit_default/current.json") in methods(recorded)
    assert_permitted(recorded)


# --- batch ---------------------------------------------------------------------------------------

@pytest.fixture
def batch_bucket(gcs_emulator, small_data):
    bucket = gcs_emulator.new_bucket("batch")
    df = small_data.head(300).copy()
    df.loc[[3], "revolving_utilization"] = float("nan")  # a reject
    gcs_emulator.client().bucket(bucket).blob("incoming/day/apps.parquet").upload_from_string(parquet_bytes(df))
    return bucket


def test_batch_score_reads_incoming_and_writes_scored_twice(wire, gcs_emulator, model_bucket, batch_bucket, function_app,
                                                             monkeypatch, calls):
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator)
    app = function_app(model_bucket[1], "batch_score")
    body = {"input": f"gs://{batch_bucket}/incoming/day/apps.parquet", "output": f"gs://{batch_bucket}/scored/day",
            "run_date": RUN_DATE}
    for _ in range(2):  # the rerun overwrites: storage.objects.delete too
        status, answer = post(app, body)
        assert status == 200, answer
    recorded = calls()
    assert ("storage.objects.get", "gs://batch/incoming/day/apps.parquet") in methods(recorded)
    assert any(m.endswith(".overwrite") and r.startswith("gs://batch/scored/day/") for m, r in methods(recorded))
    assert_permitted(recorded)


def test_batch_score_gcs_scores_a_dropped_file_and_ignores_its_own_outputs_without_a_call(
        wire, gcs_emulator, model_bucket, batch_bucket, function_app, monkeypatch, calls):
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator)
    app = function_app(model_bucket[1], target="batch_score_gcs")
    assert cloud_event(app, batch_bucket, "incoming/day/apps.parquet").status_code == 200
    recorded = calls()
    outputs = sorted(b.name for b in gcs_emulator.client().list_blobs(batch_bucket, prefix="scored/"))
    assert outputs == [f"scored/day/apps/run_date={RUN_DATE}/rejects.parquet",
                       f"scored/day/apps/run_date={RUN_DATE}/scores.parquet"]
    assert_permitted(recorded)
    for name in outputs:  # the function's own outputs wake it: acknowledged without a Google API call
        assert cloud_event(app, batch_bucket, name).status_code == 200
    assert calls() == recorded


@pytest.mark.skipif(fakesnow_executable() is None, reason="fakesnow runs in .venv-fakesnow: `make fakesnow-setup`")
def test_batch_score_reads_snowflake_with_the_password_from_the_lenders_secret(
        wire, gcs_emulator, model_bucket, batch_bucket, small_data, function_app, monkeypatch, calls, tmp_path):
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator)
    # Cloud Run resolves SNOWFLAKE_PASSWORD (snowflake_password_secret_id) as the function's identity.
    wire.record("batch", "secretmanager.versions.access", "secret:snowflake_password", "Cloud Run: SNOWFLAKE_PASSWORD")
    with fakesnow_server(tmp_path / "fakesnow.log") as server:
        server.execute(*table_statements(small_data.head(40), "LENDER.CORE.APPLICANTS"))
        app = function_app(model_bucket[1], "batch_score", **server.env)
        status, answer = post(app, {"input": "snowflake://LENDER.CORE.APPLICANTS",
                                    "output": f"gs://{batch_bucket}/scored/day", "run_date": RUN_DATE})
    assert status == 200 and answer["rows_in"] == 40, answer
    recorded = calls()
    assert ("secretmanager.versions.access", "secret:snowflake_password") in methods(recorded)
    assert any(r.startswith("gs://batch/scored/day/") for _, r in methods(recorded))
    assert_permitted(recorded)


def bq_load(bq_emulator, df, table_id: str) -> None:
    """Set-up: a table loaded from a frame (the emulator needs the schema given)."""
    from google.cloud import bigquery

    types = {"applicant_id": "STRING", "housing": "STRING", "employment_type": "STRING", "loan_purpose": "STRING",
             "default": "INTEGER", "application_date": "TIMESTAMP"}
    schema = [bigquery.SchemaField(c, types.get(c, "FLOAT")) for c in df.columns]
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    bq_emulator.client().load_table_from_file(io.BytesIO(parquet_bytes(df)), table_id, job_config=config).result()


def terraform_table(bq_emulator, table_id: str, schema_file: str, partition: str | None = None) -> None:
    """A table as infra/bigquery creates it (the schema file Terraform reads)."""
    from google.cloud import bigquery

    schema = json.loads((ROOT / "infra" / "bigquery" / "schemas" / schema_file).read_text())
    table = bigquery.Table(table_id, schema=[bigquery.SchemaField.from_api_repr(f) for f in schema])
    if partition:
        table.time_partitioning = bigquery.TimePartitioning(field=partition)
    bq_emulator.client().create_table(table)


@pytest.fixture
def bq_layout(bq_emulator, small_data):
    """The datasets as Terraform lays them out, the nightly source table filled."""
    p = bq_emulator.project
    names = {k: bq_emulator.new_dataset(k) for k in ("main", "staging", "input", "predictions")}
    df = small_data.head(300).drop(columns=["default", "lgd", "true_pd"], errors="ignore")
    bq_load(bq_emulator, df, f"{p}.{names['input']}.batch_source")
    terraform_table(bq_emulator, f"{p}.{names['main']}.batch_scores", "batch_scores.json", "run_date")
    terraform_table(bq_emulator, f"{p}.{names['main']}.batch_scores_rejects", "batch_scores_rejects.json", "run_date")
    return {k: f"{p}.{v}" for k, v in names.items()}


def test_batch_score_from_the_source_table_into_batch_scores_with_the_staging_dataset(
        wire, gcs_emulator, bq_emulator, model_bucket, bq_layout, function_app, monkeypatch, calls):
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator, bq=bq_emulator)
    app = function_app(model_bucket[1], "batch_score", BATCH_STAGING_DATASET=bq_layout["staging"], GOOGLE_CLOUD_PROJECT=bq_emulator.project)
    status, answer = post(app, {"input": f"bq://{bq_layout['input']}.batch_source",
                                "output": f"bq://{bq_layout['main']}.batch_scores", "run_date": RUN_DATE})
    assert status == 200 and answer["rows_in"] == 300, answer
    recorded = calls()
    assert ("bigquerystorage.CreateReadSession", "bq://input.batch_source") in methods(recorded)
    assert ("bigquery.jobs.insert.query.write", "bq://main.batch_scores") in methods(recorded)
    assert_permitted(recorded)


def test_a_large_input_is_launched_on_dataflow_as_the_batch_identity(wire, gcs_emulator, model_bucket, batch_bucket,
                                                                     function_app, monkeypatch, calls, tmp_path):
    model, store = model_bucket
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator)
    dataflow = wire.dataflow("batch", tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(dataflow.credentials))
    app = function_app(store, "batch_score", DATAFLOW_MIN_ROWS=10, DATAFLOW_TEMPLATE=f"gs://{model}/templates/riskscore-batch.json",
                    DATAFLOW_REGION="europe-west1", DATAFLOW_TEMP_LOCATION="gs://dataflow-0-00000000/tmp",
                    DATAFLOW_SERVICE_ACCOUNT="dataflow@test-project.iam.gserviceaccount.com",
                    DATAFLOW_MAX_WORKERS=10, DATAFLOW_ENDPOINT=dataflow.url, GOOGLE_CLOUD_PROJECT="test-project")
    status, answer = post(app, {"input": f"gs://{batch_bucket}/incoming/day/apps.parquet",
                                "output": f"gs://{batch_bucket}/scored/day", "run_date": RUN_DATE})
    assert (status, answer["status"]) == (202, "launched"), answer
    recorded = calls()
    assert ("dataflow.flexTemplates.launch.actAs", "sa:dataflow") in methods(recorded)
    assert_permitted(recorded)


# --- drift ---------------------------------------------------------------------------------------

def test_drift_check_reads_batch_outputs_and_writes_its_reports(wire, gcs_emulator, bq_emulator, model_bucket,
                                                                batch_bucket, bq_layout, function_app, monkeypatch, calls):
    model, store = model_bucket
    wire.act_as(monkeypatch, "batch", gcs=gcs_emulator)
    status, answer = post(function_app(store, "batch_score"), {"input": f"gs://{batch_bucket}/incoming/day/apps.parquet",
                                             "output": f"gs://{batch_bucket}/scored/day", "run_date": RUN_DATE})
    assert status == 200, answer
    terraform_table(bq_emulator, f"{bq_layout['main']}.drift_reports", "drift_reports.json", "run_date")
    mark = len(RECORDER.calls)
    wire.act_as(monkeypatch, "drift", gcs=gcs_emulator, bq=bq_emulator)
    app = function_app(store, target="drift_check", REPORTS_DIR=f"gs://{model}/drift-reports/credit_default",
                    DRIFT_REPORTS_TABLE=f"bq://{bq_layout['main']}.drift_reports",
                    GOOGLE_CLOUD_PROJECT=bq_emulator.project)
    for _ in range(2):  # a rerun of the window replaces its files and row
        status, report = post(app, {"source": f"gs://{batch_bucket}/scored/day/", "start": RUN_DATE, "end": RUN_DATE})
        assert status == 200, report
    assert app.get("/").status_code == 200
    recorded = RECORDER.since(mark)
    assert any(m.startswith("storage.objects.insert") and r.startswith("gs://model/drift-reports/")
               for m, r in methods(recorded))
    assert_permitted(recorded)


# --- training ------------------------------------------------------------------------------------

def test_training_reads_its_table_publishes_to_the_model_bucket_and_logs_the_run(
        wire, gcs_emulator, bq_emulator, bq_layout, small_spec, small_data, tmp_path, monkeypatch, calls):
    import yaml

    from training import cli

    bucket = gcs_emulator.new_bucket("model")
    table = f"{bq_layout['input']}.training_data"
    bq_load(bq_emulator, small_data.head(3000), table)
    terraform_table(bq_emulator, f"{bq_layout['main']}.training_runs", "training_runs.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(small_spec.model_dump(mode="json", exclude_none=True)))
    wire.act_as(monkeypatch, "training", gcs=gcs_emulator, bq=bq_emulator)
    code = cli.main(["train", "--spec", str(spec), "--data", f"bq://{table}", "--store", f"gs://{bucket}/models",
                     "--runs-table", f"{bq_layout['main']}.training_runs", "--force"])
    assert code in (0, None)
    recorded = calls()
    assert ("bigquery.tables.updateData", "bq://main.training_runs") in methods(recorded) or \
        ("bigquery.jobs.insert.query.write", "bq://main.training_runs") in methods(recorded)
    assert any(r == "gs://model/models/credit_default/current.json" for _, r in methods(recorded))
    assert_permitted(recorded)


# --- Cloud Build's deploy: the smoke test ----------------------------------------------------------

@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("bash")), reason="needs curl and bash")
def test_the_deploy_builds_smoke_test_invokes_score(wire, trained_store, tmp_path, calls):
    import os
    import sys

    env = dict(os.environ, MODEL_STORE=str(trained_store.path), PYTHONPATH=str(ROOT / "functions"))
    with function_server("score", env, tmp_path / "score.log") as server:
        url = wire.run_service(server.url, "cloudbuild_deploy", "score")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "gcloud").write_text("#!/bin/sh\necho token-of-the-deploy-identity\n")  # no gcloud here
        (bin_dir / "gcloud").chmod(0o755)
        (bin_dir / "python3").symlink_to(sys.executable)
        result = subprocess.run(["bash", str(ROOT / "scripts" / "smoke_score.sh"), url, "credit_default"],
                                env=dict(env, PATH=f"{bin_dir}:{env['PATH']}"), capture_output=True, text=True,
                                timeout=120)
    recorded = calls()
    assert ("run.services.invoke", "run_service:score") in methods(recorded), result.stderr
    assert_permitted([c for c in recorded if c.wire != "unauthenticated"])


def test_service_accounts_are_named_by_their_identity():
    assert service_account("dataflow@test-project.iam.gserviceaccount.com") == "sa:dataflow"
