"""Batch outputs: scores and rejects of one run_date, replaced as a whole or not at all.

Destinations:
  - a local folder or `gs://bucket/prefix`: `DEST/run_date=YYYY-MM-DD/scores.parquet` and
    `rejects.parquet`, streamed to temporary names (`DEST/run_date=…/.scores.parquet.tmp-…`
    locally, `DEST/_tmp/<run>/…` on GCS, both ignored by Hive-style readers) and moved into
    place only once the run is complete;
  - `bq://project.dataset.table`: the table (partitioned by `run_date`) and `<table>_rejects`
    beside it, created on first use with SCORES_SCHEMA / REJECTS_SCHEMA; rows are loaded into
    staging tables in chunks, then one multi-statement transaction deletes the run_date's rows
    and inserts the staged ones, so a rerun replaces the partition and never duplicates it.

`open_sink` checks the destination before any row is read (OutputNotWritable otherwise);
`abort()` removes every temporary object, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.io import bq
from riskscore.errors import InvalidRequest, OutputNotWritable
from riskscore.io.store import split_gs_uri
from riskscore.batch.schema import FEW_VALUES, REJECTS_SCHEMA, SCORES_SCHEMA, arrow_schema, schema_for

__all__ = ["BQ_LOAD_ROWS", "BigQuerySink", "GcsSink", "LocalSink", "open_sink", "parquet_options",
           "parse_destination"]

SCORES_FILE, REJECTS_FILE = "scores.parquet", "rejects.parquet"
BQ_LOAD_ROWS = 500_000  # rows per staging load job: bounds the memory held for one load
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$")


def parse_destination(value) -> tuple[str, str]:
    """("bq", table id) | ("gcs", gs://bucket/prefix) | ("local", folder), or InvalidRequest."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("output: expected bq://project.dataset.table, gs://bucket/prefix or a local folder",
                             details=[{"field": "output", "problem": "missing or malformed"}])
    value = value.strip()
    if value.startswith("bq://"):
        table = value[len("bq://"):].strip("`")
        if not _TABLE.match(table):
            raise InvalidRequest(f"output {value!r}: expected bq://project.dataset.table",
                                 details=[{"field": "output", "problem": "malformed BigQuery table id"}])
        return "bq", table
    if value.startswith("gs://"):
        if not split_gs_uri(value)[0]:
            raise InvalidRequest(f"output {value!r}: expected gs://bucket/prefix",
                                 details=[{"field": "output", "problem": "no bucket"}])
        return "gcs", value.rstrip("/")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
        raise InvalidRequest(f"output {value!r}: unsupported scheme",
                             details=[{"field": "output", "problem": "use bq://, gs:// or a local folder"}])
    return "local", value


def open_sink(destination: str, run_date: date, id_column: str | None, *, project: str | None = None,
              staging_dataset: str | None = None):
    kind, where = parse_destination(destination)
    if kind == "local":
        return LocalSink(where, run_date, id_column)
    if kind == "gcs":
        return GcsSink(where, run_date, id_column)
    return BigQuerySink(where, run_date, id_column, project, staging_dataset)


def parquet_options(schema: pa.Schema, compression: str = "zstd") -> dict:
    """How batch outputs are written: dictionaries for the few-valued columns only."""
    return {"compression": compression, "use_dictionary": [n for n in schema.names if n in FEW_VALUES]}


class _ParquetPair:
    """Two streaming Parquet writers (scores, rejects) over file objects."""

    def __init__(self, scores_fh, rejects_fh, id_column: str | None):
        self.scores_schema = arrow_schema(schema_for(SCORES_SCHEMA, id_column), for_files=True)
        self.rejects_schema = arrow_schema(schema_for(REJECTS_SCHEMA, id_column), for_files=True)
        self.scores = pq.ParquetWriter(scores_fh, self.scores_schema, **parquet_options(self.scores_schema))
        self.rejects = pq.ParquetWriter(rejects_fh, self.rejects_schema, **parquet_options(self.rejects_schema))

    def write(self, scores: pa.RecordBatch, rejects: pa.RecordBatch) -> None:
        if scores.num_rows:
            self.scores.write_batch(scores.select(self.scores_schema.names))
        if rejects.num_rows:
            self.rejects.write_batch(rejects.select(self.rejects_schema.names))

    def close(self) -> None:
        self.scores.close()
        self.rejects.close()

    def discard(self) -> None:
        """Close both writers of an aborted run, ignoring errors: their files are deleted next
        (a writer left open would try again, on a closed file, when it is collected)."""
        _close_quietly((self.scores, self.rejects))


def _close_quietly(closables) -> None:
    """Close each of `closables` after a failure, ignoring their errors: keep cleaning up."""
    for item in closables:
        try:
            item.close()
        except Exception:  # noqa: BLE001 - cleaning up after a failure: keep going
            pass


def _partition(run_date: date) -> str:
    return f"run_date={run_date.isoformat()}"


class LocalSink:
    def __init__(self, folder: str, run_date: date, id_column: str | None):
        self.dir = Path(folder) / _partition(run_date)
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.final = [self.dir / SCORES_FILE, self.dir / REJECTS_FILE]
        self.temp = [self.dir / f".{p.name}.tmp-{tag}" for p in self.final]
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            clear_stale_temporaries(self.dir, self.final)
            self._files = [pa.OSFile(str(p), "wb") for p in self.temp]
        except OSError as exc:
            self.abort()
            raise OutputNotWritable(f"output {folder}: cannot write {self.dir}: {exc.strerror or exc}",
                                    details=[{"field": "output", "problem": "not writable"}]) from None
        self._pair = _ParquetPair(*self._files, id_column)
        self.location = str(self.dir)

    def write(self, scores: pa.RecordBatch, rejects: pa.RecordBatch) -> None:
        self._pair.write(scores, rejects)

    def commit(self) -> tuple[str, str]:
        self._pair.close()
        for fh in self._files:
            fh.close()
        for tmp, final in zip(self.temp, self.final):
            os.replace(tmp, final)
        return str(self.final[0]), str(self.final[1])

    def abort(self) -> None:
        if hasattr(self, "_pair"):
            self._pair.discard()
        _close_quietly(getattr(self, "_files", []))
        for tmp in self.temp:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # e.g. its folder could not be created: nothing to remove
                pass


def clear_stale_temporaries(folder: Path, finals: list[Path]) -> None:
    """Remove temporaries of runs into `folder` that were killed: their process (the pid in
    the name) is gone, or, on another host, they have not been written for a day."""
    import time

    for final in finals:
        for tmp in folder.glob(f".{final.name}.tmp-*"):
            pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
            try:
                alive = pid.isdigit() and _alive(int(pid)) and time.time() - tmp.stat().st_mtime < 86_400
                if not alive:
                    tmp.unlink(missing_ok=True)
            except OSError:  # removed meanwhile, or not ours to remove
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class GcsSink:
    """Files under `gs://bucket/prefix`. Needs object rights under the prefix only (the batch
    identity holds them on the `scored/` managed folder, never on the bucket): the destination is
    checked by listing the prefix (storage.objects.list), never by reading the bucket
    (storage.buckets.get)."""

    def __init__(self, uri: str, run_date: date, id_column: str | None):
        from riskscore.io.files import storage_client

        bucket_name, prefix = split_gs_uri(uri)
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        self.output = uri
        self.client = storage_client()
        self.bucket = self.client.bucket(bucket_name)
        tag = uuid.uuid4().hex[:12]
        self.final = [f"{base}{_partition(run_date)}/{name}" for name in (SCORES_FILE, REJECTS_FILE)]
        self.temp = [f"{base}_tmp/{tag}/{name}" for name in (SCORES_FILE, REJECTS_FILE)]
        self.uri = f"gs://{bucket_name}"
        with self._not_writable():
            list(self.client.list_blobs(self.bucket, prefix=base, max_results=1))
            self._writers = [self.bucket.blob(name).open("wb", chunk_size=8 << 20, ignore_flush=True)
                             for name in self.temp]
        self._files = [pa.PythonFile(w, mode="w") for w in self._writers]
        self._pair = _ParquetPair(*self._files, id_column)

    @contextmanager
    def _not_writable(self):
        """Google's refusals as OutputNotWritable naming the output and what is wrong."""
        from google.api_core import exceptions as gexc

        try:
            yield
        except gexc.NotFound:
            raise OutputNotWritable(f"output {self.output}: no such bucket {self.uri}",
                                    details=[{"field": "output", "problem": "bucket not found"}]) from None
        except gexc.Forbidden as exc:
            raise OutputNotWritable(f"output {self.output}: this function's identity may not write there "
                                    f"({getattr(exc, 'message', exc)})",
                                    details=[{"field": "output", "problem": "permission denied"}]) from None
        except gexc.GoogleAPIError as exc:
            raise OutputNotWritable(f"output {self.output}: {exc}",
                                    details=[{"field": "output", "problem": "not writable"}]) from None

    def write(self, scores: pa.RecordBatch, rejects: pa.RecordBatch) -> None:
        self._pair.write(scores, rejects)

    def commit(self) -> tuple[str, str]:
        with self._not_writable():  # the uploads complete here, and may still be refused
            self._pair.close()
            for w in self._writers:
                w.close()
            for tmp, final in zip(self.temp, self.final):
                self.bucket.copy_blob(self.bucket.blob(tmp), self.bucket, final)
        self._delete_temp()
        return tuple(f"{self.uri}/{name}" for name in self.final)

    def abort(self) -> None:
        if hasattr(self, "_pair"):
            self._pair.discard()
        _close_quietly(getattr(self, "_writers", []))
        self._delete_temp()

    def _delete_temp(self) -> None:
        for name in self.temp:
            try:
                self.bucket.blob(name).delete()
            except Exception:  # noqa: BLE001 - absent already (never written) is fine
                pass


class BigQuerySink:
    def __init__(self, table_id: str, run_date: date, id_column: str | None, project: str | None,
                 staging_dataset: str | None = None):
        from google.api_core import exceptions as gexc
        from google.cloud import bigquery

        self.run_date = run_date
        self.client = bq.bigquery_client(project)
        self.table_id, self.rejects_id = table_id, f"{table_id}_rejects"
        self.schemas = [schema_for(SCORES_SCHEMA, id_column), schema_for(REJECTS_SCHEMA, id_column)]
        self.arrow = [arrow_schema(s, for_files=False) for s in self.schemas]
        tag = uuid.uuid4().hex[:12]
        # Staging tables go to `staging_dataset` (project.dataset) where set: in the cloud the
        # function may create and drop tables there only, never in the output's dataset.
        stage = f"{staging_dataset}.{table_id.rsplit('.', 1)[-1]}" if staging_dataset else table_id
        self.staging = [f"{stage}__staging_{tag}", f"{stage}_rejects__staging_{tag}"]
        self._buffers: list[list[pa.RecordBatch]] = [[], []]
        self._created: list[str] = []
        try:
            for target, schema in zip((self.table_id, self.rejects_id), self.schemas):
                self._ensure(target, schema, partitioned=True)
            for target, schema in zip(self.staging, self.schemas):
                self._ensure(target, schema, partitioned=False)
                self._created.append(target)
        except gexc.GoogleAPIError as exc:
            self.abort()
            raise OutputNotWritable(f"output bq://{table_id}: {getattr(exc, 'message', exc)}",
                                    details=[{"field": "output", "problem": "not writable"}]) from None
        self._bigquery = bigquery
        self.location = f"bq://{table_id}"

    def _ensure(self, table_id: str, schema: list[dict], partitioned: bool) -> None:
        from google.api_core import exceptions as gexc
        from google.cloud import bigquery

        if partitioned:  # look first: writing rows needs no right to create tables (Terraform may)
            try:
                self.client.get_table(table_id)
                return
            except gexc.NotFound:
                pass
        table = bigquery.Table(table_id, schema=[bigquery.SchemaField.from_api_repr(f) for f in schema])
        if partitioned:
            table.time_partitioning = bigquery.TimePartitioning(field="run_date")
        else:  # a staging table a crashed run could not drop disappears by itself
            table.expires = datetime.now(timezone.utc) + timedelta(days=1)
        self.client.create_table(table, exists_ok=True)

    def write(self, scores: pa.RecordBatch, rejects: pa.RecordBatch) -> None:
        for k, batch in enumerate((scores, rejects)):
            if batch.num_rows:
                run_date = pa.array([self.run_date] * batch.num_rows, pa.date32())
                arrays = [batch.column(name) if name in batch.schema.names else run_date
                          for name in self.arrow[k].names]
                self._buffers[k].append(pa.RecordBatch.from_arrays(arrays, schema=self.arrow[k]))
                if sum(b.num_rows for b in self._buffers[k]) >= BQ_LOAD_ROWS:
                    self._load(k)

    def _load(self, k: int) -> None:
        if not self._buffers[k]:
            return
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_batches(self._buffers[k], schema=self.arrow[k]), buf,
                       **parquet_options(self.arrow[k], compression="snappy"))  # the load's codec as before
        self._buffers[k] = []
        buf.seek(0)
        config = self._bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_APPEND")
        self.client.load_table_from_file(buf, self.staging[k], job_config=config).result()

    def commit(self) -> tuple[str, str]:
        from google.api_core import exceptions as gexc

        self._load(0)
        self._load(1)
        cols = [", ".join(f"`{f['name']}`" for f in s) for s in self.schemas]
        # A literal, not a query parameter: the emulator does not pass parameters into the
        # statements of a script (and a `date`'s isoformat cannot inject anything).
        day = f"DATE '{self.run_date.isoformat()}'"
        sql = (
            "BEGIN TRANSACTION;\n"
            f"DELETE FROM `{self.table_id}` WHERE run_date = {day};\n"
            f"INSERT INTO `{self.table_id}` ({cols[0]}) SELECT {cols[0]} FROM `{self.staging[0]}`;\n"
            f"DELETE FROM `{self.rejects_id}` WHERE run_date = {day};\n"
            f"INSERT INTO `{self.rejects_id}` ({cols[1]}) SELECT {cols[1]} FROM `{self.staging[1]}`;\n"
            "COMMIT TRANSACTION;")
        try:
            self.client.query(sql).result()
        except gexc.GoogleAPIError as exc:
            raise OutputNotWritable(f"output bq://{self.table_id}: {getattr(exc, 'message', exc)}",
                                    details=[{"field": "output", "problem": "not writable"}]) from None
        finally:
            self._drop_staging()
        return f"bq://{self.table_id}", f"bq://{self.rejects_id}"

    def abort(self) -> None:
        self._drop_staging()

    def _drop_staging(self) -> None:
        for table_id in self._created:
            try:
                self.client.delete_table(table_id, not_found_ok=True)
            except Exception:  # noqa: BLE001 - best effort after a failure
                pass
        self._created = []
