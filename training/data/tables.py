"""Reading training tables from local files, Cloud Storage or BigQuery; writing local tables.

`read_table(uri)` accepts:

- a local path ending in `.parquet`, `.pq`, `.csv` or `.csv.gz` (format chosen by extension);
- `gs://bucket/path.<ext>` with the same extensions (the object is downloaded into memory);
- `bq://project.dataset.table` (the whole table, read with `tabledata.list`; no query job);
- a BigQuery Standard SQL query, given as `bq://SELECT ...` / `bq://WITH ...` or as a plain
  string starting with SELECT or WITH (run as a query job, billed to the client's project).

Column types: CSV columns are never parsed as dates (a date stays a string; callers convert);
Parquet and BigQuery results go through Arrow with the same conversion, so integers without
nulls are int64, integers with nulls float64, DATE columns `datetime.date` objects. BigQuery
results are fetched over the REST API (no BigQuery Storage client), which suits the small to
medium tables training uses.

Google clients are imported only when a `gs://` or BigQuery source is read; pass `gcs_client`
or `bq_client` to choose credentials, project or endpoint (tests pass the emulators' clients).
Without `bq_client`, BigQuery is reached through `riskscore.io.bq.bigquery_client()` (the
environment's default project and credentials).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pandas as pd

from riskscore.io import bq
from riskscore.errors import ArtifactNotFound
from riskscore.io.store import GcsStore, split_gs_uri

_EXTENSIONS = (".parquet", ".pq", ".csv.gz", ".csv")  # ".csv.gz" before ".csv"
_SQL = re.compile(r"\s*(select|with)\s", re.IGNORECASE)


class TableNotFoundError(FileNotFoundError, ValueError):
    """The file or object named by a URI does not exist (both a FileNotFoundError and a ValueError)."""


def is_sql(text: str) -> bool:
    """True when `text` is a query (starts with SELECT or WITH), not a table reference."""
    return bool(_SQL.match(text))


def _format(uri: str) -> str:
    lower = uri.lower()
    for ext in _EXTENSIONS:
        if lower.endswith(ext):
            return "parquet" if ext in (".parquet", ".pq") else ext[1:]
    raise ValueError(f"{uri}: unknown table format; expected a name ending in "
                     f"{', '.join(_EXTENSIONS)}")


def _parse(source, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(source)
    # parse_dates=False is pandas' default, stated here because callers rely on it
    return pd.read_csv(source, parse_dates=False,
                       compression="gzip" if fmt == "csv.gz" else None)


def read_table(uri: str | os.PathLike, *, bq_client=None, gcs_client=None) -> pd.DataFrame:
    """Read a whole table into a DataFrame; see the module docstring for accepted URIs.

    Raises `ValueError` naming the URI for an unknown extension, scheme or malformed table id,
    and `TableNotFoundError` (a `ValueError` and a `FileNotFoundError`) for a missing local file
    or `gs://` object. BigQuery errors (missing table, bad SQL, permissions) propagate as the
    client's `google.api_core.exceptions` with the URI added as a note.
    """
    uri = os.fspath(uri)
    if uri.startswith("bq://"):
        rest = uri[len("bq://"):]
        if is_sql(rest):
            return _read_bq_query(rest, uri, bq_client)
        return _read_bq_table(rest, uri, bq_client)
    if is_sql(uri):
        return _read_bq_query(uri, uri, bq_client)
    if uri.startswith("gs://"):
        return _read_gcs(uri, gcs_client)
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        raise ValueError(f"{uri}: unsupported URI scheme; use a local path, gs://, bq:// or SQL")
    fmt = _format(uri)
    path = Path(uri)
    if not path.is_file():
        raise TableNotFoundError(f"{uri}: no such file")
    return _parse(path, fmt)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `df` (without its index) to a local `.parquet`/`.pq`/`.csv`/`.csv.gz` file.

    Parent folders are created. Returns the path written. `ValueError` for an unknown
    extension or a non-local URI.
    """
    text = os.fspath(path)
    if "://" in text:
        raise ValueError(f"{text}: write_table writes local files only")
    fmt = _format(text)
    out = Path(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False, compression="gzip" if fmt == "csv.gz" else None)
    return out


def _read_gcs(uri: str, client) -> pd.DataFrame:
    bucket, name = split_gs_uri(uri)
    if not bucket or not name:
        raise ValueError(f"{uri}: expected gs://bucket/path/to/file.<ext>")
    fmt = _format(uri)
    try:  # the model store's GCS reader: one download path, one error mapping
        data = GcsStore(f"gs://{bucket}", client=client).read(name)
    except ArtifactNotFound:
        raise TableNotFoundError(f"{uri}: no such object (or bucket)") from None
    return _parse(io.BytesIO(data), fmt)


def _bq_client(client):
    # bq.bigquery_client looked up at call time: the one factory (tests may monkeypatch it)
    return client if client is not None else bq.bigquery_client()


def _to_pandas(rows, uri: str) -> pd.DataFrame:
    # to_arrow + to_pandas rather than to_dataframe: same dtypes as Parquet, and no need
    # for the db-dtypes package that RowIterator.to_dataframe insists on.
    try:
        return rows.to_arrow(create_bqstorage_client=False).to_pandas()
    except Exception as exc:
        exc.add_note(f"while reading {uri}")
        raise


def _read_bq_table(table_id: str, uri: str, client) -> pd.DataFrame:
    table_id = table_id.strip().strip("`")
    # rsplit: a domain-scoped project id ("example.com:proj") contains a dot itself
    parts = table_id.rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{uri}: expected bq://project.dataset.table or a SELECT/WITH query")
    client = _bq_client(client)
    try:
        rows = client.list_rows(table_id)
    except Exception as exc:
        exc.add_note(f"while reading {uri}")
        raise
    return _to_pandas(rows, uri)


def _read_bq_query(sql: str, uri: str, client) -> pd.DataFrame:
    client = _bq_client(client)
    try:
        job = client.query(sql)
        rows = job.result()
    except Exception as exc:
        exc.add_note(f"while running the query {uri[:200]}")
        raise
    return _to_pandas(rows, uri)
