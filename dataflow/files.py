"""Files by name, local or `gs://`, as pyarrow file objects: what the workers read and stage.

GCS goes through the same google-cloud-storage client as `batch_score`
(`riskscore.io.files.storage_client`, which honours STORAGE_EMULATOR_HOST).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa


def _blob(uri: str):
    from riskscore.io.files import storage_client
    from riskscore.io.store import split_gs_uri

    bucket, name = split_gs_uri(uri)
    return storage_client().bucket(bucket).blob(name)


def open_read(name: str):
    """A readable, seekable pyarrow file for a local path or gs:// URI: batch_score's reader."""
    from riskscore.io.files import open_file

    return open_file(name)


class Writer:
    """A pyarrow output file at a local path or gs:// URI; `close()` makes it visible."""

    def __init__(self, name: str):
        self.name = name
        if name.startswith("gs://"):
            self._raw = _blob(name).open("wb", chunk_size=8 << 20, ignore_flush=True)
            self.file = pa.PythonFile(self._raw, mode="w")
        else:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            self._raw = None
            self.file = pa.OSFile(name, "wb")

    def close(self) -> None:
        self.file.close()
        if self._raw is not None:
            self._raw.close()


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def delete_prefix(prefix: str) -> None:
    """Remove everything under `prefix` (a folder, or gs://bucket/prefix/); absent is fine."""
    if prefix.startswith("gs://"):
        from riskscore.io.files import storage_client
        from riskscore.io.store import split_gs_uri

        bucket, name = split_gs_uri(prefix)
        client = storage_client()
        for blob in client.list_blobs(client.bucket(bucket), prefix=name.rstrip("/") + "/"):
            try:
                blob.delete()
            except Exception:  # noqa: BLE001 - deleted by a retried attempt already
                pass
    else:
        shutil.rmtree(prefix, ignore_errors=True)
        parent = Path(prefix).parent
        if parent.name == "_tmp":  # and DEST/_tmp itself once no other run stages there
            try:
                parent.rmdir()
            except OSError:
                pass
