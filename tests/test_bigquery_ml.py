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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskscore import bundle
from riskscore.schema import FeatureSpec
from riskscore.store import LocalStore
from training import bigquery_ml
from training.cli import main as cli_main
from training.pd_model import run_onnx

from test_batch_function import RUN_DATE, post, scores

ROWS = 400


@pytest.fixture(scope="module")
def manifest(trained_store):
    return bundle.load(LocalStore(trained_store.path), "credit_default").manifest


def test_rating_and_reasons_sql_on_the_emulator_equals_batch_score(trained_store, manifest, small_data,
                                                                   bq_emulator, bq_dataset, batch_app, tmp_path):
    from google.cloud import bigquery

    rows = small_data.head(ROWS).reset_index(drop=True)  # with missing values
    features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
    graph = onnx.load(os.path.join(trained_store.path, "credit_default", manifest["version"], "pd.onnx"))
    out = run_onnx(graph, features, rows)
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
    status, body = post(batch_app(trained_store.path), {"input": str(path), "output": str(tmp_path / "o"),
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
            np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), err_msg=col)
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
