"""Batch inputs, streamed as Arrow record batches and cast by the spec's declared types.

A source is one of
  - `bq://project.dataset.table` (rows streamed through the BigQuery Storage Read API),
  - `{"query": "SELECT ..."}` (BigQuery SQL; its result streamed the same way),
  - `gs://bucket/path`: one Parquet/CSV object, or every such object under a prefix,
  - a local Parquet/CSV file, or a folder of them (recursively),
  - `snowflake://DATABASE.SCHEMA.TABLE` or `snowflake://SELECT ...` (riskscore.io.snowflake; the
    connector is imported only then),
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
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.batch.columns import Chunk, InputColumns, reject_rows
from riskscore.batch.csvread import block_bytes_for, header, read_csv
from riskscore.errors import InputNotFound, InvalidInput, InvalidRequest
from riskscore.io import bq
from riskscore.io.files import file_kind, files_at
from riskscore.io.store import split_gs_uri

__all__ = ["Reader", "Source", "bq_input_errors", "cast_chunks", "csv_chunks", "open_source",
           "parse_source"]

@dataclass(frozen=True)
class Source:
    kind: str  # "local" | "gcs" | "bq_table" | "bq_query" | "snowflake"
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
            if not bq.TABLE_ID.fullmatch(table):
                raise InvalidRequest(f"input {value!r}: expected bq://project.dataset.table",
                                     details=[{"field": "input", "problem": "malformed BigQuery table id"}])
            return Source("bq_table", table)
        if value.startswith("snowflake://"):
            from riskscore.io import snowflake

            snowflake.parse(value)  # InvalidRequest naming `input`, before any connection
            return Source("snowflake", value)
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

    def chunks(self, observe: Callable[[Iterable], Iterator] | None = None) -> Iterator[Chunk]:
        """The cast chunks; `observe` sees the raw record batches on their way (quality gates)."""
        observe = observe or iter
        if self._table is not None:
            yield from cast_chunks(observe(self._table()), self.columns, self.chunk_rows)
            return
        before = 0  # rows of the files before this one: positions run on across files
        for name, opener in self._files:
            kind = file_kind(name)
            with opener() as fh:
                if kind == "parquet":
                    rows = 0
                    try:
                        for chunk in cast_chunks(observe(_parquet_batches(pq.ParquetFile(fh), self.columns, self.chunk_rows)),
                                                 self.columns, self.chunk_rows, first_row=before + 1):
                            rows += chunk.rows_in
                            yield chunk
                    except (pa.ArrowException, OSError):  # Arrow's message may quote values: never passed on
                        raise InvalidInput(f"{name}: cannot be read as Parquet after row {rows}",
                                           details=[{"field": "input", "problem": f"unreadable file {name}"}]) from None
                    before += rows
                else:
                    rows = 0
                    for part in read_csv(fh, kind, self.columns.names, block_bytes_for(self.chunk_rows), name):
                        for _ in observe([part.rows]):  # the parsed rows, for the quality gates
                            pass
                        for chunk in csv_chunks(part, self.columns, self.chunk_rows, before):
                            rows += chunk.rows_in
                            yield chunk
                    before += rows


def csv_chunks(part, columns: InputColumns, chunk_rows: int, before: int) -> Iterator[Chunk]:
    """Chunks of a CSV part (riskscore.batch.csvread): rows cast at their positions, the rows
    that did not parse as rejects with theirs."""
    skipped = [{"row_number": before + pos, "id": None, "field": "(row)", "reason": f"row {pos}: {why}",
                "raw": ""} for pos, why in part.skipped]
    n = part.rows.num_rows
    for start in range(0, max(n, 1), chunk_rows):
        raw = part.rows.slice(start, chunk_rows)
        problems = [(mask[start:start + chunk_rows], col, why) for mask, col, why in part.problems]
        chunk = columns.cast(raw, before + 1, positions=before + part.positions[start:start + chunk_rows],
                             problems=problems)
        if skipped:
            chunk = Chunk(chunk.rows, pa.RecordBatch.from_pylist(chunk.rejects.to_pylist() + reject_rows(skipped, columns.id),
                                                                 schema=chunk.rejects.schema),
                          chunk.rows_in + len(skipped))
            skipped = []
        yield chunk


def cast_chunks(batches: Iterable[pa.RecordBatch], columns: InputColumns, chunk_rows: int,
                first_row: int = 1) -> Iterator[Chunk]:
    """Raw record batches -> chunks of at most `chunk_rows` rows cast by the spec's types, rows
    numbered from `first_row` (BigQuery pages come in their own sizes)."""
    row = first_row
    for whole in batches:
        for start in range(0, whole.num_rows, chunk_rows):
            raw = whole.slice(start, chunk_rows)
            yield columns.cast(raw, row)
            row += raw.num_rows


def open_source(source: Source | str | dict, columns: InputColumns, chunk_rows: int, *,
                project: str | None = None) -> Reader:
    """Resolve `source` and check its columns; see the module docstring."""
    source = source if isinstance(source, Source) else parse_source(source)
    if source.kind == "snowflake":
        return _snowflake_reader(source, columns, chunk_rows)
    if source.kind not in ("local", "gcs"):
        return _bigquery_reader(source, columns, chunk_rows, project)
    files = files_at(source.location)
    for name, opener in files:
        with opener() as fh:
            columns.check(_file_columns(fh, name, columns), name)
    return Reader(source, columns, chunk_rows, files)


def _file_columns(fh, name: str, columns: InputColumns) -> list[str]:
    """The file's column names; InvalidInput (never quoting the file) if it cannot be read or
    names a column the model reads twice."""
    kind = file_kind(name)
    if kind == "parquet":
        try:
            names = pq.ParquetFile(fh).schema_arrow.names
        except (pa.ArrowException, OSError):
            raise InvalidInput(f"{name}: cannot be read as Parquet (expected a Parquet file)",
                               details=[{"field": "input", "problem": f"unreadable file {name}"}]) from None
    else:
        names = header(fh, kind, name)
    twice = sorted({n for n in names if names.count(n) > 1} & set(columns.names))
    if twice:
        raise InvalidInput(f"{name}: column{'s' if len(twice) > 1 else ''} {', '.join(twice)} named more than once",
                           details=[{"field": c, "problem": "column named more than once"} for c in twice])
    return names


def _parquet_batches(f: pq.ParquetFile, columns: InputColumns, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    present = [c for c in columns.names if c in f.schema_arrow.names]
    yield from f.iter_batches(batch_size=chunk_rows, columns=present)


# --- BigQuery ---------------------------------------------------------------------------------

@contextmanager
def bq_input_errors(where: str, *, running_query: bool = False):
    """BigQuery's NotFound and BadRequest while resolving input `where` as the 404 / 422 a run
    answers. While a query runs (`running_query`), BigQuery's message is not passed on: its
    parse and name errors were answered by the dry run before (riskscore.batch.queryguard), and
    what fails at run time is data (a failed cast), whose message quotes the table's values."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.NotFound as exc:
        raise InputNotFound(f"input {where}: {exc.message}", details=[{"field": "input", "problem": "not found"}]) from None
    except gexc.BadRequest as exc:
        said = bq.run_failure(exc) if running_query else exc.message
        raise InvalidInput(f"input {where}: {said}", details=[{"field": "input", "problem": "query failed"}]) from None


def _bigquery_reader(source: Source, columns: InputColumns, chunk_rows: int, project: str | None) -> Reader:
    from google.api_core import exceptions as gexc

    client = bq.bigquery_client(project)
    where = str(source)
    with bq_input_errors(where, running_query=source.kind == "bq_query"):
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
    return Reader(source, columns, chunk_rows, [], table=_resumed(first, stream))


def _resumed(first: pa.RecordBatch | None, stream: Iterator[pa.RecordBatch]) -> Callable[[], Iterator]:
    """The batches of a stream whose first batch was fetched early (to fail before any output
    exists), that one first: what a table Reader streams."""
    def batches() -> Iterator[pa.RecordBatch]:
        if first is not None:
            yield first
            yield from stream

    return batches


# --- Snowflake --------------------------------------------------------------------------------

def _snowflake_reader(source: Source, columns: InputColumns, chunk_rows: int) -> Reader:
    """The query runs and its first batch arrives now: a missing table, an unreachable Snowflake
    or missing columns fail before any output exists."""
    from riskscore.io import snowflake

    stream = snowflake.read_batches(source.location, snowflake.SnowflakeSettings.from_env())
    first = next(stream, None)
    if first is not None:
        columns.check(first.schema.names, source.location)
    return Reader(source, columns, chunk_rows, [], table=_resumed(first, stream))
