"""The model a batch run pins: MODEL_VERSION, or the version `current.json` names when the
run starts (read once; a pointer that moves mid-run does not affect the run).

A batch model runs its graphs (all but the embedding, which batch outputs do not carry) as
the one combined ONNX session of `riskscore.model.sessions.Model` (riskscore.model.graphs): the raw columns
are fed once and the preprocessing every graph repeats runs once, with outputs identical to
the separate sessions'.
"""

from __future__ import annotations

import threading

from riskscore.model.loader import load_model, pinned_version
from riskscore.model.sessions import Model
from riskscore.settings import BatchSettings

__all__ = ["PinnedModels"]


class PinnedModels:
    """Loads the version each run pins; keeps the last one loaded for the next run (a warm
    instance then starts a run of the same version without reading the bundle again)."""

    def __init__(self, settings: BatchSettings):
        self.settings = settings
        self._model: Model | None = None
        self._lock = threading.Lock()

    def pin(self) -> Model:
        version = pinned_version(self.settings)
        with self._lock:
            if self._model is not None and self._model.version == version:
                return self._model
            self._model = load_model(self.settings, version)  # verifies every sha256
            return self._model
