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
from dataclasses import dataclass

from riskscore.contract.manifest import CURRENT_FILE, MANIFEST_FILE
from riskscore.errors import ArtifactNotFound, IntegrityError
from riskscore.io.store import Store

__all__ = ["Bundle", "dumps", "json_safe", "list_versions", "load", "publish", "read_current",
           "read_manifest", "set_current", "sha256"]



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
    try:
        return json.loads(store.read(f"{model}/{CURRENT_FILE}"))
    except ArtifactNotFound:
        return None


def read_manifest(store: Store, model: str, version: str) -> dict:
    return json.loads(store.read(f"{model}/{version}/{MANIFEST_FILE}"))


def list_versions(store: Store, model: str) -> list[str]:
    """Versions that have a manifest (a version still being written has none yet)."""
    return [v for v in store.list_dirs(model) if store.exists(f"{model}/{v}/{MANIFEST_FILE}")]


def load(store: Store, model: str, version: str | None = None) -> Bundle:
    """Fetch a version (default: the current one) and verify every sha256.

    Raises ArtifactNotFound when there is no such version, IntegrityError when any byte
    differs from what the manifest (or the pointer, for the manifest itself) promises.
    """
    expected_manifest_sha = None
    if version is None:
        pointer = read_current(store, model)
        if pointer is None:
            raise ArtifactNotFound(f"model {model!r} has no {CURRENT_FILE} in model store {store.uri}")
        version = pointer["version"]
        expected_manifest_sha = pointer.get("manifest_sha256")
    prefix = f"{model}/{version}"
    manifest_bytes = store.read(f"{prefix}/{MANIFEST_FILE}")
    if expected_manifest_sha and sha256(manifest_bytes) != expected_manifest_sha:
        raise IntegrityError(f"{prefix}/{MANIFEST_FILE}: sha256 {sha256(manifest_bytes)} differs from "
                             f"{expected_manifest_sha} recorded in {CURRENT_FILE}")
    manifest = json.loads(manifest_bytes)
    files = {}
    for name, meta in manifest["files"].items():
        data = store.read(f"{prefix}/{name}")
        if sha256(data) != meta["sha256"]:
            raise IntegrityError(f"{prefix}/{name}: sha256 {sha256(data)} differs from "
                                 f"{meta['sha256']} in the manifest; refusing to serve it")
        files[name] = data
    return Bundle(manifest=manifest, files=files)
