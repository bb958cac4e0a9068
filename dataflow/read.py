"""The pipeline's input: `batch_score`'s sources, cut into units that workers read in parallel.

At launch `plan` resolves the source exactly as `batch_score` does (`open_source`: the same
files in the same name order, every file's or table's columns checked before anything runs,
the same InputNotFound / InvalidInput errors) and lists its files, or opens a BigQuery Storage
Read session and lists its streams. Workers then split files into units (a Parquet row group,
a whole CSV file, a read stream), read and cast each unit by the spec's declared types
(`InputColumns.cast`, the same per-row rejects) in chunks of `chunk_rows`.

Beam's own file IO (ReadFromParquet, ReadFromText) is not used: it yields rows as dicts or
lines, loses the input order the row numbers need, and would cast differently. Workers open
files with the project's GCS client (`files.open_read`), which the tests run against the GCS
emulator. A Parquet file splits into row groups; a CSV file is one unit (split very large CSV
inputs into several files, or convert them to Parquet).

A unit's key is its position in the input, (file index, row group); rejects are numbered from
1 within their unit and renumbered to their position in the whole input once every unit's row
count is known (`output.Finalize`), so row numbers equal `batch_score`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.batch.columns import Chunk, InputColumns
from riskscore.batch.csvread import block_bytes_for, read_csv
from riskscore.batch.sources import cast_chunks, csv_chunks, open_source, parse_source
from riskscore.errors import InvalidInput
from riskscore.io.files import file_kind

from .files import open_read


@dataclass(frozen=True)
class Plan:
    """What workers read: file names (in input order) or BigQuery read-stream names."""

    kind: str  # "files" | "streams"
    names: tuple[str, ...]


def plan(source, columns: InputColumns, *, project: str | None = None) -> Plan:
    """Resolve and check `source` at launch (raises like batch_score's open_source)."""
    parsed = parse_source(source)
    if parsed.kind == "snowflake":
        # Workers would need the Snowflake connector and its secret; batch_score reads Snowflake.
        raise InvalidInput("input snowflake://…: Dataflow reads BigQuery, GCS and local files, not Snowflake "
                           "(score a Snowflake query with batch_score, or export it to GCS first)",
                           details=[{"field": "input", "problem": "Snowflake is not a Dataflow source"}])
    if parsed.kind in ("local", "gcs"):
        reader = open_source(parsed, columns, chunk_rows=1, project=project)  # checks every file's columns
        return Plan("files", tuple(reader.file_names))
    from .bigquery import read_streams

    return Plan("streams", tuple(read_streams(parsed, columns, project)))


@dataclass(frozen=True)
class Unit:
    """One independently readable part of the input; `key` orders units as the input does."""

    key: tuple[int, int]
    name: str
    row_group: int | None = None  # Parquet: the row group; None: the whole file or stream


def split(indexed_name: tuple[int, str]) -> Iterator[Unit]:
    """A file -> its units: each Parquet row group, or the whole CSV file."""
    index, name = indexed_name
    if file_kind(name) == "parquet":
        with open_read(name) as fh:
            groups = pq.ParquetFile(fh).metadata.num_row_groups
        for g in range(groups):
            yield Unit((index, g), name, g)
        if groups == 0:
            yield Unit((index, 0), name, None)
    else:
        yield Unit((index, 0), name, None)


def _raw_batches(unit: Unit, columns: InputColumns, chunk_rows: int, plan_kind: str) -> Iterator[pa.RecordBatch]:
    if plan_kind == "streams":
        from .bigquery import stream_batches

        yield from stream_batches(unit.name)
        return
    kind = file_kind(unit.name)
    with open_read(unit.name) as fh:
        if kind == "parquet":
            f = pq.ParquetFile(fh)
            if unit.row_group is None:
                return
            present = [c for c in columns.names if c in f.schema_arrow.names]
            yield from f.iter_batches(batch_size=chunk_rows, row_groups=[unit.row_group], columns=present)


def chunks(unit: Unit, columns: InputColumns, chunk_rows: int, plan_kind: str = "files") -> Iterator[Chunk]:
    """The unit's chunks, cast by the spec's types; rows numbered from 1 within the unit.

    A file that cannot be read fails the run with InvalidInput naming it, as in batch_score."""
    kind = file_kind(unit.name) if plan_kind != "streams" else None
    if kind in ("csv", "csv.gz"):  # batch_score's CSV reading: a bad line is a reject at its position
        with open_read(unit.name) as fh:
            for part in read_csv(fh, kind, columns.names, block_bytes_for(chunk_rows), unit.name):
                yield from csv_chunks(part, columns, chunk_rows, 0)
        return
    try:
        yield from cast_chunks(_raw_batches(unit, columns, chunk_rows, plan_kind), columns, chunk_rows)
    except (pa.ArrowException, OSError):  # Arrow's message may quote values: never passed on
        raise InvalidInput(f"{unit.name}: cannot be read",
                           details=[{"field": "input", "problem": f"unreadable file {unit.name}"}]) from None
