"""The BigQuery emulator fixture itself: the official clients (REST and Storage Read) against it."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def _load_parquet(client, table_id: str, table: pa.Table, schema) -> None:
    from google.cloud import bigquery

    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, schema=schema)
    client.load_table_from_file(buf, table_id, job_config=config).result()


# google-cloud-bigquery now points Storage Read users to pandas-gbq; the read path itself is what we test.
@pytest.mark.filterwarnings("ignore:Retrieving Arrow record batches:PendingDeprecationWarning")
def test_load_query_and_storage_read(bq_emulator, bq_dataset):
    client = bq_emulator.client()
    table_id = f"{bq_emulator.project}.{bq_dataset}.t"
    from google.cloud import bigquery

    schema = [bigquery.SchemaField("k", "INTEGER"), bigquery.SchemaField("v", "STRING")]
    _load_parquet(client, table_id, pa.table({"k": [3, 1, 2], "v": ["c", "a", "b"]}), schema)

    job = client.query(f"SELECT k, v FROM `{table_id}` WHERE k >= @lo ORDER BY k",
                       job_config=bigquery.QueryJobConfig(
                           query_parameters=[bigquery.ScalarQueryParameter("lo", "INT64", 2)]))
    assert [tuple(r.values()) for r in job.result()] == [(2, "b"), (3, "c")]
    assert job.project == bq_emulator.project

    # Storage Read API over gRPC: the path to_arrow_iterable takes against real BigQuery.
    rows = client.list_rows(table_id)
    arrow = rows.to_arrow(bqstorage_client=bq_emulator.read_client())
    assert sorted(arrow.column("k").to_pylist()) == [1, 2, 3]


def test_datasets_are_fresh_and_errors_are_bigquerys(bq_emulator):
    from google.api_core.exceptions import NotFound

    first, second = bq_emulator.new_dataset(), bq_emulator.new_dataset("other")
    assert first != second and second.startswith("other_")
    client = bq_emulator.client()
    assert list(client.list_tables(f"{bq_emulator.project}.{first}")) == []
    with pytest.raises(NotFound, match="absent"):
        client.get_table(f"{bq_emulator.project}.{first}.absent")
