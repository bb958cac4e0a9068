"""batch_score routes a large input to Dataflow: the decision (table metadata, Parquet footers,
CSV sizes) and the Flex Template launch, through functions-framework against a real local HTTP
server standing in for Google's OAuth token endpoint and the Dataflow REST API."""

from __future__ import annotations

import gzip
import io
import json
from datetime import date
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.batch import RUN_DATE, post


@pytest.fixture
def fake_google(tmp_path, monkeypatch, wire):
    """The local stand-in for Google's token endpoint and the Dataflow REST API (it records each
    launch as the batch identity's calls), and Application Default Credentials (a generated
    service-account key) whose token URI is that server: google-auth's real token flow, on loopback."""
    stand_in = wire.dataflow("batch", tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(stand_in.credentials))
    return SimpleNamespace(url=stand_in.url, state=stand_in, token=stand_in.TOKEN)


def dataflow_env(url: str, min_rows: int) -> dict:
    return {"DATAFLOW_MIN_ROWS": min_rows, "DATAFLOW_TEMPLATE": "gs://models-bucket/dataflow/templates/batch.json",
            "DATAFLOW_REGION": "europe-west1", "DATAFLOW_TEMP_LOCATION": "gs://batch-bucket/dataflow/tmp",
            "DATAFLOW_SERVICE_ACCOUNT": "dataflow@test-project.iam.gserviceaccount.com", "DATAFLOW_MAX_WORKERS": 40,
            "DATAFLOW_ENDPOINT": url, "GOOGLE_CLOUD_PROJECT": "test-project",
            "DATAFLOW_LABELS": json.dumps({"app": "riskscore", "environment": "prod"})}


@pytest.fixture
def gcs_input(gcs_emulator, small_data):
    """gs://BUCKET/incoming/: two Parquet files, 3000 rows."""
    bucket = gcs_emulator.new_bucket("route")
    client = gcs_emulator.client()
    for i, part in enumerate((small_data.iloc[:1000], small_data.iloc[1000:3000])):
        buf = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), buf)
        client.bucket(bucket).blob(f"incoming/p{i}.parquet").upload_from_string(buf.getvalue().to_pybytes())
    return SimpleNamespace(bucket=bucket, uri=f"gs://{bucket}/incoming/", client=client)


def test_a_large_input_is_launched_on_dataflow_and_answered_with_the_job_id(function_app, trained_store, fake_google,
                                                                            gcs_input):
    app = function_app(trained_store.path, "batch_score", **dataflow_env(fake_google.url, 2999))
    output = f"gs://{gcs_input.bucket}/scored"
    status, body = post(app, {"input": gcs_input.uri, "output": output, "run_date": RUN_DATE})
    assert status == 202, body
    version = trained_store.result.manifest["version"]
    assert body["job_id"] == "2026-11-20_01_02_03-123" and body["status"] == "launched"
    assert body["rows_estimated"] == 3000 and body["model_version"] == version
    assert "dataflow/jobs/europe-west1/2026-11-20_01_02_03-123" in body["console_url"]
    [request] = fake_google.state.requests
    assert request.path == "/v1b3/projects/test-project/locations/europe-west1/flexTemplates:launch"
    assert request.headers["authorization"] == f"Bearer {fake_google.token}"
    launch = request.body["launchParameter"]
    assert launch["containerSpecGcsPath"] == "gs://models-bucket/dataflow/templates/batch.json"
    assert launch["parameters"] == {"input": gcs_input.uri, "output": output, "run_date": RUN_DATE,
                                    "model_store": str(trained_store.path), "model_name": "credit_default",
                                    "model_version": version}  # pinned now, for every worker
    assert launch["environment"]["serviceAccountEmail"] == "dataflow@test-project.iam.gserviceaccount.com"
    assert launch["environment"]["maxWorkers"] == 40
    assert launch["environment"]["tempLocation"] == "gs://batch-bucket/dataflow/tmp"
    # the deployment's labels (the env-scoped alert selects by them); the network: the template's
    assert launch["environment"]["additionalUserLabels"] == {"app": "riskscore", "environment": "prod",
                                                             "run_date": RUN_DATE}
    assert "ipConfiguration" not in launch["environment"] and "subnetwork" not in launch["environment"]
    assert launch["jobName"].startswith(f"riskscore-{RUN_DATE}-")
    # Nothing was scored here.
    assert [b.name for b in gcs_input.client.list_blobs(gcs_input.bucket, prefix="scored/")] == []


def test_an_input_at_or_below_the_threshold_is_scored_in_the_instance(function_app, trained_store, fake_google,
                                                                      gcs_input):
    app = function_app(trained_store.path, "batch_score", **dataflow_env(fake_google.url, 3000))
    status, body = post(app, {"input": gcs_input.uri, "output": f"gs://{gcs_input.bucket}/scored",
                              "run_date": RUN_DATE})
    assert status == 200 and body["rows_scored"] == 3000, body
    assert fake_google.state.requests == []


def test_the_same_run_launched_twice_is_never_two_jobs(function_app, trained_store, fake_google, gcs_input):
    app = function_app(trained_store.path, "batch_score", **dataflow_env(fake_google.url, 10))
    job = {"input": gcs_input.uri, "output": f"gs://{gcs_input.bucket}/scored", "run_date": RUN_DATE}
    status, first = post(app, job)
    assert status == 202
    fake_google.state.answer = (409, {"error": {"code": 409, "message": "already exists", "status": "ALREADY_EXISTS"}})
    status, again = post(app, job)
    assert status == 202 and again["status"] == "already_running" and again["job_id"] is None
    names = {r.body["launchParameter"]["jobName"] for r in fake_google.state.requests}
    assert names == {first["job_name"]} == {again["job_name"]}  # one name per run: Dataflow refuses the second


def test_a_refused_launch_is_a_503_naming_dataflows_reason(function_app, trained_store, fake_google, gcs_input):
    fake_google.state.answer = (403, {"error": {"code": 403, "message": "Permission dataflow.jobs.create denied",
                                                "status": "PERMISSION_DENIED"}})
    app = function_app(trained_store.path, "batch_score", **dataflow_env(fake_google.url, 10))
    status, body = post(app, {"input": gcs_input.uri, "output": f"gs://{gcs_input.bucket}/scored",
                              "run_date": RUN_DATE})
    assert status == 503 and body["error"] == "dataflow_launch_failed"
    assert "403 Permission dataflow.jobs.create denied" in body["message"]


def test_local_inputs_and_outputs_and_queries_are_never_routed(trained_store, small_data, tmp_path):
    from riskscore.batch.route import route
    from riskscore.settings import BatchSettings

    path = tmp_path / "in.parquet"
    small_data.head(100).to_parquet(path)
    settings = BatchSettings(model_store=str(trained_store.path), **{k.lower(): v for k, v in dataflow_env(
        "http://127.0.0.1:9", 1).items()})
    day = date.fromisoformat(RUN_DATE)
    assert route(str(path), "gs://b/out", day, "v1", settings) is None  # workers cannot see local files
    assert route("gs://b/in.parquet", str(tmp_path / "o"), day, "v1", settings) is None
    assert route({"query": "SELECT 1"}, "bq://p.d.t", day, "v1", settings) is None


def test_row_estimates_from_parquet_footers_csv_sizes_and_table_metadata(small_data, tmp_path, bq_for_batch,
                                                                         bq_dataset):
    from riskscore.batch.route import estimate_rows

    rows = small_data.head(4000)
    rows.to_parquet(tmp_path / "a.parquet")
    assert estimate_rows(str(tmp_path / "a.parquet")) == 4000  # exact
    rows.to_csv(tmp_path / "a.csv", index=False)
    assert estimate_rows(str(tmp_path / "a.csv")) == pytest.approx(4000, rel=0.1)
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    assert 4000 / 3 < estimate_rows(str(tmp_path / "a.csv.gz")) < 4000 * 3  # by the assumed ratio
    (tmp_path / "empty.csv").write_bytes(b"")
    assert estimate_rows(str(tmp_path / "empty.csv")) == 0
    from google.cloud import bigquery

    table = f"{bq_for_batch.project}.{bq_dataset}.portfolio"
    df = rows.head(1234)[["applicant_id", "age"]]
    schema = [bigquery.SchemaField("applicant_id", "STRING"), bigquery.SchemaField("age", "FLOAT")]
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    bq_for_batch.client().load_table_from_file(io.BytesIO(buf.getvalue().to_pybytes()), table, job_config=config).result()
    assert estimate_rows(f"bq://{table}") == 1234


@pytest.mark.parametrize("missing", ["DATAFLOW_TEMPLATE", "DATAFLOW_REGION", "DATAFLOW_TEMP_LOCATION",
                                     "GOOGLE_CLOUD_PROJECT"])
def test_routing_without_its_launch_settings_is_refused_at_start(missing):
    from pydantic import ValidationError

    from riskscore.settings import BatchSettings

    env = {k: str(v) for k, v in dataflow_env("http://127.0.0.1:9", 5).items() if k != missing}
    with pytest.raises(ValidationError, match=missing):
        BatchSettings.from_env(env)


def test_a_large_file_dropped_in_incoming_is_launched_on_dataflow_too(function_app, trained_store, fake_google,
                                                                      gcs_input, capsys):
    from support.client import cloud_event

    app = function_app(trained_store.path, target="batch_score_gcs", **dataflow_env(fake_google.url, 1500))
    response = cloud_event(app, gcs_input.bucket, "incoming/p1.parquet")  # 2000 rows
    assert response.status_code == 200, response.get_data(as_text=True)
    [request] = fake_google.state.requests
    params = request.body["launchParameter"]["parameters"]
    assert params["input"] == f"gs://{gcs_input.bucket}/incoming/p1.parquet"
    assert params["output"] == f"gs://{gcs_input.bucket}/scored/p1"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"batch_dataflow"' in line]
    assert logged and logged[-1]["job_id"] == "2026-11-20_01_02_03-123" and logged[-1]["rows_estimated"] == 2000
    assert [b.name for b in gcs_input.client.list_blobs(gcs_input.bucket, prefix="scored/")] == []
