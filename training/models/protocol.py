"""The protocol every model of a version implements, and the version's list of models.

`train()` iterates over `version_models(...)`: each model is fitted on the version's data, its
graph built and verified against the native model on the test rows (a mismatch raises
ExportVerificationError and nothing is published), its manifest entry written under
`manifest["models"][model.key]` (the graph under the entry's "file"), and its exported graph
evaluated into the version's `Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np
import onnx
import pandas as pd

from training.data.spec import ModelSpec


@dataclass
class TrainingData:
    """What the models of one version are fitted on: the checked rows and their splits."""

    spec: ModelSpec
    df: pd.DataFrame  # every checked row, in table order
    parts: dict[str, pd.DataFrame]  # "train", "valid", "test" (subsets of df)
    defaulted: dict[str, pd.DataFrame] = field(init=False)  # the same splits, target == 1 only

    def __post_init__(self):
        self.defaulted = {k: v[v[self.spec.target] == 1] for k, v in self.parts.items()}


@dataclass
class Evaluation:
    """What the exported graphs of a version show, filled model by model in `version_models` order.

    `outputs[key]` holds a model's graph outputs on every row of `data.df` (for the models the
    later ones or the version need); `metrics` becomes manifest["metrics"]; `entries` are the
    models' manifest entries (evaluation may add to them); `card` holds the test-set arrays of
    the model card (`training.evaluation.model_card.render_model_card`).
    """

    data: TrainingData
    entries: dict[str, dict]
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    card: dict = field(default_factory=lambda: {"lgd_actual": None, "lgd_pred": None})

    def rows(self, key: str, part: str) -> dict[str, np.ndarray]:
        """Model `key`'s outputs on the rows of split `part` (a subset of `data.df`)."""
        positions = self.data.df.index.get_indexer(self.data.parts[part].index)
        return {name: values[positions] for name, values in self.outputs[key].items()}


class ExportedModel(Protocol):
    """One model of a version: fit, to ONNX, verify, manifest entry, evaluate."""

    key: str  # its name in manifest["models"] and manifest["parity"]

    def fit_version(self, data: TrainingData) -> "ExportedModel":
        """Fit on the rows of `data` this model learns from (its own choice of split and target)."""

    def to_onnx(self) -> onnx.ModelProto:
        """The whole model as one graph: the raw named columns in, the entry's outputs out."""

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        """Parity of the graph with the native model on rows `X`; raises ExportVerificationError
        on a mismatch beyond the model's tolerance, else returns the parity report."""

    def manifest_entry(self) -> dict:
        """The model's manifest entry; "file" names its graph in the version folder."""

    def evaluate(self, onnx_model: onnx.ModelProto, ev: Evaluation) -> None:
        """Score the version's rows with the exported graph and record what it shows in `ev`."""


def version_models(spec: ModelSpec, data: TrainingData, *, log=print, pd_overrides: dict | None = None,
                   tune_trials: int = 0) -> Iterator[ExportedModel]:
    """The models of a version, PD first. A generator: the models after PD share the raw-column
    preprocessing fitted with it, so they are built once the caller has fitted PD."""
    from training.models.anomaly import AnomalyModel
    from training.models.embedding import EmbeddingModel
    from training.models.lgd import LGDModel
    from training.models.lgd_lgbm import LGDLightGBMModel
    from training.models.pd.export import PDExport
    from training.models.segments import SegmentModel

    pd_model = PDExport(spec, log=log, overrides=pd_overrides, tune_trials=tune_trials)
    yield pd_model
    pre, seed = pd_model.shared_preprocessor(data), spec.split.seed
    if spec.lgd:
        yield (LGDLightGBMModel if spec.lgd_family == "lightgbm" else LGDModel)(pre, seed=seed)
    yield SegmentModel(pre, k=spec.segments, seed=seed)
    yield AnomalyModel(pre, contamination=spec.contamination, seed=seed)
    yield EmbeddingModel(pre, seed=seed)
