"""Where a caller may point a job: local paths only under the configured root, `gs://` only in
the buckets the deployment names.

Every check answers a 400 naming the request field, and none touches the file system beyond
resolving the path: whether a refused path exists is never revealed.
"""

from __future__ import annotations

import os
from pathlib import Path

from riskscore.errors import InvalidRequest
from riskscore.io.store import split_gs_uri

__all__ = ["MAX_NAME_BYTES", "check_bucket", "check_location", "local_path"]

MAX_NAME_BYTES = 255  # a path component longer than this cannot exist on common file systems


def _refuse(field: str, problem: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", details=[{"field": field, "problem": problem}])


def local_path(value: str, root: str | None, field: str) -> Path:
    """`value` resolved (symlinks followed) if it lies under `root`; InvalidRequest otherwise.

    A relative `value` is taken relative to the working directory, as opening it would. Unset
    `root`: no local path is accepted."""
    if root is None:
        raise _refuse(field, "local paths not accepted", "local paths are not accepted here; "
                      "use gs://bucket/path or bq://project.dataset.table")
    if "\x00" in value:
        raise _refuse(field, "NUL character", "a path cannot hold a NUL character")
    parts = Path(value).parts
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise _refuse(field, "path component too long", f"a path component is longer than {MAX_NAME_BYTES} bytes")
    base = Path(root).resolve()
    try:
        resolved = Path(value).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an unencodable name
        raise _refuse(field, "unresolvable path", "the path cannot be resolved") from None
    if resolved != base and base not in resolved.parents:
        raise _refuse(field, "outside the allowed folder", "the path is outside the folder local jobs may use")
    return resolved


def check_bucket(uri: str, allowed: frozenset[str] | None, field: str) -> None:
    """InvalidRequest unless the bucket of `uri` is one of `allowed` (None: any bucket)."""
    bucket = split_gs_uri(uri)[0]
    if "\x00" in uri:
        raise _refuse(field, "malformed gs:// URI", "the gs:// URI is malformed")
    if allowed is not None and bucket not in allowed:
        raise _refuse(field, "bucket not allowed", f"bucket {bucket[:63]!r} is not one this deployment reads or writes")


def check_location(value: str, settings, field: str) -> str:
    """A caller's file location made safe: gs:// checked against the allowed buckets, a local
    path confined and returned resolved; anything else returned unchanged."""
    if value.startswith("gs://"):
        check_bucket(value, settings.bucket_allowlist, field)
        return value
    if "://" in value:
        return value
    return os.fspath(local_path(value, settings.local_root, field))
