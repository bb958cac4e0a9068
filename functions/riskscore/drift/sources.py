"""Where the drift check reads scored rows: streamed as Arrow record batches, never all at once.

A source is named by a URI:

| URI | what |
|---|---|
| `path/to/predictions.jsonl` | a local prediction log, as `score` writes it with PREDICTION_LOG |
| `path/to/folder/` | a local batch output `DEST/run_date=YYYY-MM-DD/scores.parquet` (or one partition) |
| `path/to/scores.parquet` | one batch-output file |
| `gs://bucket/prefix/` | a batch output in GCS (or one `run_date=…/` partition) |
| `bq://project.dataset.table` | the prediction log's BigQuery sink table (Cloud Logging export, with `jsonPayload` and `timestamp`), or a batch scores table (`run_date`) |

Every source yields batches with the same columns (`COMMON` plus the model's features and,
when present, the target): `time` (timestamp, UTC), `model_version`, `applicant_id_hash`,
`pd`, `score`, `rating`. A feature or target the source lacks is simply absent from the
batches (batch outputs carry no features unless they pass them through). Rows are filtered to
the window `[start, end + 1 day)` by time; a batch output's time is its run date (the
`run_date` column or partition folder; `scored_at` only when neither exists).

Readers: batch outputs are listed and opened by `riskscore.io.files` (as batch scoring's
inputs are), BigQuery results stream through the same Storage Read client
(`riskscore.io.bq`); what is drift's own is the prediction-log format (JSON lines, the sink's
`jsonPayload` columns), the window and the mapping to the common columns.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from riskscore.errors import InputNotFound, InvalidInput

__all__ = ["BATCH_ROWS", "BatchOutputSource", "BigQuerySource", "COMMON", "Columns", "JsonlLogSource",
           "open_source", "partition_date", "window_bounds"]

COMMON = ("time", "model_version", "applicant_id_hash", "pd", "score", "rating")
_PARTITION = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})")
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Columns:
    """What the drift check wants from a source: features (name -> 'numeric'/'categorical'),
    the spec's target column (outcomes for a backtest) and id column (hashed for display)."""

    features: dict[str, str]
    target: str | None = None
    id: str | None = None


def window_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    hi = datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1)
    return lo, hi


def partition_date(uri: str) -> date | None:
    """The run date of a source naming one batch-output partition (`…/run_date=2026-11-21/`)."""
    found = _PARTITION.findall(uri)
    return date.fromisoformat(found[-1]) if found else None


def open_source(uri: str, *, project: str | None = None):
    """The source for `uri` (see the module docstring); InputNotFound if a local path is absent."""
    if not uri or not isinstance(uri, str):
        raise InputNotFound("no source given: pass \"source\" or set DRIFT_SOURCE")
    if uri.startswith("bq://"):
        return BigQuerySource(uri, project=project)
    if uri.startswith("gs://"):
        return BatchOutputSource(uri)
    if "://" in uri:
        raise InvalidInput(f"source {uri!r}: unsupported scheme; use a local path, gs:// or bq://")
    path = Path(uri)
    if not path.exists():
        raise InputNotFound(f"source {uri!r} does not exist")
    if path.is_dir() or path.suffix == ".parquet":
        return BatchOutputSource(uri)
    return JsonlLogSource(uri)


# --------------------------------------------------------------------------- helpers


def _pa():
    import pyarrow as pa  # imported on first read: the module itself stays free to import

    return pa


def _finish(batch, lo: datetime, hi: datetime):
    """The rows of a normalized batch whose time is in [lo, hi) (rows without a time are dropped)."""
    import pyarrow.compute as pc

    if batch.num_rows:
        t = batch.column("time")
        mask = pc.and_(pc.greater_equal(t, _pa().scalar(lo, t.type)), pc.less(t, _pa().scalar(hi, t.type)))
        batch = batch.filter(pc.fill_null(mask, False))
    return batch


def _hash_ids(values) -> list[str | None]:
    """Batch outputs carry raw ids: shown hashed, like the prediction log's applicant_id_hash."""
    return [None if v is None else hashlib.sha256(str(v).encode()).hexdigest() for v in values.to_pylist()]


def _normalize_batch_output(batch, columns: Columns, day: date | None):
    """A batch-output record batch (the columns of riskscore.batch.schema) -> the common columns."""
    pa = _pa()
    import pyarrow.compute as pc

    n = batch.num_rows
    names = set(batch.schema.names)
    arrays, fields = [], []

    def add(name, array):
        arrays.append(array)
        fields.append(name)

    # A batch output belongs to its run date (the partition), not to the moment it was scored:
    # a rerun days later still reports on the same day.
    if "run_date" in names:
        add("time", pc.cast(pc.cast(batch.column("run_date"), pa.date32()), pa.timestamp("us", tz="UTC")))
    elif day is not None:
        lo, _ = window_bounds(day, day)
        add("time", pa.array([lo] * n, pa.timestamp("us", tz="UTC")))
    elif "scored_at" in names:
        add("time", pc.cast(batch.column("scored_at"), pa.timestamp("us", tz="UTC")))
    else:
        add("time", pa.nulls(n, pa.timestamp("us", tz="UTC")))
    add("model_version", pc.cast(batch.column("model_version"), pa.string()) if "model_version" in names
        else pa.nulls(n, pa.string()))
    add("applicant_id_hash", pa.array(_hash_ids(batch.column(columns.id)), pa.string())
        if columns.id and columns.id in names else pa.nulls(n, pa.string()))
    for name in ("pd", "score"):
        add(name, pc.cast(batch.column(name), pa.float64()) if name in names else pa.nulls(n, pa.float64()))
    add("rating", pc.cast(batch.column("rating"), pa.string()) if "rating" in names else pa.nulls(n, pa.string()))
    for name, kind in columns.features.items():
        if name in names:
            add(name, pc.cast(batch.column(name), pa.float64() if kind == "numeric" else pa.string()))
    if columns.target and columns.target in names:
        add(columns.target, pc.cast(batch.column(columns.target), pa.float64()))
    return pa.RecordBatch.from_arrays(arrays, names=fields)


def _parquet_batches(handle, uri: str, columns: Columns, day: date | None):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(handle)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a Parquet file"
        raise InvalidInput(f"source {uri!r} is not a readable Parquet file: {exc}") from None
    wanted = set(COMMON) | set(columns.features) | {"scored_at", "run_date", columns.target, columns.id}
    present = [n for n in pf.schema_arrow.names if n in wanted]
    if "pd" not in present:
        raise InvalidInput(f"source {uri!r} has no 'pd' column: not a batch-scoring output")
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=present):
        yield _normalize_batch_output(batch, columns, day)


# --------------------------------------------------------------------------- sources


class JsonlLogSource:
    """A local prediction log (JSON lines as `score` writes them), parsed by Arrow's
    multithreaded JSON reader with an explicit schema (unknown fields ignored)."""

    def __init__(self, uri: str):
        self.uri = uri

    def batches(self, columns: Columns, start: date, end: date) -> Iterator:
        pa = _pa()
        import pyarrow.json as pj

        feats = pa.struct([(n, pa.float64() if k == "numeric" else pa.string())
                           for n, k in columns.features.items()])
        outs = pa.struct([("pd", pa.float64()), ("score", pa.float64()), ("rating", pa.string())])
        schema = pa.schema([("time", pa.timestamp("us", tz="UTC")), ("model_version", pa.string()),
                            ("applicant_id_hash", pa.string()), ("log_type", pa.string()),
                            ("features", feats), ("outputs", outs)]
                           + ([(columns.target, pa.float64())] if columns.target else []))
        lo, hi = window_bounds(start, end)
        try:
            reader = pj.open_json(self.uri, read_options=pj.ReadOptions(block_size=8 << 20),
                                  parse_options=pj.ParseOptions(explicit_schema=schema,
                                                                unexpected_field_behavior="ignore"))
            for batch in reader:
                f, o = batch.column("features"), batch.column("outputs")
                arrays = [batch.column("time"), batch.column("model_version"), batch.column("applicant_id_hash"),
                          o.field("pd"), o.field("score"), o.field("rating")]
                names = list(COMMON)
                for name in columns.features:
                    arrays.append(f.field(name))
                    names.append(name)
                if columns.target:
                    arrays.append(batch.column(columns.target))
                    names.append(columns.target)
                yield _finish(pa.RecordBatch.from_arrays(arrays, names=names), lo, hi)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise InvalidInput(f"source {self.uri!r} is not a readable prediction log (JSON lines): "
                                   f"{exc}") from None
        except OSError as exc:
            raise InputNotFound(f"source {self.uri!r} cannot be opened: {exc}") from None


class BatchOutputSource:
    """A batch output: a local folder or `gs://bucket/prefix` holding
    `run_date=YYYY-MM-DD/scores.parquet` partitions, one partition, or one Parquet file.

    Files are listed and opened by `riskscore.io.files` (local
    files, and GCS objects read in ranged 8 MiB requests), so both read storage one way; only
    the partitions inside the window are opened."""

    def __init__(self, uri: str):
        self.uri = uri

    def batches(self, columns: Columns, start: date, end: date) -> Iterator:
        from riskscore.io.files import files_at

        lo, hi = window_bounds(start, end)
        files = [(name, opener) for name, opener in files_at(self.uri) if re.search(r"(^|/)scores[^/]*\.parquet$", name)]
        if not files:
            raise InputNotFound(f"source {self.uri!r} holds no run_date=YYYY-MM-DD/scores.parquet")
        for name, opener in files:
            day = partition_date(name)
            if day is not None and not (start <= day <= end):
                continue
            with opener() as fh:
                for batch in _parquet_batches(fh, name, columns, day):
                    yield _finish(batch, lo, hi)


class BigQuerySource:
    """A BigQuery table: the prediction log's sink (columns `timestamp`, `jsonPayload.*`) or a
    batch scores table (`run_date`). The window is pushed into the query; results stream as
    Arrow batches (through the Storage Read API when a read client is available)."""

    def __init__(self, uri: str, *, project=None):
        self.uri = uri
        self.table = uri[len("bq://"):]
        if self.table.count(".") != 2:
            raise InvalidInput(f"source {uri!r}: use bq://project.dataset.table")
        self.project = project

    def batches(self, columns: Columns, start: date, end: date) -> Iterator:
        from google.api_core import exceptions as gexc
        from google.cloud import bigquery

        from riskscore.io import bq

        client = bq.bigquery_client(self.project)
        try:
            table = client.get_table(self.table)
        except gexc.NotFound:
            raise InputNotFound(f"source {self.uri!r}: table not found") from None
        except gexc.GoogleAPIError as exc:
            raise InvalidInput(f"source {self.uri!r} cannot be read: {exc}") from None
        schema = {f.name: f for f in table.schema}
        lo, hi = window_bounds(start, end)
        if "jsonPayload" in schema:
            sql, params = self._sink_query(schema, columns, lo, hi)
        elif "pd" in schema:
            sql, params = self._batch_query(schema, columns, start, end)
        else:
            raise InvalidInput(f"source {self.uri!r} is neither a prediction-log sink table "
                                   "(jsonPayload) nor a batch scores table (pd)")
        try:
            rows = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()
            # Streamed through the Storage Read API, as batch scoring reads its tables.
            stream = rows.to_arrow_iterable(bqstorage_client=bq.bigquery_read_client())
            for batch in stream:
                if "jsonPayload" in schema:
                    yield batch
                else:
                    yield _normalize_batch_output(batch, columns, None)
        except gexc.GoogleAPIError as exc:
            raise InvalidInput(f"source {self.uri!r} cannot be read: {exc}") from None

    def _sink_query(self, schema, columns: Columns, lo, hi):
        from google.cloud import bigquery

        payload = {f.name: f for f in schema["jsonPayload"].fields}
        sub = {name: {f.name for f in payload[name].fields} if name in payload else set()
               for name in ("features", "outputs")}

        def col(path: str, present: bool, alias: str, typ: str) -> str:
            return f"CAST(jsonPayload.{path} AS {typ}) AS `{alias}`" if present else f"CAST(NULL AS {typ}) AS `{alias}`"

        select = ["timestamp AS `time`", col("model_version", "model_version" in payload, "model_version", "STRING"),
                  col("applicant_id_hash", "applicant_id_hash" in payload, "applicant_id_hash", "STRING"),
                  col("outputs.pd", "pd" in sub["outputs"], "pd", "FLOAT64"),
                  col("outputs.score", "score" in sub["outputs"], "score", "FLOAT64"),
                  col("outputs.rating", "rating" in sub["outputs"], "rating", "STRING")]
        for name, kind in columns.features.items():
            select.append(col(f"features.{name}", name in sub["features"], name,
                              "FLOAT64" if kind == "numeric" else "STRING"))
        where = "timestamp >= @lo AND timestamp < @hi"
        if "log_type" in payload:
            where += " AND jsonPayload.log_type = 'prediction'"
        sql = f"SELECT {', '.join(select)} FROM `{self.table}` WHERE {where}"
        return sql, [bigquery.ScalarQueryParameter("lo", "TIMESTAMP", lo),
                     bigquery.ScalarQueryParameter("hi", "TIMESTAMP", hi)]

    def _batch_query(self, schema, columns: Columns, start, end):
        from google.cloud import bigquery

        wanted = set(COMMON) | set(columns.features) | {"scored_at", "run_date", columns.target, columns.id}
        select = ", ".join(f"`{n}`" for n in schema if n in wanted)
        where = "run_date BETWEEN @start AND @end" if "run_date" in schema else "TRUE"
        sql = f"SELECT {select} FROM `{self.table}` WHERE {where}"
        return sql, [bigquery.ScalarQueryParameter("start", "DATE", start),
                     bigquery.ScalarQueryParameter("end", "DATE", end)]
