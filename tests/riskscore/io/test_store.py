"""Model store and versioned bundles, on a local folder and on GCS (emulator): same behaviour."""

from __future__ import annotations

import json
import time

import pytest

from riskscore.contract import bundle
from riskscore.errors import ArtifactNotFound, IntegrityError, StoreUnavailable
from riskscore.io.store import GcsStore, LocalStore, open_store
from support.server import free_port

MODEL = "pd"


@pytest.fixture
def local_store(tmp_path):
    return LocalStore(tmp_path / "models")


@pytest.fixture
def gcs_store(gcs_bucket):
    # Built through open_store: no client passed, so this also checks that the default
    # storage.Client() picks up STORAGE_EMULATOR_HOST and anonymous credentials by itself.
    store = open_store(f"gs://{gcs_bucket}/models")
    assert isinstance(store, GcsStore)
    return store


@pytest.fixture(params=["local", "gcs"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


FILES = {"model.onnx": b"\x08\x07onnx-bytes\x00\xff", "schema.json": b'{"features": ["age"]}'}


def publish(store, version, *, make_current=True, files=FILES):
    return bundle.publish(store, MODEL, version, files, {"metrics": {"auc": 0.8}},
                          make_current=make_current)


# --- store ------------------------------------------------------------------------------

def test_write_read_round_trip(store):
    store.write("a/b/blob.bin", b"\x00\x01binary\xff")
    store.write("top.txt", b"")
    assert store.read("a/b/blob.bin") == b"\x00\x01binary\xff"
    assert store.read("top.txt") == b""
    assert store.exists("a/b/blob.bin")
    assert not store.exists("a/b/other.bin")
    store.write("a/b/blob.bin", b"replaced")
    assert store.read("a/b/blob.bin") == b"replaced"


def test_read_missing_raises_artifact_not_found(store):
    with pytest.raises(ArtifactNotFound, match=r"'nope/missing\.json' not found in the model store"):
        store.read("nope/missing.json")


def test_list_dirs(store):
    for key in ["pd/v1/manifest.json", "pd/v2/model.onnx", "pd/v10/x/deep.bin",
                "pd/current.json", "lgd/v1/manifest.json", "readme.txt"]:
        store.write(key, b"x")
    assert store.list_dirs("pd") == ["v1", "v10", "v2"]  # sorted names; files excluded
    assert store.list_dirs("pd/") == ["v1", "v10", "v2"]
    assert store.list_dirs("") == ["lgd", "pd"]
    assert store.list_dirs("pd/v10") == ["x"]
    assert store.list_dirs("pd/v1") == []
    assert store.list_dirs("absent") == []


def test_open_store_rejects_unknown_scheme():
    with pytest.raises(ValueError, match=r"unsupported model store URI 's3://x'"):
        open_store("s3://x")


def test_open_store_local_path(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)


# --- bundles ------------------------------------------------------------------------------

def test_publish_then_load_returns_identical_bytes(store):
    manifest = publish(store, "v1")
    loaded = bundle.load(store, MODEL, "v1")
    assert loaded.files == FILES
    assert loaded.manifest["version"] == "v1"
    assert loaded.manifest == manifest
    assert loaded.manifest["metrics"] == {"auc": 0.8}
    for name, data in FILES.items():
        assert manifest["files"][name] == {"sha256": bundle.sha256(data), "bytes": len(data)}
    stored = json.loads(store.read(f"{MODEL}/v1/manifest.json"))
    assert stored["files"] == manifest["files"]
    # and through the pointer
    assert bundle.load(store, MODEL).files == FILES
    assert bundle.read_current(store, MODEL)["version"] == "v1"


def test_publish_without_make_current_leaves_pointer(store):
    publish(store, "v1", make_current=False)
    assert not store.exists(f"{MODEL}/current.json")
    with pytest.raises(ArtifactNotFound, match=r"model 'pd' has no current\.json"):
        bundle.load(store, MODEL)
    assert bundle.load(store, MODEL, "v1").files == FILES  # explicit version still loads

    bundle.set_current(store, MODEL, "v1")
    pointer_before = store.read(f"{MODEL}/current.json")
    publish(store, "v2", make_current=False)
    assert store.read(f"{MODEL}/current.json") == pointer_before
    assert bundle.load(store, MODEL).manifest["version"] == "v1"


def test_publish_same_version_twice_raises(store):
    publish(store, "v1")
    with pytest.raises(FileExistsError, match=r"version 'v1' of 'pd' already exists"):
        publish(store, "v1", files={"model.onnx": b"other"})
    assert bundle.load(store, MODEL, "v1").files == FILES


def test_tampered_file_raises_integrity_error(store):
    publish(store, "v1")
    store.write(f"{MODEL}/v1/model.onnx", b"evil bytes")
    with pytest.raises(IntegrityError, match=r"version 'v1': model\.onnx has sha256 .*, not .* as its manifest\.json records"):
        bundle.load(store, MODEL, "v1")
    with pytest.raises(IntegrityError, match=r"version 'v1': model\.onnx"):
        bundle.load(store, MODEL)


def test_a_pinned_version_is_checked_against_the_pointer_too(store):
    """A manifest re-hashed to match edited files: pinned by name, it still differs from the
    sha256 current.json records for that version."""
    publish(store, "v1")
    manifest = json.loads(store.read(f"{MODEL}/v1/manifest.json"))
    store.write(f"{MODEL}/v1/model.onnx", b"evil bytes")
    manifest["files"]["model.onnx"]["sha256"] = bundle.sha256(b"evil bytes")
    store.write(f"{MODEL}/v1/manifest.json", bundle.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"version 'v1': manifest\.json has sha256 .* as current\.json records"):
        bundle.load(store, MODEL, "v1")


@pytest.mark.parametrize("key, data", [
    ("current.json", b"not json {"), ("current.json", b"[1, 2]"), ("current.json", b'{"version": ".."}'),
    ("v1/manifest.json", b"\xff\xfe garbage"), ("v1/drift_baseline.json", b"<html>"),
])
def test_a_pointer_manifest_or_baseline_that_is_not_json_is_an_integrity_error(store, key, data):
    publish(store, "v1")
    if key == "v1/drift_baseline.json":  # published and listed, but not JSON: the hash matches
        files = {"model.onnx": b"onnx", "drift_baseline.json": data}
        store.write(f"{MODEL}/v1/manifest.json", b"")  # replaced below through a fresh version
        bundle.publish(store, MODEL, "v2", files, {"metrics": {}}, make_current=True)
        from riskscore.drift.check import Versions

        with pytest.raises(IntegrityError, match=r"version 'v2': drift_baseline\.json is not a JSON object"):
            Versions(store, MODEL).get("v2")
        return
    store.write(f"{MODEL}/{key}", data)
    with pytest.raises(IntegrityError):
        bundle.load(store, MODEL)


@pytest.mark.parametrize("version", ["..", "../x", "a/b", "x" * 300, "", "v1\x00"])
def test_a_version_that_is_no_folder_name_is_not_found(store, version):
    publish(store, "v1")
    with pytest.raises(ArtifactNotFound):
        bundle.load(store, MODEL, version)


def test_tampered_manifest_raises_integrity_error_via_pointer(store):
    publish(store, "v1")
    manifest = json.loads(store.read(f"{MODEL}/v1/manifest.json"))
    manifest["metrics"]["auc"] = 0.99  # files untouched, only the manifest
    store.write(f"{MODEL}/v1/manifest.json", bundle.dumps(manifest))
    with pytest.raises(IntegrityError,
                       match=r"version 'v1': manifest\.json has sha256 .* as current\.json records"):
        bundle.load(store, MODEL)


def test_set_current_and_rollback_record_previous(store):
    publish(store, "v1")
    publish(store, "v2", make_current=False)
    assert "previous" not in bundle.read_current(store, MODEL)

    bundle.set_current(store, MODEL, "v2")  # promote
    pointer = bundle.read_current(store, MODEL)
    assert (pointer["version"], pointer["previous"]) == ("v2", "v1")
    assert pointer["manifest_sha256"] == bundle.sha256(store.read(f"{MODEL}/v2/manifest.json"))
    assert bundle.load(store, MODEL).manifest["version"] == "v2"

    bundle.set_current(store, MODEL, "v1")  # rollback
    pointer = bundle.read_current(store, MODEL)
    assert (pointer["version"], pointer["previous"]) == ("v1", "v2")
    assert bundle.load(store, MODEL).manifest["version"] == "v1"


def test_set_current_to_missing_version_raises(store):
    publish(store, "v1")
    with pytest.raises(ArtifactNotFound, match=r"pd/v9/manifest\.json"):
        bundle.set_current(store, MODEL, "v9")
    assert bundle.read_current(store, MODEL)["version"] == "v1"


def test_list_versions_ignores_half_written_version(store):
    publish(store, "v1")
    publish(store, "v2", make_current=False)
    store.write(f"{MODEL}/v3/model.onnx", b"half written, no manifest yet")
    assert store.list_dirs(MODEL) == ["v1", "v2", "v3"]
    assert bundle.list_versions(store, MODEL) == ["v1", "v2"]
    assert bundle.list_versions(store, "other-model") == []


# --- GCS unreachable ------------------------------------------------------------------------

def test_unreachable_gcs_raises_store_unavailable(monkeypatch):
    from google.cloud.storage.retry import DEFAULT_RETRY

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    # The library default retries connection errors for up to 120 s; bound it for the test.
    store = GcsStore("gs://bucket/models", read_timeout=2.0,
                     read_retry=DEFAULT_RETRY.with_timeout(1.0).with_delay(initial=0.1, maximum=0.2))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"cannot read 'pd/current\.json' from the model store") as caught:
        store.read("pd/current.json")
    # The location is logged (`where`), never answered.
    assert "gs://bucket/models" not in caught.value.message and caught.value.where.startswith("gs://bucket/models")
    assert time.monotonic() - started < 5
    # bundle.load surfaces it unchanged (not as "no current version")
    with pytest.raises(StoreUnavailable):
        bundle.load(store, MODEL)
