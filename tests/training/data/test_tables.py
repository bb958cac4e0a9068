"""training.data.tables.read_table / write_table: local files, gs:// and BigQuery (both through the
official clients against emulators)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pandas as pd
import pytest

from training.data.tables import TableNotFoundError, read_table, write_table

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


# --- BigQuery through the official client and the emulator ------------------------------------
SCHEMA = [
    {"name": "loan_id", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "purpose", "type": "STRING", "mode": "NULLABLE"},
    {"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "opened", "type": "DATE", "mode": "NULLABLE"},
    {"name": "defaulted", "type": "BOOLEAN", "mode": "NULLABLE"},
]
EXPECTED = pd.DataFrame({
    "loan_id": [1, 2, 3],
    "purpose": ["car", None, "home"],
    "amount": [1000.0, 2500.5, None],
    "opened": [dt.date(2024, 1, 31), dt.date(2023, 12, 1), None],
    "defaulted": [False, True, False],
})
MANY_ROWS = 25_001  # the emulator pages results by 10,000 rows: three pages to follow


def _load(client, table_id: str, arrow_table, schema) -> None:
    """Rows into a new table by a Parquet load job (the emulator has no multipart uploads)."""
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    buf = io.BytesIO()
    pq.write_table(arrow_table, buf)
    buf.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=[bigquery.SchemaField.from_api_repr(f) for f in schema])
    client.load_table_from_file(buf, table_id, job_config=config).result()


@pytest.fixture(scope="module")
def bq_tables(bq_emulator):
    """Dataset id holding `loans` (EXPECTED, shuffled) and `many` (MANY_ROWS ids)."""
    import pyarrow as pa

    dataset = bq_emulator.new_dataset("data")
    client = bq_emulator.client()
    shuffled = EXPECTED.iloc[[2, 0, 1]]
    _load(client, f"{bq_emulator.project}.{dataset}.loans",
          pa.Table.from_pandas(shuffled, preserve_index=False), SCHEMA)
    _load(client, f"{bq_emulator.project}.{dataset}.many",
          pa.table({"id": pa.array(range(MANY_ROWS), pa.int64())}),
          [{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}])
    return dataset


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    # BigQuery guarantees no row order without ORDER BY
    return df.sort_values("loan_id", ignore_index=True)


def test_bq_table(bq_emulator, bq_tables):
    df = read_table(f"bq://{bq_emulator.project}.{bq_tables}.loans", bq_client=bq_emulator.client())
    pd.testing.assert_frame_equal(_by_id(df), EXPECTED)


@pytest.mark.parametrize("uri, columns", [
    ("bq://SELECT * FROM `{project}.{dataset}.loans` WHERE opened >= '2023-01-01' OR opened IS NULL",
     list(EXPECTED.columns)),
    ("WITH x AS (SELECT * FROM `{project}.{dataset}.loans`)\nSELECT * FROM x", list(EXPECTED.columns)),
    ("  select loan_id, amount from {dataset}.loans", ["loan_id", "amount"]),  # default project
])
def test_bq_query(bq_emulator, bq_tables, uri, columns):
    df = read_table(uri.format(project=bq_emulator.project, dataset=bq_tables),
                    bq_client=bq_emulator.client())
    pd.testing.assert_frame_equal(_by_id(df), EXPECTED[columns])


def test_bq_query_filters_in_bigquery(bq_emulator, bq_tables):
    df = read_table(f"SELECT loan_id FROM `{bq_emulator.project}.{bq_tables}.loans` "
                    f"WHERE defaulted", bq_client=bq_emulator.client())
    assert df["loan_id"].tolist() == [2]


@pytest.mark.parametrize("uri", ["bq://{project}.{dataset}.many",
                                 "SELECT id FROM `{project}.{dataset}.many`"])
def test_bq_reads_follow_every_page(bq_emulator, bq_tables, uri):
    df = read_table(uri.format(project=bq_emulator.project, dataset=bq_tables),
                    bq_client=bq_emulator.client())
    assert len(df) == MANY_ROWS
    assert sorted(df["id"]) == list(range(MANY_ROWS))


def test_bq_default_client_comes_from_the_factory(bq_emulator, bq_tables, monkeypatch):
    import riskscore.io.bq

    projects = []

    def emulator_client(project=None):
        projects.append(project)
        return bq_emulator.client()

    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", emulator_client)
    df = read_table(f"bq://{bq_emulator.project}.{bq_tables}.loans")
    pd.testing.assert_frame_equal(_by_id(df), EXPECTED)
    assert projects == [None]  # the environment's default project


@pytest.mark.parametrize("uri, exc_name, message", [
    ("bq://{project}.{dataset}.absent", "NotFound", "absent"),
    ("SELECT nope FROM `{project}.{dataset}.loans`", "BadRequest", "nope"),
])
def test_bq_errors_propagate_with_uri(bq_emulator, bq_tables, uri, exc_name, message):
    from google.api_core import exceptions

    uri = uri.format(project=bq_emulator.project, dataset=bq_tables)
    with pytest.raises(getattr(exceptions, exc_name), match=message) as info:
        read_table(uri, bq_client=bq_emulator.client())
    assert any(uri[:200] in note for note in info.value.__notes__)


# --- real BigQuery (opt-in: needs Application Default Credentials) ----------------------------

@pytest.mark.gcp
def test_bq_public_table(gcp_bigquery):
    df = read_table("bq://SELECT word, word_count, corpus "
                    "FROM `bigquery-public-data.samples.shakespeare` "
                    "WHERE corpus = 'hamlet' ORDER BY word_count DESC, word LIMIT 5",
                    bq_client=gcp_bigquery)
    assert list(df.columns) == ["word", "word_count", "corpus"]
    assert len(df) == 5
    assert (df["corpus"] == "hamlet").all()
    assert df["word_count"].is_monotonic_decreasing
