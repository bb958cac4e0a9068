"""Parquet and CSV files at a local path or a `gs://` URI: listing and opening.

A location is one file, or a folder / prefix whose files are listed recursively in name order,
skipping names with a part starting with `.` or `_`. Batch scoring, drift checks and Dataflow
read storage through these functions only.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from riskscore.errors import InputNotFound, InvalidInput
from riskscore.io.store import split_gs_uri

__all__ = ["EXTENSIONS", "file_kind", "files_at", "open_file", "storage_client"]

EXTENSIONS = (".parquet", ".pq", ".csv.gz", ".csv")

def file_kind(name: str) -> str | None:
    lower = name.lower()
    for ext in EXTENSIONS:
        if lower.endswith(ext):
            return "parquet" if ext in (".parquet", ".pq") else ext[1:]
    return None


def _listed(name: str) -> bool:
    return file_kind(name) is not None and not any(p.startswith((".", "_")) for p in name.split("/"))


def files_at(location: str) -> list:
    """(name, opener) of the Parquet/CSV file or files at a gs:// URI or a local path, in name
    order (see the module docstring); raises InputNotFound / InvalidInput."""
    return gcs_files(location) if location.startswith("gs://") else local_files(location)


def open_file(name: str):
    """A readable, seekable pyarrow file for a local path or a gs:// URI (ranged reads on GCS)."""
    if name.startswith("gs://"):
        bucket, blob = split_gs_uri(name)
        return _BlobOpener(storage_client().bucket(bucket).blob(blob))()
    return _LocalOpener(Path(name))()


class _LocalOpener:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self):
        return pa.OSFile(str(self.path), "rb")


def local_files(location: str) -> list:
    path = Path(location)
    if path.is_file():
        if file_kind(path.name) is None:
            raise InvalidInput(f"input {location}: not a Parquet or CSV file (.parquet, .pq, .csv, .csv.gz)",
                               details=[{"field": "input", "problem": "unknown file type"}])
        return [(str(path), _LocalOpener(path))]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _listed(p.relative_to(path).as_posix()))
        if not files:
            raise InputNotFound(f"input {location}: folder holds no Parquet or CSV files",
                                details=[{"field": "input", "problem": "no input files"}])
        return [(str(p), _LocalOpener(p)) for p in files]
    raise InputNotFound(f"input {location}: no such file or folder",
                        details=[{"field": "input", "problem": "not found"}])


def storage_client():
    """The google-cloud-storage client (honours STORAGE_EMULATOR_HOST like the model store)."""
    from google.cloud import storage

    return storage.Client()


class _BlobOpener:
    def __init__(self, blob):
        self.blob = blob

    def __call__(self):
        # Ranged reads, 8 MiB at a time: Parquet footers and row groups are fetched as needed.
        return pa.PythonFile(self.blob.open("rb", chunk_size=8 << 20), mode="r")


def gcs_files(uri: str) -> list:
    from google.api_core import exceptions as gexc

    bucket_name, name = split_gs_uri(uri)
    client = storage_client()
    bucket = client.bucket(bucket_name)
    try:
        if name and not name.endswith("/"):
            blob = bucket.get_blob(name)
            if blob is not None:
                if file_kind(name) is None:
                    raise InvalidInput(f"input {uri}: not a Parquet or CSV object",
                                       details=[{"field": "input", "problem": "unknown file type"}])
                return [(uri, _BlobOpener(blob))]
        prefix = name.rstrip("/") + "/" if name else ""
        blobs = sorted((b for b in client.list_blobs(bucket, prefix=prefix) if _listed(b.name[len(prefix):])),
                       key=lambda b: b.name)
    except gexc.NotFound:
        raise InputNotFound(f"input {uri}: no such bucket", details=[{"field": "input", "problem": "not found"}]) from None
    if not blobs:
        raise InputNotFound(f"input {uri}: no such object, and no Parquet or CSV objects under it",
                            details=[{"field": "input", "problem": "not found"}])
    return [(f"gs://{bucket_name}/{b.name}", _BlobOpener(b)) for b in blobs]
