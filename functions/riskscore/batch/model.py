"""The model a batch run pins: MODEL_VERSION, or the version `current.json` names when the
run starts (read once; a pointer that moves mid-run does not affect the run).

A batch model runs its graphs (all but the embedding, which batch outputs do not carry) as
the one combined ONNX session of `riskscore.model.scorer.Model` (riskscore.model.graphs): the raw columns
are fed once and the preprocessing every graph repeats runs once, with outputs identical to
the separate sessions'.
"""

from __future__ import annotations

import threading

from riskscore.contract import bundle
from riskscore.errors import RiskScoreError, StoreUnavailable
from riskscore.model.scorer import Model
from riskscore.settings import BatchSettings
from riskscore.io.store import open_store


class PinnedModels:
    """Loads the version each run pins; keeps the last one loaded for the next run (a warm
    instance then starts a run of the same version without reading the bundle again)."""

    def __init__(self, settings: BatchSettings):
        self.settings = settings
        self._model: Model | None = None
        self._lock = threading.Lock()

    def pin(self) -> Model:
        s = self.settings
        try:
            store = open_store(s.model_store, read_timeout_s=s.store_read_timeout_s,
                               read_deadline_s=s.store_read_deadline_s)
            version = s.model_version
            if version is None:
                pointer = bundle.read_current(store, s.model_name)
                version = pointer["version"] if pointer else None
            with self._lock:
                if self._model is not None and self._model.version == version:
                    return self._model
                loaded = bundle.load(store, s.model_name, version)  # verifies every sha256
                self._model = Model(loaded.manifest, loaded.files, s)
                return self._model
        except RiskScoreError as exc:
            # No model is the deployment's problem, not the caller's: 503, worth retrying.
            raise (exc if exc.status >= 500 else StoreUnavailable(exc.message)) from exc
