"""The models of a version, in training order. Apart from `protocol.py`, which the models
import: this module imports the models."""

from __future__ import annotations

from typing import Iterator

from training.data.spec import ModelSpec
from training.models.anomaly import AnomalyModel
from training.models.embedding import EmbeddingModel
from training.models.lgd import LGDModel
from training.models.lgd_lgbm import LGDLightGBMModel
from training.models.pd.export import PDExport
from training.models.protocol import ExportedModel, TrainingData
from training.models.segments import SegmentModel

__all__ = ["version_models"]


def version_models(spec: ModelSpec, data: TrainingData, *, log=print, pd_overrides: dict | None = None,
                   tune_trials: int = 0) -> Iterator[ExportedModel]:
    """The models of a version, PD first. A generator: the models after PD share the raw-column
    preprocessing fitted with it, so they are built once the caller has fitted PD."""
    pd_model = PDExport(spec, log=log, overrides=pd_overrides, tune_trials=tune_trials)
    yield pd_model
    pre, seed = pd_model.shared_preprocessor(data), spec.split.seed
    if spec.lgd:
        yield (LGDLightGBMModel if spec.lgd_family == "lightgbm" else LGDModel)(pre, seed=seed)
    yield SegmentModel(pre, k=spec.segments, seed=seed)
    yield AnomalyModel(pre, contamination=spec.contamination, seed=seed)
    yield EmbeddingModel(pre, seed=seed)
