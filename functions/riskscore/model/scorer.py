"""The score function's model: loaded once per instance (retried after a failed cold start),
then one applicant's decision from any thread. No transport here."""

from __future__ import annotations

import threading
import time

from riskscore.errors import RiskScoreError, StoreUnavailable
from riskscore.io.logline import emit
from riskscore.model.loader import load_model
from riskscore.model.sessions import Model
from riskscore.settings import ScoreSettings

__all__ = ["Scorer"]


class Scorer:
    """load() once per instance; score() from any thread.

    If the store cannot be reached at cold start, `ensure_loaded` re-raises the failure
    (a 503) and tries again after `load_retry_s`, so the instance recovers without restarting.
    """

    def __init__(self, settings: ScoreSettings):
        self.settings = settings
        self.model: Model | None = None
        self._lock = threading.Lock()
        self._last_error: RiskScoreError | None = None
        self._last_attempt = -float("inf")

    def load(self) -> Model:
        self.model = load_model(self.settings, optimization="basic")
        return self.model

    def ensure_loaded(self) -> Model:
        if self.model is not None:
            return self.model
        with self._lock:
            if self.model is not None:
                return self.model
            if self._last_error and time.monotonic() - self._last_attempt < self.settings.load_retry_s:
                raise self._last_error
            self._last_attempt = time.monotonic()
            try:
                return self.load()
            except RiskScoreError as exc:
                self._last_error = exc if exc.status >= 500 else StoreUnavailable(exc.message)
                raise self._last_error from exc
            except Exception as exc:  # a broken client or file system: retry later, never crash
                self._last_error = StoreUnavailable(
                    f"could not load model {self.settings.model_name!r} from {self.settings.model_store}: {exc}")
                raise self._last_error from exc

    def load_in_background(self) -> threading.Thread:
        """Start loading now without blocking (requests wait on the same lock); a failure is
        kept for `ensure_loaded` to report as 503 and retry."""
        def load() -> None:
            try:
                self.ensure_loaded()
            except RiskScoreError as exc:
                emit("ERROR", "model not loaded at cold start; requests get 503 until a retry succeeds",
                    error=exc.code, reason=exc.message, model_store=self.settings.model_store,
                    model_name=self.settings.model_name)

        thread = threading.Thread(target=load, name="model-load", daemon=True)
        thread.start()
        return thread

    def score(self, features: dict, exposure: float | None = None, include_embedding: bool = False) -> dict:
        model = self.ensure_loaded()
        result = model.score_rows([features], [exposure], include_embedding)[0]
        return dict(result, model_version=model.version)

