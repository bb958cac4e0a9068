"""training.data.read_table / write_table: local files, gs:// (emulator), BigQuery (local fake)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pandas as pd
import pytest

from fake_bigquery import client_for, running_fake_bigquery
from training.data import TableNotFoundError, read_table, write_table

FRAME = pd.DataFrame({
    "loan_id": [1, 2, 3],
    "amount": [1000.0, 2500.5, None],
    "purpose": ["car", "home", None],
    "opened": ["2024-01-31", "2023-12-01", "2024-02-29"],  # date-like strings stay strings
    "defaulted": [0, 1, 0],
})


# --- local files ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["t.parquet", "t.pq", "t.csv", "t.csv.gz"])
def test_local_round_trip(tmp_path, name):
    path = tmp_path / "nested" / "dir" / name  # parents are created
    assert write_table(FRAME, path) == path
    back = read_table(str(path))
    pd.testing.assert_frame_equal(back, FRAME)
    assert isinstance(back["opened"].iloc[0], str)


def test_local_csv_dates_are_not_parsed(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("id,day,stamp\n1,2024-01-31,2024-01-31 10:00:00\n2,2024-02-01,2024-02-01 11:30:00\n")
    df = read_table(str(path))
    assert df["day"].tolist() == ["2024-01-31", "2024-02-01"]
    assert df["stamp"].tolist() == ["2024-01-31 10:00:00", "2024-02-01 11:30:00"]


@pytest.mark.parametrize("uri", ["data/table.xlsx", "data/table", "data/table.json"])
def test_unknown_extension(tmp_path, uri):
    with pytest.raises(ValueError, match=rf"{re.escape(uri)}: unknown table format"):
        read_table(uri)
    with pytest.raises(ValueError, match=r"unknown table format"):
        write_table(FRAME, tmp_path / "out.xlsx")


@pytest.mark.parametrize("name", ["missing.parquet", "missing.csv"])
def test_missing_file(tmp_path, name):
    path = str(tmp_path / name)
    with pytest.raises(ValueError, match=rf"{re.escape(path)}: no such file"):
        read_table(path)
    with pytest.raises(FileNotFoundError):
        read_table(path)


@pytest.mark.parametrize("uri, message", [
    ("s3://bucket/t.parquet", "unsupported URI scheme"),
    ("gs://bucket-only", "expected gs://bucket/path"),
    ("bq://dataset.table", "expected bq://project.dataset.table"),
    ("bq://", "expected bq://project.dataset.table"),
])
def test_bad_uris(uri, message):
    with pytest.raises(ValueError, match=rf"{re.escape(uri)}: {message}"):
        read_table(uri)


def test_write_table_rejects_remote():
    with pytest.raises(ValueError, match=r"gs://b/t\.parquet: write_table writes local files only"):
        write_table(FRAME, "gs://b/t.parquet")


# --- gs:// through the real client and the emulator ------------------------------------------

def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "parquet":
        FRAME.to_parquet(buf, index=False)
    else:
        FRAME.to_csv(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_gcs_read(gcs_emulator, gcs_bucket, fmt):
    client = gcs_emulator.client()
    client.bucket(gcs_bucket).blob(f"training/loans.{fmt}").upload_from_string(_encoded(fmt))
    uri = f"gs://{gcs_bucket}/training/loans.{fmt}"
    pd.testing.assert_frame_equal(read_table(uri, gcs_client=client), FRAME)
    # default client: picks the emulator up from STORAGE_EMULATOR_HOST
    pd.testing.assert_frame_equal(read_table(uri), FRAME)


def test_gcs_missing_object(gcs_emulator, gcs_bucket):
    uri = f"gs://{gcs_bucket}/nope.parquet"
    with pytest.raises(TableNotFoundError, match=rf"{re.escape(uri)}: no such object"):
        read_table(uri, gcs_client=gcs_emulator.client())


# --- BigQuery through the real client and a local fake of its REST API ------------------------
SCHEMA = {"fields": [
    {"name": "loan_id", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "purpose", "type": "STRING", "mode": "NULLABLE"},
    {"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "opened", "type": "DATE", "mode": "NULLABLE"},
    {"name": "defaulted", "type": "BOOLEAN", "mode": "NULLABLE"},
]}
# tabledata.list encodes every cell as a string (or null): {"f": [{"v": ...}, ...]}
ROWS = [
    ["1", "car", "1000.0", "2024-01-31", "false"],
    ["2", None, "2500.5", "2023-12-01", "true"],
    ["3", "home", None, None, "false"],
]
EXPECTED = pd.DataFrame({
    "loan_id": [1, 2, 3],
    "purpose": ["car", None, "home"],
    "amount": [1000.0, 2500.5, None],
    "opened": [dt.date(2024, 1, 31), dt.date(2023, 12, 1), None],
    "defaulted": [False, True, False],
})


@pytest.fixture
def fake_bq():
    with running_fake_bigquery() as server:
        server.tables["proj.ds.loans"] = (SCHEMA, ROWS)
        server.query_result = (SCHEMA, ROWS)
        yield server


@pytest.fixture
def bq_client(fake_bq):
    return client_for(fake_bq)


def _calls(fake_bq):
    return [(method, path) for method, path, _, _ in fake_bq.requests]


def test_bq_table(fake_bq, bq_client):
    df = read_table("bq://proj.ds.loans", bq_client=bq_client)
    pd.testing.assert_frame_equal(df, EXPECTED)
    base = "/bigquery/v2/projects/proj/datasets/ds/tables/loans"
    assert _calls(fake_bq) == [("GET", base), ("GET", f"{base}/data"), ("GET", f"{base}/data")]
    assert "pageToken" not in fake_bq.requests[1][2]
    assert fake_bq.requests[2][2]["pageToken"] == "2"  # second page followed


@pytest.mark.parametrize("uri, sql", [
    ("bq://SELECT * FROM `proj.ds.loans` WHERE opened >= '2023-01-01'",
     "SELECT * FROM `proj.ds.loans` WHERE opened >= '2023-01-01'"),
    ("WITH x AS (SELECT * FROM `proj.ds.loans`)\nSELECT * FROM x",
     "WITH x AS (SELECT * FROM `proj.ds.loans`)\nSELECT * FROM x"),
    ("  select loan_id from proj.ds.loans", "  select loan_id from proj.ds.loans"),
])
def test_bq_query(fake_bq, bq_client, uri, sql):
    df = read_table(uri, bq_client=bq_client)
    pd.testing.assert_frame_equal(df, EXPECTED)
    method, path, _, body = fake_bq.requests[0]
    assert (method, path) == ("POST", "/bigquery/v2/projects/billing-proj/jobs")
    assert body["configuration"]["query"] == {"query": sql, "useLegacySql": False}
    job_id = body["jobReference"]["jobId"]
    results = f"/bigquery/v2/projects/billing-proj/queries/{job_id}"
    assert _calls(fake_bq)[1:] == [("GET", results)] * 3  # status, then two pages of rows
    assert fake_bq.requests[1][2]["maxResults"] == "0"


def test_bq_missing_table_propagates_with_uri(fake_bq, bq_client):
    from google.api_core.exceptions import NotFound

    with pytest.raises(NotFound, match=r"Table proj:ds\.absent") as info:
        read_table("bq://proj.ds.absent", bq_client=bq_client)
    assert "while reading bq://proj.ds.absent" in info.value.__notes__


# --- real BigQuery (opt-in: needs Application Default Credentials) ----------------------------

def _google_credentials_or_skip(monkeypatch):
    import google.auth
    from google.auth.compute_engine import _metadata

    # Off Google machines, keep google.auth from probing the metadata server (169.254.169.254):
    # tests make no network call beyond loopback unless credentials are configured.
    if not getattr(_metadata, "detect_gce_residency_linux", lambda: False)():
        monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True, raising=False)
    try:
        credentials, project = google.auth.default(
            scopes=["https://www.googleapis.com/auth/bigquery.readonly",
                    "https://www.googleapis.com/auth/cloud-platform"])
    except Exception as exc:  # DefaultCredentialsError, malformed files, ...
        pytest.skip(f"no Google application-default credentials: {exc}")
    if not project:
        pytest.skip("application-default credentials have no project to run the query job in")
    return credentials, project


@pytest.mark.gcp
def test_bq_public_table(monkeypatch):
    from google.cloud import bigquery

    credentials, project = _google_credentials_or_skip(monkeypatch)
    client = bigquery.Client(project=project, credentials=credentials)
    df = read_table("bq://SELECT word, word_count, corpus "
                    "FROM `bigquery-public-data.samples.shakespeare` "
                    "WHERE corpus = 'hamlet' ORDER BY word_count DESC, word LIMIT 5",
                    bq_client=client)
    assert list(df.columns) == ["word", "word_count", "corpus"]
    assert len(df) == 5
    assert (df["corpus"] == "hamlet").all()
    assert df["word_count"].is_monotonic_decreasing
