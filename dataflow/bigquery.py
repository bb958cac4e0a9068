"""BigQuery input for the pipeline: one Storage Read session opened at launch, its streams read
in parallel by the workers as Arrow record batches.

A table is read directly (only the model's columns); a query runs once at launch and its result
table is read the same way. Clients come from `riskscore.io.bq`, as in batch_score.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from riskscore.io import bq
from riskscore.batch.columns import InputColumns
from riskscore.batch.sources import Source, bq_input_errors

MAX_STREAMS = 1000  # BigQuery may return fewer; each stream is one unit of work


def read_streams(source: Source, columns: InputColumns, project: str | None) -> list[str]:
    """Check the table's (or query result's) columns; open a read session; its stream names."""
    from google.cloud.bigquery_storage_v1 import types

    client = bq.bigquery_client(project)
    where = str(source)
    with bq_input_errors(where, running_query=source.kind != "bq_table"):
        if source.kind == "bq_table":
            table = client.get_table(source.location)
        else:
            job = client.query(source.location)
            job.result()
            table = client.get_table(job.destination)
    names = [f.name for f in table.schema]
    columns.check(names, where)
    selected = [c for c in columns.names if c in set(names)]
    session = types.ReadSession(
        table=f"projects/{table.project}/datasets/{table.dataset_id}/tables/{table.table_id}",
        data_format=types.DataFormat.ARROW,
        read_options=types.ReadSession.TableReadOptions(selected_fields=selected))
    read_client = bq.bigquery_read_client()
    session = read_client.create_read_session(parent=f"projects/{project or table.project}",
                                              read_session=session, max_stream_count=MAX_STREAMS)
    return [s.name for s in session.streams]


def stream_batches(stream: str) -> Iterator[pa.RecordBatch]:
    """Every record batch of one read stream."""
    reader = bq.bigquery_read_client().read_rows(stream)
    for page in reader.rows().pages:
        yield page.to_arrow()
