"""Score a table inside BigQuery (training/bigquery_ml.py, `python -m training bigquery-model`).

The rating and reason SQL runs on the BigQuery emulator over a table shaped like
ML.PREDICT's output (the PD graph's outputs computed by onnxruntime) and must equal
batch_score's columns on the same rows. The DDL is checked as the official client sends it,
captured by a loopback HTTP server; the live test creates the models in a real project.
"""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from types import SimpleNamespace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskscore.contract import bundle
from riskscore.contract.schema import FeatureSpec
from riskscore.model.sessions import build_session
from riskscore.io.store import LocalStore
from training import bigquery_ml
from training.cli import main as cli_main
from training.onnx.run import onnx_inputs

from support.batch import RUN_DATE, post, scores

ROWS = 400


@pytest.fixture(scope="module")
def manifest(trained_store):
    return bundle.load(LocalStore(trained_store.path), "credit_default").manifest


def test_rating_and_reasons_sql_on_the_emulator_equals_batch_score(trained_store, manifest, small_data,
                                                                   bq_emulator, bq_dataset, function_app, tmp_path):
    from google.cloud import bigquery

    rows = small_data.head(ROWS).reset_index(drop=True)  # with missing values
    features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
    # One intra-op thread, as the functions run it: the tree sums then add up in the same order.
    graph = (trained_store.path / "credit_default" / manifest["version"] / "pd.onnx").read_bytes()
    session = build_session(graph, SimpleNamespace(ort_intra_op_threads=1, ort_inter_op_threads=1))
    out = dict(zip(["pd", "score", "contributions"],
                   session.run(["pd", "score", "contributions"], onnx_inputs(rows, features))))
    predicted = pa.table({"applicant_id": pa.array(rows["applicant_id"].astype(str)),
                          "pd": pa.array(out["pd"].astype(np.float64)),
                          "score": pa.array(out["score"].astype(np.float64)),
                          "contributions": pa.array([list(map(float, r)) for r in out["contributions"]],
                                                    pa.list_(pa.float64()))})
    buf = io.BytesIO()
    pq.write_table(predicted, buf)
    table_id = f"{bq_emulator.project}.{bq_dataset}.predicted"
    schema = [bigquery.SchemaField("applicant_id", "STRING"), bigquery.SchemaField("pd", "FLOAT"),
              bigquery.SchemaField("score", "FLOAT"), bigquery.SchemaField("contributions", "FLOAT", mode="REPEATED")]
    client = bq_emulator.client()
    client.load_table_from_file(io.BytesIO(buf.getvalue()), table_id,
                                job_config=bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)).result()

    sql = bigquery_ml.decision_sql(manifest, f"`{table_id}`", ["applicant_id"])
    got = client.query(sql).result().to_arrow(create_bqstorage_client=False).to_pandas().set_index("applicant_id")

    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    status, body = post(function_app(trained_store.path, "batch_score"), {"input": str(path), "output": str(tmp_path / "o"),
                                                        "run_date": RUN_DATE})
    assert status == 200 and body["rows_scored"] == ROWS, body
    want = scores(tmp_path / "o")
    want = want.set_index(want["applicant_id"].astype(str))
    assert len(got) == ROWS
    columns = ["pd", "score", "rating"] + [f"reason_{k}" for k in range(1, 5)] \
        + [f"reason_{k}_contribution" for k in range(1, 5)] + ["model_version"]
    assert list(got.columns) == columns
    got, want = got.loc[want.index], want[columns]
    assert got["rating"].nunique() > 1 and got["reason_4"].notna().any() and got["reason_1"].isna().any()
    for col in columns:
        if got[col].dtype.kind == "f" or want[col].dtype.kind == "f":
            # Tree ensembles sum in float32 in an order that depends on the batch size (ML.PREDICT
            # batches as it likes too): floats agree to a few float32 ulps, not bit for bit.
            np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                       rtol=1e-5, atol=1e-7, err_msg=col)
        else:
            assert got[col].fillna("<null>").tolist() == want[col].fillna("<null>").tolist(), col


def test_the_rating_is_of_the_score_rounded_to_one_decimal(manifest, bq_emulator):
    """A score just under a band edge that rounds onto it gets the higher band, as decide() does."""
    bands = manifest["scaling"]["bands"]
    edge = bands[1]
    sql = bigquery_ml.decision_sql(
        manifest, f"(SELECT {edge['min_score'] - 0.04} AS score, 0.1 AS pd, [0.0] AS contributions "
                  f"UNION ALL SELECT {edge['min_score'] - 0.06}, 0.1, [0.0])")
    got = bq_emulator.client().query(sql + " ORDER BY score DESC").result()
    assert [(r["score"], r["rating"]) for r in got] == [(edge["min_score"], edge["name"]),
                                                       (round(edge["min_score"] - 0.06, 1), bands[0]["name"])]


class _Capture(BaseHTTPRequestHandler):
    """Just enough of the BigQuery REST API for `client.query(sql).result()` on a DDL job:
    every job is DONE at once with no rows. Records each job the client inserts."""

    jobs: list = []

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _job(self, job_id: str, project: str) -> dict:
        return {"jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
                "status": {"state": "DONE"}, "configuration": {"query": {"query": ""}},
                "statistics": {"query": {"statementType": "CREATE_MODEL"}}}

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.jobs.append({"path": self.path, "body": body})
        ref = body.get("jobReference", {})
        self._send(self._job(ref.get("jobId", uuid.uuid4().hex), ref.get("projectId", "p")))

    def do_GET(self):  # noqa: N802
        parts = self.path.split("?")[0].split("/")
        project, job_id = parts[4], parts[-1]
        if "/queries/" in self.path:
            self._send({"jobComplete": True, "jobReference": {"projectId": project, "jobId": job_id},
                        "totalRows": "0", "schema": {"fields": []}})
        else:
            self._send(self._job(job_id, project))

    def log_message(self, *args):
        pass


@pytest.fixture
def capture_bigquery(monkeypatch):
    """riskscore.io.bq's client pointed at a loopback server; yields the list of inserted jobs."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    import riskscore.io.bq

    _Capture.jobs = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", lambda project=None: bigquery.Client(
        project=project, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)))
    try:
        yield _Capture.jobs
    finally:
        server.shutdown()
        server.server_close()


def _gcs_store(trained_store, gcs_bucket) -> str:
    """The trained version copied into a gs:// store (BigQuery ML reads models from GCS)."""
    from riskscore.io.store import open_store

    target = open_store(f"gs://{gcs_bucket}/models")
    for path in sorted(trained_store.path.rglob("*")):
        if path.is_file():
            target.write(path.relative_to(trained_store.path).as_posix(), path.read_bytes())
    return f"gs://{gcs_bucket}/models"


def test_execute_sends_one_create_model_per_graph_and_the_view(trained_store, manifest, gcs_bucket,
                                                               capture_bigquery, capsys):
    store = _gcs_store(trained_store, gcs_bucket)
    code = cli_main(["bigquery-model", "--store", store, "--dataset", "proj.risk", "--table", "proj.raw.applicants",
                     "--passthrough", "applicant_id", "--execute"])
    assert code == 0
    version, tag = manifest["version"], manifest["version"].replace("-", "_")
    sent = [job["body"]["configuration"]["query"] for job in capture_bigquery]
    assert [job["path"].split("?")[0] for job in capture_bigquery] == ["/bigquery/v2/projects/proj/jobs"] * 5, capture_bigquery
    assert [q.get("useLegacySql") for q in sent] == [False] * 5
    expected = [f"CREATE OR REPLACE MODEL `proj.risk.credit_default_{g}_{tag}`\n"
                f"OPTIONS(MODEL_TYPE='ONNX', MODEL_PATH='{store}/credit_default/{version}/{g}.onnx')"
                for g in ("pd", "lgd", "segment", "anomaly")]
    assert [q["query"] for q in sent[:4]] == expected
    view = sent[4]["query"]
    assert view.startswith("CREATE OR REPLACE VIEW `proj.risk.credit_default_scores` AS\n")
    assert f"ML.PREDICT(MODEL `proj.risk.credit_default_pd_{tag}`" in view and "FROM `proj.raw.applicants`" in view
    assert "IFNULL(CAST(`age` AS FLOAT64), CAST('NaN' AS FLOAT64)) AS `age`" in view
    printed = capsys.readouterr().out
    assert all(q["query"] in printed for q in sent) and "ran 5 statements" in printed


@pytest.mark.parametrize("on_gcs, dataset, message", [
    (False, "p.d", "must be gs://"),
    (True, "p.d`x", "invalid BigQuery name"),
])
def test_bad_arguments_fail_with_a_clear_message(trained_store, gcs_bucket, on_gcs, dataset, message, capsys):
    store = _gcs_store(trained_store, gcs_bucket) if on_gcs else str(trained_store.path)
    assert cli_main(["bigquery-model", "--store", store, "--dataset", dataset]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.gcp
def test_live_create_models_and_score_a_table(gcp_bigquery):
    """Creates the models from a real bucket (BQML_TEST_STORE=gs://…, BQML_TEST_DATASET=p.d),
    then scores a one-row table of missing values through the view."""
    from riskscore.io.store import open_store

    store, dataset = os.environ.get("BQML_TEST_STORE"), os.environ.get("BQML_TEST_DATASET")
    if not (store and dataset):
        pytest.skip("set BQML_TEST_STORE (a gs:// store with a current version) and BQML_TEST_DATASET")
    manifest = bundle.load(open_store(store), "credit_default").manifest
    features = ", ".join(f"CAST(NULL AS {'FLOAT64' if f['type'] == 'numeric' else 'STRING'}) AS `{f['name']}`"
                         for f in manifest["features"])
    table, view = f"{dataset}.bqml_test_input", f"{dataset}.bqml_test_scores"
    statements = [f"CREATE OR REPLACE TABLE `{table}` AS SELECT 'x' AS applicant_id, {features}",
                  *bigquery_ml.model_ddl(dataset, manifest, store),
                  bigquery_ml.scoring_view_sql(dataset, manifest, table, view, ["applicant_id"])]
    for statement in statements:
        gcp_bigquery.query(statement).result()
    rows = list(gcp_bigquery.query(f"SELECT * FROM `{view}`").result())
    assert len(rows) == 1 and 0 < rows[0]["pd"] < 1 and rows[0]["model_version"] == manifest["version"]
