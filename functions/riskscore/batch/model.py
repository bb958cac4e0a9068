"""The model a batch run pins: MODEL_VERSION, or the version `current.json` names when the
run starts (read once; a pointer that moves mid-run does not affect the run).

A batch model runs its graphs (all but the embedding, which batch outputs do not carry) as
the one combined ONNX session of `riskscore.model.sessions.Model` (riskscore.model.graphs): the raw columns
are fed once and the preprocessing every graph repeats runs once, with outputs identical to
the separate sessions'.
"""

from __future__ import annotations

import threading

from riskscore.model.loader import load_bundle, load_model, pinned_version
from riskscore.model.sessions import Model
from riskscore.settings import BatchSettings

__all__ = ["PinnedModels"]


class PinnedModels:
    """Loads the version each run pins; keeps the last one loaded for the next run (a warm
    instance then starts a run of the same version without reading the bundle again)."""

    def __init__(self, settings: BatchSettings):
        self.settings = settings
        self._model: Model | None = None
        self._challenger = None
        self._lock = threading.Lock()

    def pin(self) -> Model:
        version = pinned_version(self.settings)
        with self._lock:
            if self._model is not None and self._model.version == version:
                return self._model
            self._model = load_model(self.settings, version)  # verifies every sha256
            return self._model

    def challenger(self):
        """MODEL_CHALLENGER_VERSION's shadow model (riskscore.model.challenger.ShadowModel),
        loaded once; None without one. One that cannot be loaded fails the run (503): an
        output silently without its columns would read as "no challenger"."""
        version = self.settings.model_challenger_version
        if version is None:
            return None
        from riskscore.model.challenger import ShadowModel

        with self._lock:
            if self._challenger is None or self._challenger.version != version:
                loaded = load_bundle(self.settings, version)  # verifies every sha256; 503 on failure
                self._challenger = ShadowModel(loaded.manifest, loaded.files, self.settings)
            return self._challenger
