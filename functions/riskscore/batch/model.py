"""The model a batch run pins: MODEL_VERSION, or the version `current.json` names when the
run starts (read once; a pointer that moves mid-run does not affect the run).

A batch model runs its graphs (all but the embedding, which batch outputs do not carry) as
one fused ONNX session (riskscore.fused): the raw columns are fed once and the preprocessing
every graph repeats runs once, with outputs identical to the separate sessions'.
"""

from __future__ import annotations

import threading

import numpy as np

from .. import bundle
from ..errors import RiskScoreError, StoreUnavailable
from ..scorer import Model, build_session
from ..settings import BatchSettings
from ..store import open_store


UNFUSED = frozenset({"embedding"})  # graphs a batch run does not need


class BatchModel(Model):
    """A Model whose graphs but the embedding also run as one fused session."""

    def __init__(self, manifest: dict, files: dict[str, bytes], settings: BatchSettings):
        super().__init__(manifest, files, settings)
        from ..fused import fuse  # needs the onnx package: batch only

        self._fused_names = frozenset(self.sessions) - UNFUSED
        graphs = {name: files[manifest["models"][name]["file"]] for name in manifest["models"]
                  if name in self._fused_names}
        self._fused = build_session(fuse(graphs), settings)
        self._fused_outputs = [o.name for o in self._fused.get_outputs()]

    def run_feeds(self, feeds: dict[str, np.ndarray], skip: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        if frozenset(self.sessions) - skip == self._fused_names:
            return dict(zip(self._fused_outputs, self._fused.run(None, feeds)))
        return super().run_feeds(feeds, skip)


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
                self._model = BatchModel(loaded.manifest, loaded.files, s)
                return self._model
        except RiskScoreError as exc:
            # No model is the deployment's problem, not the caller's: 503, worth retrying.
            raise (exc if exc.status >= 500 else StoreUnavailable(exc.message)) from exc
