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

__all__ = ["GcsStore", "LocalStore", "Store", "open_store", "split_gs_uri", "storage_client", "valid_key"]


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
        if not valid_key(key):
            raise ArtifactNotFound(f"{_shown(key)} is not a valid store key", where=self.uri)
        return self.root / key

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ArtifactNotFound(f"{key!r} not found in the model store", where=self.uri) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key!r} from the model store ({exc.strerror or type(exc).__name__})",
                                   where=self.uri) from exc

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
        return valid_key(key) and self._path(key).is_file()

    def list_dirs(self, prefix: str) -> list[str]:
        base = self._path(prefix.strip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def valid_key(key: str) -> bool:
    """A relative '/'-separated key without '.'/'..' parts, NUL, or a part over 255 bytes."""
    parts = key.split("/")
    return bool(key) and "\x00" not in key and not key.startswith("/") and all(
        p not in ("", ".", "..") and len(p.encode("utf-8", "surrogatepass")) <= 255 for p in parts)


def _shown(key: str) -> str:
    return repr(key[:80] + ("…" if len(key) > 80 else ""))


_LIBRARY_DEFAULT = object()  # "use google-cloud-storage's default", distinct from None


def split_gs_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/path/to/object -> ("bucket", "path/to/object"); either part may be empty."""
    bucket, _, name = uri[len("gs://"):].partition("/")
    return bucket, name


# google-cloud-storage (3.17) fetches the metadata of every bucket it touches, in a background
# thread, to label its trace spans: a buckets.get that needs storage.buckets.get, which no
# identity here holds (grants are on objects and managed folders), so in the cloud it is a 403
# on every first use of a bucket. The spans are not exported (no tracing is configured).
_NO_BUCKET_METADATA = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"


def storage_client(limits=None):
    """The one google-cloud-storage client factory (honours STORAGE_EMULATOR_HOST); it makes no
    request beyond the ones the caller asks for, and each is bounded by `limits` (default: the
    job's current ones, riskscore.io.deadlines)."""
    from google.cloud import storage  # imported only when gs:// is used

    from riskscore.io import deadlines

    os.environ.setdefault(_NO_BUCKET_METADATA, "true")
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="emulator", credentials=AnonymousCredentials(),
                              _http=deadlines.session(limits=limits))
    credentials, project = deadlines.default_credentials(("https://www.googleapis.com/auth/devstorage.read_write",))
    return storage.Client(project=project, credentials=credentials, _http=deadlines.session(credentials, limits))


class GcsStore:
    """`gs://bucket/prefix`. Honours STORAGE_EMULATOR_HOST like the official client does.

    `read_timeout` (seconds per HTTP attempt) and `read_retry` (a `google.api_core.retry.Retry`,
    or None for a single attempt) bound how long `read` keeps trying before it raises
    StoreUnavailable; by default the library's own (60 s per attempt, retried up to 120 s).
    """

    def __init__(self, uri: str, client=None, *, read_timeout: float | None = None,
                 read_retry=_LIBRARY_DEFAULT):
        bucket, prefix = split_gs_uri(uri)
        if not bucket:
            raise ValueError(f"GCS store URI needs a bucket: {uri!r}")
        self.uri = uri.rstrip("/")
        self.prefix = prefix.strip("/")
        # The model store's own bounds, not a job's: its read timeout and retry deadline.
        limits = None
        if read_timeout is not None or read_retry is not _LIBRARY_DEFAULT:
            from riskscore.io.deadlines import Limits

            deadline = getattr(read_retry, "timeout", None) or 120.0
            limits = Limits(min(read_timeout or 60.0, deadline), deadline)
        self._client = client or storage_client(limits)
        self._bucket = self._client.bucket(bucket)
        self._read_kwargs = {}
        if read_timeout is not None:
            self._read_kwargs["timeout"] = read_timeout
        if read_retry is not _LIBRARY_DEFAULT:
            self._read_kwargs["retry"] = read_retry

    def _name(self, key: str) -> str:
        if not valid_key(key):
            raise ArtifactNotFound(f"{_shown(key)} is not a valid store key", where=self.uri)
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        from google.api_core import exceptions as gexc

        try:
            return self._bucket.blob(self._name(key)).download_as_bytes(**self._read_kwargs)
        except gexc.NotFound:
            raise ArtifactNotFound(f"{key!r} not found in the model store", where=self.uri) from None
        except Exception as exc:  # transport errors, auth, 5xx: all mean "try again later"
            raise StoreUnavailable(f"cannot read {key!r} from the model store ({type(exc).__name__})",
                                   where=f"{self.uri}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        self._bucket.blob(self._name(key)).upload_from_string(data)

    def exists(self, key: str) -> bool:
        return valid_key(key) and self._bucket.blob(self._name(key)).exists()

    def list_dirs(self, prefix: str) -> list[str]:
        full = (f"{self.prefix}/{prefix}" if self.prefix and prefix else self.prefix or prefix).rstrip("/") + "/" \
            if (prefix or self.prefix) else ""
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
