"""The pipeline's output: staged in parallel, committed once, exactly like batch_score's.

Workers stage their scores and rejects as Parquet files under a temporary prefix (one file per
bundle, one row group per chunk; `DEST/_tmp/<run>/` for file outputs, which Hive-style
readers ignore, or the pipeline's temp location for BigQuery). One `Finalize` step then opens
`batch_score`'s own sink for the destination (`riskscore.batch.sinks.open_sink`) and commits:

- files (local or GCS): the staged chunks are streamed into `DEST/run_date=…/scores.parquet`
  and `rejects.parquet` in input order and moved into place at the end;
- BigQuery: the staged score files are loaded into the sink's staging table (one load job by
  URI on GCS), the rejects written through the sink, and the sink's one transaction replaces
  the run_date's rows of both tables.

So a rerun of a run_date replaces its output and never duplicates it, and a failed run leaves
nothing half-written. Rejects are renumbered here to their position in the whole input, and the
run fails unless rows_in = rows_scored + rows_rejected.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from .files import Writer, delete_prefix, join, open_read
from .handler import METRICS_NAMESPACE

MAX_URIS_PER_LOAD = 10_000  # BigQuery's limit of source URIs per load job


class Stage(beam.DoFn):
    """(chunk key, record batch) -> Parquet files under `prefix`, one per bundle; emits, per
    file, {"path", "chunks": [(chunk key, row group, rows)]}. `counter`: a Beam metric of the
    rows staged (riskscore/rows_scored for the scores)."""

    def __init__(self, prefix: str, kind: str, counter: str | None = None):
        self.prefix, self.kind = prefix, kind
        self.rows = beam.metrics.Metrics.counter(METRICS_NAMESPACE, counter) if counter else None

    def start_bundle(self):
        self._writer = self._parquet = None
        self._chunks = []

    def process(self, element):
        key, batch = element
        if batch.num_rows == 0:
            return
        if self._parquet is None:
            self._writer = Writer(join(self.prefix, f"{self.kind}-{uuid.uuid4().hex}.parquet"))
            self._parquet = pq.ParquetWriter(self._writer.file, batch.schema, compression="zstd")
        self._parquet.write_batch(batch, row_group_size=max(batch.num_rows, 1))  # one row group per chunk
        self._chunks.append((tuple(key), len(self._chunks), batch.num_rows))
        if self.rows is not None:
            self.rows.inc(batch.num_rows)

    def finish_bundle(self):
        if self._parquet is None:
            return
        self._parquet.close()
        self._writer.close()
        yield WindowedValue({"path": self._writer.name, "chunks": self._chunks}, 0, [GlobalWindow()])


def unit_offsets(counts: list[tuple[tuple, int]]) -> dict[tuple, int]:
    """{unit key: rows before it in the input}, from (unit key, rows) pairs in any order."""
    rows: dict[tuple, int] = defaultdict(int)
    for unit, n in counts:
        rows[tuple(unit)] += n
    offsets, seen = {}, 0
    for unit in sorted(rows):
        offsets[unit] = seen
        seen += rows[unit]
    return offsets


def _in_order(staged: list[dict]):
    """Every staged chunk as (chunk key, path, row group), in input order."""
    return sorted((tuple(key), s["path"], rg) for s in staged for key, rg, _ in s["chunks"])


class _Files:
    """Open staged files, each once."""

    def __init__(self):
        self._open = {}

    def row_group(self, path: str, rg: int) -> pa.RecordBatch:
        if path not in self._open:
            self._open[path] = pq.ParquetFile(open_read(path))
        # A staged row group is one non-empty chunk: one record batch.
        return self._open[path].read_row_group(rg).combine_chunks().to_batches()[0]

    def close(self):
        for f in self._open.values():
            f.close()


class Finalize(beam.DoFn):
    """Commits the staged output through batch_score's sink; yields the run's summary."""

    def __init__(self, destination: str, run_date: date, id_column: str | None, prefix: str, *,
                 project: str | None, staging_dataset: str | None, model_version: str):
        self.destination, self.run_date, self.id_column, self.prefix = destination, run_date, id_column, prefix
        self.project, self.staging_dataset, self.model_version = project, staging_dataset, model_version

    def process(self, _, staged_scores, staged_rejects, counts):
        from riskscore.batch.schema import REJECTS_SCHEMA, SCORES_SCHEMA, arrow_schema, schema_for
        from riskscore.batch.sinks import BigQuerySink, open_sink
        from riskscore.errors import RiskScoreError

        offsets = unit_offsets(counts)
        rows_in = sum(n for _, n in counts)
        rows_scored = sum(n for s in staged_scores for *_, n in s["chunks"])
        rows_rejected = sum(n for s in staged_rejects for *_, n in s["chunks"])
        if rows_in != rows_scored + rows_rejected:
            raise RiskScoreError(f"rows_in {rows_in} != rows_scored {rows_scored} + rows_rejected "
                                 f"{rows_rejected}: refusing to commit an incomplete run")
        empty_scores = _empty(arrow_schema(schema_for(SCORES_SCHEMA, self.id_column), for_files=False))
        empty_rejects = _empty(arrow_schema(schema_for(REJECTS_SCHEMA, self.id_column), for_files=True))
        sink = open_sink(self.destination, self.run_date, self.id_column, project=self.project,
                         staging_dataset=self.staging_dataset)
        files = _Files()
        try:
            if isinstance(sink, BigQuerySink):
                _load_staged(sink, sorted({s["path"] for s in staged_scores}))
            else:
                for _, path, rg in _in_order(staged_scores):
                    sink.write(files.row_group(path, rg), empty_rejects)
            for key, path, rg in _in_order(staged_rejects):
                rejects = files.row_group(path, rg)
                renumbered = pc.add(rejects.column("row_number"), pa.scalar(offsets[key[:2]], pa.int64()))
                i = rejects.schema.get_field_index("row_number")
                rejects = rejects.set_column(i, rejects.schema.field(i), renumbered)  # keeps NOT NULL
                sink.write(empty_scores, rejects)
            output, rejects_out = sink.commit()
        except BaseException:
            sink.abort()
            raise
        finally:
            files.close()
        delete_prefix(self.prefix)
        yield {"rows_in": rows_in, "rows_scored": rows_scored, "rows_rejected": rows_rejected,
               "output": output, "rejects": rejects_out, "model_version": self.model_version,
               "run_date": self.run_date.isoformat()}


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _load_staged(sink, paths: list[str]) -> None:
    """Staged score files -> the BigQuery sink's staging table (by URI from GCS, else uploaded)."""
    config = sink._bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_APPEND")
    uris = [p for p in paths if p.startswith("gs://")]
    for start in range(0, len(uris), MAX_URIS_PER_LOAD):
        sink.client.load_table_from_uri(uris[start:start + MAX_URIS_PER_LOAD], sink.staging[0],
                                        job_config=config).result()
    for path in paths:
        if not path.startswith("gs://"):
            with open(path, "rb") as fh:
                sink.client.load_table_from_file(fh, sink.staging[0], job_config=config).result()
