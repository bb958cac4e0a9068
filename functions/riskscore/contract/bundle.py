"""Versioned model bundles in a store: `<model>/<version>/{*.onnx, *.json, manifest.json}`
plus the pointer `<model>/current.json`.

Publishing writes every file, then the manifest (holding each file's sha256), and only then,
if asked, the pointer (holding the manifest's sha256). A reader that follows the pointer
therefore sees a complete version, and verifies every byte it loads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

from riskscore.contract.manifest import CURRENT_FILE, MANIFEST_FILE
from riskscore.errors import ArtifactNotFound, IntegrityError
from riskscore.io.store import Store

__all__ = ["Bundle", "dumps", "json_safe", "list_versions", "load", "publish", "read_current",
           "read_manifest", "set_current", "json_object", "sha256", "valid_version"]

# A version names a folder of the store: one plain path component.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def valid_version(version) -> bool:
    return isinstance(version, str) and _VERSION.fullmatch(version) is not None and ".." not in version


def json_object(data: bytes, what: str, version: str | None) -> dict:
    """`data` parsed as a JSON object, or IntegrityError naming the file and the version."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        label = f"version {version!r}: " if version else ""
        raise IntegrityError(f"{label}{what} is not a JSON object; refusing to use it")
    return value



def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> bytes:
    """Strict JSON (NaN and infinities become null), so every reader can parse it."""
    return json.dumps(json_safe(obj), indent=2, sort_keys=True, default=str, allow_nan=False).encode()


def json_safe(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalars
        return json_safe(obj.item())
    return obj


@dataclass(frozen=True)
class Bundle:
    """A verified version: its manifest and the bytes of every file it lists."""

    manifest: dict
    files: dict[str, bytes]


def publish(store: Store, model: str, version: str, files: dict[str, bytes], manifest: dict,
            make_current: bool) -> dict:
    """Write a version atomically; returns the manifest as written (with `files` hashes)."""
    prefix = f"{model}/{version}"
    if store.exists(f"{prefix}/{MANIFEST_FILE}"):
        raise FileExistsError(f"version {version!r} of {model!r} already exists in {store.uri}")
    manifest = dict(manifest, name=model, version=version,
                    files={name: {"sha256": sha256(data), "bytes": len(data)}
                           for name, data in sorted(files.items())})
    for name, data in files.items():
        store.write(f"{prefix}/{name}", data)
    manifest_bytes = dumps(manifest)
    store.write(f"{prefix}/{MANIFEST_FILE}", manifest_bytes)
    if make_current:
        set_current(store, model, version)
    return manifest


def set_current(store: Store, model: str, version: str) -> None:
    """Point `current.json` at an existing version (promote and rollback)."""
    manifest_bytes = store.read(f"{model}/{version}/{MANIFEST_FILE}")
    pointer = {"version": version, "manifest_sha256": sha256(manifest_bytes)}
    previous = read_current(store, model)
    if previous and previous.get("version") != version:
        pointer["previous"] = previous["version"]
    store.write(f"{model}/{CURRENT_FILE}", dumps(pointer))


def read_current(store: Store, model: str) -> dict | None:
    """The pointer, or None without one; IntegrityError if it is not a pointer to a version."""
    try:
        data = store.read(f"{model}/{CURRENT_FILE}")
    except ArtifactNotFound:
        return None
    pointer = json_object(data, CURRENT_FILE, None)
    if not valid_version(pointer.get("version")) or not isinstance(pointer.get("manifest_sha256", ""), str):
        raise IntegrityError(f"{CURRENT_FILE} names no valid version; refusing to use it")
    return pointer


def read_manifest(store: Store, model: str, version: str) -> dict:
    """A version's manifest, unverified (publishing and listing only: readers use `load`)."""
    _check_version(version)
    return json_object(store.read(f"{model}/{version}/{MANIFEST_FILE}"), MANIFEST_FILE, version)


def _check_version(version) -> None:
    if not valid_version(version):
        shown = version[:80] if isinstance(version, str) else type(version).__name__
        raise ArtifactNotFound(f"{shown!r} is not a valid model version")


def list_versions(store: Store, model: str) -> list[str]:
    """Versions that have a manifest (a version still being written has none yet)."""
    return [v for v in store.list_dirs(model) if store.exists(f"{model}/{v}/{MANIFEST_FILE}")]


def load(store: Store, model: str, version: str | None = None, only: set[str] | None = None) -> Bundle:
    """Fetch a version (default: the current one) and verify every sha256: the one verified
    path of score, batch, drift and Dataflow.

    The manifest is checked against the pointer's `manifest_sha256` whenever the pointer names
    this version (pinned or not), then every file against the manifest (`only`: just those
    files, each of which the manifest must list). Raises ArtifactNotFound when there is no such
    version, IntegrityError (503, naming the version) when any byte differs from what the
    manifest or the pointer promises, or a file is not what it must be.
    """
    pointer = read_current(store, model)
    if version is None:
        if pointer is None:
            raise ArtifactNotFound(f"model {model!r} has no {CURRENT_FILE} in the model store", where=store.uri)
        version = pointer["version"]
    _check_version(version)
    expected_manifest_sha = pointer.get("manifest_sha256") if pointer and pointer["version"] == version else None
    prefix = f"{model}/{version}"
    manifest_bytes = store.read(f"{prefix}/{MANIFEST_FILE}")
    if expected_manifest_sha and sha256(manifest_bytes) != expected_manifest_sha:
        raise IntegrityError(f"version {version!r}: {MANIFEST_FILE} has sha256 {sha256(manifest_bytes)}, "
                             f"not {expected_manifest_sha} as {CURRENT_FILE} records; refusing to use it")
    manifest = json_object(manifest_bytes, MANIFEST_FILE, version)
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(
            isinstance(n, str) and _FILE.fullmatch(n) and isinstance(m, dict) and isinstance(m.get("sha256"), str)
            for n, m in listed.items()):
        raise IntegrityError(f"version {version!r}: {MANIFEST_FILE} lists its files malformed; refusing to use it")
    missing = sorted((only or set()) - set(listed))
    if missing:
        raise IntegrityError(f"version {version!r}: {', '.join(missing)} not listed in its {MANIFEST_FILE}; "
                             "refusing to use it unverified")
    files = {}
    for name, meta in listed.items():
        if only is not None and name not in only:
            continue
        data = store.read(f"{prefix}/{name}")
        if sha256(data) != meta["sha256"]:
            raise IntegrityError(f"version {version!r}: {name} has sha256 {sha256(data)}, not "
                                 f"{meta['sha256']} as its {MANIFEST_FILE} records; refusing to use it")
        files[name] = data
    return Bundle(manifest=manifest, files=files)
