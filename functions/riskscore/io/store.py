"""Model store: a local folder or a `gs://bucket/prefix`, with the same layout.

Paths are relative, '/'-separated keys under the store root. Writes of a single object are
atomic on both backends (rename locally, single-request upload on GCS), which the bundle
publisher relies on: it writes every file of a version first and the `current.json` pointer last.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from riskscore.errors import ArtifactNotFound, StoreUnavailable

__all__ = ["GcsStore", "LocalStore", "Store", "open_store", "split_gs_uri"]


class Store(Protocol):
    uri: str

    def read(self, key: str) -> bytes:
        """Bytes of `key`; ArtifactNotFound if absent, StoreUnavailable if unreachable."""

    def write(self, key: str, data: bytes) -> None:
        """Replace `key` with `data` atomically."""

    def exists(self, key: str) -> bool: ...

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of `prefix`, sorted."""


class LocalStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"store key must be relative without '..', got {key!r}")
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(f"{key!r} not found in model store {self.uri}") from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key!r} from model store {self.uri}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_dirs(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


_LIBRARY_DEFAULT = object()  # "use google-cloud-storage's default", distinct from None


def split_gs_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/path/to/object -> ("bucket", "path/to/object"); either part may be empty."""
    bucket, _, name = uri[len("gs://"):].partition("/")
    return bucket, name


class GcsStore:
    """`gs://bucket/prefix`. Honours STORAGE_EMULATOR_HOST like the official client does.

    `read_timeout` (seconds per HTTP attempt) and `read_retry` (a `google.api_core.retry.Retry`,
    or None for a single attempt) bound how long `read` keeps trying before it raises
    StoreUnavailable; by default the library's own (60 s per attempt, retried up to 120 s).
    """

    def __init__(self, uri: str, client=None, *, read_timeout: float | None = None,
                 read_retry=_LIBRARY_DEFAULT):
        from google.cloud import storage  # imported only when a gs:// store is used

        bucket, prefix = split_gs_uri(uri)
        if not bucket:
            raise ValueError(f"GCS store URI needs a bucket: {uri!r}")
        self.uri = uri.rstrip("/")
        self.prefix = prefix.strip("/")
        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self._read_kwargs = {}
        if read_timeout is not None:
            self._read_kwargs["timeout"] = read_timeout
        if read_retry is not _LIBRARY_DEFAULT:
            self._read_kwargs["retry"] = read_retry

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        from google.api_core import exceptions as gexc

        try:
            return self._bucket.blob(self._name(key)).download_as_bytes(**self._read_kwargs)
        except gexc.NotFound:
            raise ArtifactNotFound(f"{key!r} not found in model store {self.uri}") from None
        except Exception as exc:  # transport errors, auth, 5xx: all mean "try again later"
            raise StoreUnavailable(f"cannot read {key!r} from model store {self.uri}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        self._bucket.blob(self._name(key)).upload_from_string(data)

    def exists(self, key: str) -> bool:
        return self._bucket.blob(self._name(key)).exists()

    def list_dirs(self, prefix: str) -> list[str]:
        full = self._name(prefix).rstrip("/") + "/" if (prefix or self.prefix) else ""
        it = self._client.list_blobs(self._bucket, prefix=full, delimiter="/")
        list(it)  # prefixes are filled in only once the pages are consumed
        return sorted(p[len(full):].rstrip("/") for p in it.prefixes)


def open_store(uri: str, *, read_timeout_s: float | None = None, read_deadline_s: float | None = None) -> Store:
    """A store for `uri`: `gs://bucket/prefix` or a local folder path.

    For GCS, `read_timeout_s` bounds each HTTP attempt and `read_deadline_s` all retries of one
    read (serving keeps both short: a cold start must answer 503 soon, not hang for minutes).
    """
    if uri.startswith("gs://"):
        if read_deadline_s is None:
            return GcsStore(uri, read_timeout=read_timeout_s)
        from google.cloud.storage.retry import DEFAULT_RETRY

        return GcsStore(uri, read_timeout=read_timeout_s, read_retry=DEFAULT_RETRY.with_timeout(read_deadline_s))
    if "://" in uri:
        raise ValueError(f"unsupported model store URI {uri!r}: use a local folder or gs://bucket/prefix")
    return LocalStore(uri)
