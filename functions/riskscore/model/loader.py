"""The one model loader of score, batch and Dataflow: the settings' model store and model, the
version pinned (MODEL_VERSION, else the one `current.json` names now), the bundle verified
byte by byte. A version that cannot be loaded is the deployment's problem, not the caller's:
StoreUnavailable (503, worth retrying)."""

from __future__ import annotations

from contextlib import contextmanager

from riskscore.contract import bundle
from riskscore.errors import RiskScoreError, StoreUnavailable
from riskscore.io.store import Store, open_store
from riskscore.model.sessions import Model
from riskscore.settings import ScoreSettings

__all__ = ["load_bundle", "load_model", "model_store", "pinned_version", "trim_heap"]


@contextmanager
def unavailable_on_error():
    """Any RiskScoreError of loading as a 5xx (a 4xx such as ArtifactNotFound becomes a 503)."""
    try:
        yield
    except RiskScoreError as exc:
        raise (exc if exc.status >= 500 else StoreUnavailable(exc.message)) from exc


def model_store(settings: ScoreSettings) -> Store:
    """The settings' model store, with their read timeout and deadline."""
    return open_store(settings.model_store, read_timeout_s=settings.store_read_timeout_s,
                      read_deadline_s=settings.store_read_deadline_s)


def pinned_version(settings: ScoreSettings) -> str | None:
    """MODEL_VERSION, else the version `current.json` names now (None without a pointer)."""
    if settings.model_version is not None:
        return settings.model_version
    with unavailable_on_error():
        pointer = bundle.read_current(model_store(settings), settings.model_name)
    return pointer["version"] if pointer else None


def load_bundle(settings: ScoreSettings, version: str | None = None) -> bundle.Bundle:
    """The verified bundle of `version` (default: MODEL_VERSION, else the current one)."""
    with unavailable_on_error():
        return bundle.load(model_store(settings), settings.model_name, version or settings.model_version)


def load_model(settings: ScoreSettings, version: str | None = None, optimization: str = "all") -> Model:
    """`load_bundle` as a Model (see `Model` for `optimization`); the bundle's bytes are freed."""
    loaded = load_bundle(settings, version)
    model = Model(loaded.manifest, loaded.files, settings, optimization=optimization)
    del loaded
    trim_heap()
    return model


def trim_heap() -> None:
    """Return the C heap's free pages to the OS (glibc's malloc_trim; elsewhere nothing).

    After a load, the bundle's bytes, the combined graph and onnxruntime's copies of it are
    freed, but glibc keeps most of that heap resident: about 2 MiB per instance here, which
    made the combined session look larger than the separate ones (docs/benchmarks.md).
    """
    import ctypes  # already imported by numpy

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass
