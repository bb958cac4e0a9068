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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from riskscore.errors import InputNotFound, InvalidInput
from riskscore.io.bq import TABLE_ID

__all__ = ["BATCH_ROWS", "BatchOutputSource", "BigQuerySource", "COMMON", "Columns", "JsonlLogSource",
           "open_source", "partition_date", "window_bounds"]

COMMON = ("time", "model_version", "applicant_id_hash", "pd", "score", "rating")
# A challenger's shadow decision, when the rows carry one (riskscore.drift.compare).
CHALLENGER = ("challenger_version", "challenger_pd", "challenger_score", "challenger_rating")
_CHALLENGER_TYPES = ("string", "float64", "float64", "string")
_PARTITION = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})")
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Columns:
    """What the drift check wants from a source: features (name -> 'numeric'/'categorical'),
    the spec's target column (outcomes for a backtest) and id column (hashed for display), and
    its protected columns (name -> kind; fairness figures). Only batch outputs and tables can
    carry protected columns: the prediction log never holds them."""

    features: dict[str, str]
    target: str | None = None
    id: str | None = None
    protected: dict[str, str] = field(default_factory=dict)

    def batch_output_columns(self) -> set:
        """The columns of a batch output (a file or a table) that the check reads."""
        return set(COMMON) | set(CHALLENGER) | set(self.features) | set(self.protected) | {
            "scored_at", "run_date", self.target, self.id}


def window_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    hi = datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1)
    return lo, hi


def partition_date(uri: str) -> date | None:
    """The run date of a source naming one batch-output partition (`…/run_date=2026-11-21/`)."""
    found = _PARTITION.findall(uri)
    try:
        return date.fromisoformat(found[-1]) if found else None
    except ValueError:  # run_date=2026-13-45 names no day: not a partition
        return None


def open_source(uri: str, *, project: str | None = None, id_salt: str | None = None):
    """The source for `uri` (see the module docstring); InputNotFound if a local path is absent
    or unreadable (one answer for both). Ids of batch outputs are hashed with `id_salt` like
    the prediction log's; without a salt they are dropped."""
    if not uri or not isinstance(uri, str):
        raise InputNotFound("no source given: pass \"source\" or set DRIFT_SOURCE")
    salt = id_salt.encode() if id_salt else None
    if uri.startswith("bq://"):
        return BigQuerySource(uri, project=project, id_salt=salt)
    if uri.startswith("gs://"):
        return BatchOutputSource(uri, id_salt=salt)
    if "://" in uri:
        raise InvalidInput(f"source {uri[:200]!r}: unsupported scheme; use a local path, gs:// or bq://",
                           details=[{"field": "source", "problem": "unsupported scheme"}])
    path = Path(uri)
    try:
        if path.is_dir() or path.suffix == ".parquet":
            if not path.exists():
                raise OSError
            return BatchOutputSource(uri, id_salt=salt)
        with open(path, "rb"):
            pass
    except (OSError, ValueError):
        raise InputNotFound(f"source {uri[:200]!r} does not exist or cannot be read",
                            details=[{"field": "source", "problem": "not found"}]) from None
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


def _hash_ids(values, salt: bytes) -> list[str | None]:
    """Batch outputs carry raw ids: shown hashed with the prediction log's salt and scheme, so
    one applicant has one hash in both, and no lookup table reverses it."""
    return [None if v is None else hashlib.sha256(salt + str(v).encode()).hexdigest() for v in values.to_pylist()]


def _normalize_batch_output(batch, columns: Columns, day: date | None, salt: bytes | None = None):
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
    add("applicant_id_hash", pa.array(_hash_ids(batch.column(columns.id), salt), pa.string())
        if salt and columns.id and columns.id in names else pa.nulls(n, pa.string()))
    for name in ("pd", "score"):
        add(name, pc.cast(batch.column(name), pa.float64()) if name in names else pa.nulls(n, pa.float64()))
    add("rating", pc.cast(batch.column("rating"), pa.string()) if "rating" in names else pa.nulls(n, pa.string()))
    for name, kind in zip(CHALLENGER, _CHALLENGER_TYPES):
        if name in names:
            add(name, pc.cast(batch.column(name), getattr(pa, kind)()))
    for name, kind in columns.features.items():
        if name in names:
            add(name, pc.cast(batch.column(name), pa.float64() if kind == "numeric" else pa.string()))
    if columns.target and columns.target in names:
        add(columns.target, pc.cast(batch.column(columns.target), pa.float64()))
    for name, kind in columns.protected.items():
        if name in names and name not in fields:
            add(name, pc.cast(batch.column(name), pa.float64() if kind == "numeric" else pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=fields)


def _parquet_batches(handle, uri: str, columns: Columns, day: date | None, salt: bytes | None = None):
    import pyarrow.parquet as pq

    pa = _pa()
    try:
        pf = pq.ParquetFile(handle)
    except Exception:  # noqa: BLE001 - any parse failure means "not a Parquet file"
        raise InvalidInput(f"source file {uri!r} is not a readable Parquet file",
                           details=[{"field": "source", "problem": "unreadable file"}]) from None
    wanted = columns.batch_output_columns()
    names = pf.schema_arrow.names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"source file {uri!r} has columns named twice: {', '.join(twice)[:200]}",
                           details=[{"field": "source", "problem": "duplicate column names"}])
    present = [n for n in names if n in wanted]
    if "pd" not in present:
        raise InvalidInput(f"source file {uri!r} has no 'pd' column: not a batch-scoring output",
                           details=[{"field": "source", "problem": "no pd column"}])
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=present):
            yield _normalize_batch_output(batch, columns, day, salt)
    except (pa.ArrowException, OSError) as exc:  # a damaged row group, a column of the wrong type
        raise InvalidInput(f"source file {uri!r} cannot be read as a batch output ({type(exc).__name__})",
                           details=[{"field": "source", "problem": "unreadable file"}]) from None


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
        shadow = pa.struct([("model_version", pa.string()), ("pd", pa.float64()), ("score", pa.float64()),
                            ("rating", pa.string())])
        schema = pa.schema([("time", pa.timestamp("us", tz="UTC")), ("model_version", pa.string()),
                            ("applicant_id_hash", pa.string()), ("log_type", pa.string()),
                            ("features", feats), ("outputs", outs), ("challenger", shadow)]
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
                shadow_col = batch.column("challenger")
                if shadow_col.null_count < batch.num_rows:  # a challenger's lines (pd null until it is ready)
                    arrays += [shadow_col.field(k) for k in ("model_version", "pd", "score", "rating")]
                    names += list(CHALLENGER)
                for name in columns.features:
                    arrays.append(f.field(name))
                    names.append(name)
                if columns.target:
                    arrays.append(batch.column(columns.target))
                    names.append(columns.target)
                yield _finish(pa.RecordBatch.from_arrays(arrays, names=names), lo, hi)
        except (pa.ArrowException, ValueError) as exc:
            row = re.search(r"\bin row (\d+)", str(exc))
            where = f" (row {int(row.group(1)) + 1} of a block)" if row else ""
            raise InvalidInput(f"source {self.uri[:200]!r} is not a readable prediction log (JSON lines){where}",
                               details=[{"field": "source", "problem": "unreadable prediction log"}]) from None
        except OSError:
            raise InputNotFound(f"source {self.uri[:200]!r} does not exist or cannot be read",
                                details=[{"field": "source", "problem": "not found"}]) from None


class BatchOutputSource:
    """A batch output: a local folder or `gs://bucket/prefix` holding
    `run_date=YYYY-MM-DD/scores.parquet` partitions, one partition, or one Parquet file.

    Files are listed and opened by `riskscore.io.files` (local
    files, and GCS objects read in ranged 8 MiB requests), so both read storage one way; only
    the partitions inside the window are opened."""

    def __init__(self, uri: str, id_salt: bytes | None = None):
        self.uri, self.salt = uri, id_salt

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
                for batch in _parquet_batches(fh, name, columns, day, self.salt):
                    yield _finish(batch, lo, hi)


class BigQuerySource:
    """A BigQuery table: the prediction log's sink (columns `timestamp`, `jsonPayload.*`) or a
    batch scores table (`run_date`). The window is pushed into the query; results stream as
    Arrow batches (through the Storage Read API when a read client is available)."""

    def __init__(self, uri: str, *, project=None, id_salt: bytes | None = None):
        self.uri = uri
        self.table = uri[len("bq://"):]
        if not TABLE_ID.fullmatch(self.table):
            raise InvalidInput(f"source {uri[:200]!r}: use bq://project.dataset.table",
                               details=[{"field": "source", "problem": "malformed BigQuery table id"}])
        self.project, self.salt = project, id_salt

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
            raise self._unreadable(exc) from None
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
                    yield _normalize_batch_output(batch, columns, None, self.salt)
        except gexc.GoogleAPIError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc) -> InvalidInput:
        """A BigQuery failure reading the table: its class and code only (BigQuery's message may
        quote a value of the table)."""
        return InvalidInput(f"source {self.uri!r} cannot be read ({type(exc).__name__} {getattr(exc, 'code', '')})",
                            details=[{"field": "source", "problem": "unreadable table"}])

    def _sink_query(self, schema, columns: Columns, lo, hi):
        from google.cloud import bigquery

        payload = {f.name: f for f in schema["jsonPayload"].fields}
        sub = {name: {f.name for f in payload[name].fields} if name in payload else set()
               for name in ("features", "outputs", "challenger")}

        def col(path: str, present: bool, alias: str, typ: str) -> str:
            return f"CAST(jsonPayload.{path} AS {typ}) AS `{alias}`" if present else f"CAST(NULL AS {typ}) AS `{alias}`"

        select = ["timestamp AS `time`", col("model_version", "model_version" in payload, "model_version", "STRING"),
                  col("applicant_id_hash", "applicant_id_hash" in payload, "applicant_id_hash", "STRING"),
                  col("outputs.pd", "pd" in sub["outputs"], "pd", "FLOAT64"),
                  col("outputs.score", "score" in sub["outputs"], "score", "FLOAT64"),
                  col("outputs.rating", "rating" in sub["outputs"], "rating", "STRING")]
        if "pd" in sub["challenger"]:  # a challenger's lines (riskscore.model.challenger)
            select += [col(f"challenger.{key}", key in sub["challenger"], alias, typ) for key, alias, typ in
                       (("model_version", "challenger_version", "STRING"), ("pd", "challenger_pd", "FLOAT64"),
                        ("score", "challenger_score", "FLOAT64"), ("rating", "challenger_rating", "STRING"))]
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

        wanted = columns.batch_output_columns()
        select = ", ".join(f"`{n}`" for n in schema if n in wanted)
        where = "run_date BETWEEN @start AND @end" if "run_date" in schema else "TRUE"
        sql = f"SELECT {select} FROM `{self.table}` WHERE {where}"
        return sql, [bigquery.ScalarQueryParameter("start", "DATE", start),
                     bigquery.ScalarQueryParameter("end", "DATE", end)]
