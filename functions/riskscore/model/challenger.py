"""Champion/challenger: a second version scores what the first one decides, in shadow.

The champion (MODEL_VERSION, else current.json) answers every request exactly as without a
challenger. The challenger (MODEL_CHALLENGER_VERSION) runs its PD graph only, on the same
validated features; what it would have answered (PD, score, rating, top reason) goes beside
the champion's outputs in the prediction log (`score`) or in extra columns (`batch_score`).
It never changes an answer or fails a request: while it loads, after a failed load, or when
it fails on a row, the log says so (`status`) instead.

Its load starts after the champion's, in the background (`load_in_background(after=…)`), so
the champion's cold start does not wait for it; a failed load is retried at most every
`load_retry_s`, from the request path, in the background.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from riskscore.io.logline import emit
from riskscore.model.feeds import dict_feeds
from riskscore.model.loader import load_bundle
from riskscore.model.sessions import Model

__all__ = ["Challenger", "ShadowModel", "adapt_feeds", "pd_only"]

LOADING, READY, UNAVAILABLE = "loading", "ready", "unavailable"


def pd_only(manifest: dict) -> dict:
    """The manifest restricted to its PD model (no LGD, segment, anomaly, embedding, no combined
    graph): what a shadow decision needs, one small session."""
    out = dict(manifest, models={"pd": manifest["models"]["pd"]})
    out.pop("serving_graph", None)
    return out


def adapt_feeds(feeds: dict[str, np.ndarray], model: Model) -> dict[str, np.ndarray]:
    """Graph inputs built for the champion's features -> inputs for `model`'s: a feature the
    champion lacks is missing (NaN or ''), a category `model` never saw is '' (missing), as
    its own `feeds` would make them."""
    n = len(next(iter(feeds.values()))) if feeds else 0
    out = {}
    for f in model.features:
        given = feeds.get(f.name)
        if f.type == "numeric":
            out[f.name] = (given.astype(np.float32) if given is not None and given.dtype.kind == "f"
                           else np.full((n, 1), np.nan, dtype=np.float32))
        else:
            if given is None or given.dtype != object:
                out[f.name] = np.full((n, 1), "", dtype=object)
            else:
                known = np.array(sorted(f.categories or []), dtype=object)
                out[f.name] = np.where(np.isin(given, known), given, "").astype(object)
    return out


class ShadowModel:
    """A loaded challenger version: its PD graph and decision core."""

    def __init__(self, manifest: dict, files: dict[str, bytes], settings):
        self.model = Model(pd_only(manifest), files, settings, optimization="basic")
        self.version = self.model.version
        self._names = np.array([f.name for f in self.model.features] + [None], dtype=object)

    def decide(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """pd, score, rating, top_reason (feature name or None) per row, for graph inputs in
        this version's features (`adapt_feeds` makes them from the champion's)."""
        d = self.model.decide(feeds)
        return {"pd": d["pd"], "score": d["score"], "rating": d["rating"],
                "top_reason": self._names[d["reason_index"][:, 0]]}  # -1 (none) -> the None slot

    def shadow(self, features: dict) -> dict:
        """One validated request's shadow decision, as the prediction log records it (this
        version's own `feeds`: a feature it lacks is ignored, one it has but the request lacks
        is missing, a category it never saw is missing)."""
        d = self.decide(dict_feeds([features], self.model.features, self.model.known))
        return {"model_version": self.version, "status": READY, "pd": float(d["pd"][0]),
                "score": float(d["score"][0]), "rating": str(d["rating"][0]), "top_reason": d["top_reason"][0]}


class Challenger:
    """The challenger of one instance: loaded once, in the background; thread-safe."""

    def __init__(self, settings):
        self.settings = settings
        self.version: str | None = settings.model_challenger_version
        self.model: ShadowModel | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failed_at = -float("inf")

    @property
    def enabled(self) -> bool:
        return self.version is not None

    @property
    def status(self) -> str | None:
        if not self.enabled:
            return None
        return READY if self.model is not None else (LOADING if self._loading() else UNAVAILABLE)

    def _loading(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def load(self) -> ShadowModel:
        loaded = load_bundle(self.settings, self.version)  # every sha256 verified; 503 on failure
        self.model = ShadowModel(loaded.manifest, loaded.files, self.settings)
        return self.model

    def load_in_background(self, after: threading.Thread | None = None) -> threading.Thread | None:
        """Load in a thread that first waits for `after` (the champion's load) to end."""
        if not self.enabled:
            return None
        with self._lock:
            if self.model is not None or self._loading():
                return self._thread

            def run() -> None:
                if after is not None:
                    after.join()
                try:
                    self.load()
                    emit("INFO", "challenger loaded", model_version=self.version)
                except Exception as exc:  # noqa: BLE001 - shadow only: the champion keeps serving
                    self._failed_at = time.monotonic()
                    emit("WARNING", "challenger not loaded; requests are answered by the champion alone",
                         model_version=self.version, reason=str(exc)[:500])

            self._thread = threading.Thread(target=run, name="challenger-load", daemon=True)
            self._thread.start()
            return self._thread

    def wait(self, timeout_s: float | None = None) -> str | None:
        """Wait for a load in progress (tests, benchmarks); returns the status."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return self.status

    def shadow(self, features: dict) -> dict | None:
        """The challenger's decision for one validated request (None without a challenger).
        Starts the load if none ran yet (no fork: the first request) or the last failed more
        than `load_retry_s` ago; never raises."""
        if not self.enabled:
            return None
        shadow_model = self.model
        if shadow_model is None:
            if not self._loading() and time.monotonic() - self._failed_at >= self.settings.load_retry_s:
                self.load_in_background()
            return {"model_version": self.version, "status": self.status}
        try:
            return shadow_model.shadow(features)
        except Exception as exc:  # noqa: BLE001 - a shadow failure never reaches the caller
            emit("WARNING", "challenger failed on a request", model_version=self.version, reason=str(exc)[:500])
            return {"model_version": self.version, "status": "error"}
