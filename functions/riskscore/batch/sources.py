"""Batch inputs, streamed as Arrow record batches and cast by the spec's declared types.

A source is one of
  - `bq://project.dataset.table` (rows streamed through the BigQuery Storage Read API),
  - `{"query": "SELECT ..."}` (BigQuery SQL; its result streamed the same way),
  - `gs://bucket/path`: one Parquet/CSV object, or every such object under a prefix,
  - a local Parquet/CSV file, or a folder of them (recursively),
with `.parquet`/`.pq`, `.csv` and `.csv.gz` files; files of a prefix or folder are read in name
order, skipping names starting with `.` or `_`.

`open_source` resolves the source and checks that every file or table has the required
columns before a single row is read (InputNotFound, InvalidInput otherwise), so a run fails
before writing anything. `Reader.chunks()` then streams `Chunk`s: valid rows cast by the
spec's types, and the rejects. Files are listed and opened by `riskscore.io.files`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskscore.batch.columns import Chunk, InputColumns
from riskscore.errors import InputNotFound, InvalidInput, InvalidRequest
from riskscore.io import bq
from riskscore.io.files import file_kind, files_at
from riskscore.io.store import split_gs_uri

__all__ = ["Reader", "Source", "bq_input_errors", "cast_chunks", "csv_batches", "open_source",
           "parse_source"]

_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")


@dataclass(frozen=True)
class Source:
    kind: str  # "local" | "gcs" | "bq_table" | "bq_query"
    location: str

    def __str__(self) -> str:
        return {"bq_table": f"bq://{self.location}", "bq_query": "query"}.get(self.kind, self.location)


def parse_source(value) -> Source:
    """The request's `input` as a Source, or InvalidRequest saying what is accepted."""
    if isinstance(value, dict) and set(value) == {"query"} and isinstance(value["query"], str) and value["query"].strip():
        return Source("bq_query", value["query"])
    if isinstance(value, str) and value.strip():
        value = value.strip()
        if value.startswith("bq://"):
            table = value[len("bq://"):].strip("`")
            if not _TABLE.match(table):
                raise InvalidRequest(f"input {value!r}: expected bq://project.dataset.table",
                                     details=[{"field": "input", "problem": "malformed BigQuery table id"}])
            return Source("bq_table", table)
        if value.startswith("gs://"):
            if not split_gs_uri(value)[0]:
                raise InvalidRequest(f"input {value!r}: expected gs://bucket/path",
                                     details=[{"field": "input", "problem": "no bucket"}])
            return Source("gcs", value)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
            raise InvalidRequest(f"input {value!r}: unsupported scheme",
                                 details=[{"field": "input", "problem": "use bq://, gs://, a local path or {\"query\": ...}"}])
        return Source("local", value)
    raise InvalidRequest("input: expected bq://project.dataset.table, {\"query\": \"SELECT ...\"}, gs://bucket/path "
                         "or a local path", details=[{"field": "input", "problem": "missing or malformed"}])


class Reader:
    """A resolved, checked source: `chunks()` streams it (once)."""

    def __init__(self, source: Source, columns: InputColumns, chunk_rows: int, files: list, table=None):
        self.source, self.columns, self.chunk_rows = source, columns, chunk_rows
        self._files, self._table = files, table

    @property
    def file_names(self) -> list[str]:
        """The files this reader streams, in order (none for a table or a query)."""
        return [name for name, _ in self._files]

    def chunks(self) -> Iterator[Chunk]:
        return cast_chunks(self._raw_batches(), self.columns, self.chunk_rows)

    def _raw_batches(self) -> Iterator[pa.RecordBatch]:
        if self._table is not None:
            yield from self._table()
            return
        for name, opener in self._files:
            kind = file_kind(name)
            with opener() as fh:
                try:
                    if kind == "parquet":
                        yield from _parquet_batches(pq.ParquetFile(fh), self.columns, self.chunk_rows)
                    else:
                        yield from csv_batches(fh, kind, self.columns, self.chunk_rows)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise InvalidInput(f"{name}: cannot be read: {exc}",
                                       details=[{"field": "input", "problem": f"unreadable file {name}"}]) from exc


def cast_chunks(batches: Iterable[pa.RecordBatch], columns: InputColumns, chunk_rows: int) -> Iterator[Chunk]:
    """Raw record batches -> chunks of at most `chunk_rows` rows cast by the spec's types, rows
    numbered from 1 (CSV blocks and BigQuery pages come in their own sizes)."""
    row = 1
    for whole in batches:
        for start in range(0, whole.num_rows, chunk_rows):
            raw = whole.slice(start, chunk_rows)
            yield columns.cast(raw, row)
            row += raw.num_rows


def open_source(source: Source | str | dict, columns: InputColumns, chunk_rows: int, *,
                project: str | None = None) -> Reader:
    """Resolve `source` and check its columns; see the module docstring."""
    source = source if isinstance(source, Source) else parse_source(source)
    if source.kind not in ("local", "gcs"):
        return _bigquery_reader(source, columns, chunk_rows, project)
    files = files_at(source.location)
    for name, opener in files:
        with opener() as fh:
            columns.check(_file_columns(fh, name), name)
    return Reader(source, columns, chunk_rows, files)


def _file_columns(fh, name: str) -> list[str]:
    kind = file_kind(name)
    try:
        if kind == "parquet":
            return pq.ParquetFile(fh).schema_arrow.names
        stream = pa.CompressedInputStream(fh, "gzip") if kind == "csv.gz" else fh
        return pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{name}: cannot be read as {kind}: {exc}",
                           details=[{"field": "input", "problem": f"unreadable file {name}"}]) from exc


def _parquet_batches(f: pq.ParquetFile, columns: InputColumns, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    present = [c for c in columns.names if c in f.schema_arrow.names]
    yield from f.iter_batches(batch_size=chunk_rows, columns=present)


def csv_batches(fh, kind: str, columns: InputColumns, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    stream = pa.CompressedInputStream(fh, "gzip") if kind == "csv.gz" else fh
    # Every column we read as text: the casting (and its per-row rejects) is ours, never a
    # type guessed from the first block that a later block then contradicts.
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns.names},
                                   include_columns=columns.names, include_missing_columns=True,
                                   strings_can_be_null=True)
    reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 128)),
                            convert_options=convert)
    for batch in reader:
        yield batch


# --- BigQuery ---------------------------------------------------------------------------------

@contextmanager
def bq_input_errors(where: str):
    """BigQuery's NotFound and BadRequest while resolving input `where` as the 404 / 422 a run
    answers."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.NotFound as exc:
        raise InputNotFound(f"input {where}: {exc.message}", details=[{"field": "input", "problem": "not found"}]) from None
    except gexc.BadRequest as exc:
        raise InvalidInput(f"input {where}: {exc.message}", details=[{"field": "input", "problem": "query failed"}]) from None


def _bigquery_reader(source: Source, columns: InputColumns, chunk_rows: int, project: str | None) -> Reader:
    from google.api_core import exceptions as gexc

    client = bq.bigquery_client(project)
    where = str(source)
    with bq_input_errors(where):
        if source.kind == "bq_table":
            table = client.get_table(source.location)
            names = [f.name for f in table.schema]
            columns.check(names, where)
            selected = [f for f in table.schema if f.name in set(columns.names)]
            rows = client.list_rows(table, selected_fields=selected)
        else:
            rows = client.query(source.location).result()
            columns.check([f.name for f in rows.schema], where)

    stream = iter(rows.to_arrow_iterable(bqstorage_client=bq.bigquery_read_client()))
    try:  # the first batch now: a source that cannot be read fails before any output exists
        first = next(stream, None)
    except gexc.NotFound:
        if source.kind != "bq_query":
            raise InputNotFound(f"input {where}: table disappeared while opening it",
                                details=[{"field": "input", "problem": "not found"}]) from None
        # The emulator keeps no result table for the Storage Read API to read; BigQuery
        # does. Page the result through the REST API instead (correct, only slower).
        stream = iter(client.query(source.location).result().to_arrow_iterable())
        first = next(stream, None)

    def batches() -> Iterator[pa.RecordBatch]:
        if first is not None:
            yield first
            yield from stream

    return Reader(source, columns, chunk_rows, [], table=batches)
