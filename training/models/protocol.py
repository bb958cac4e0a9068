"""The protocol every model of a version implements.

`train()` iterates over `version_models(...)` (training/models/version.py): each model is
fitted on the version's data, its graph built and verified against the native model on the
test rows (a mismatch raises ExportVerificationError and nothing is published), its manifest
entry written under `manifest["models"][model.key]` (the graph under the entry's "file"), and
its exported graph evaluated into the version's `Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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

    def rows(self, key: str, part: str | pd.DataFrame) -> dict[str, np.ndarray]:
        """Model `key`'s outputs on the rows of split `part`, or of the frame `part` (either a
        subset of `data.df`)."""
        rows = self.data.parts[part] if isinstance(part, str) else part
        positions = self.data.df.index.get_indexer(rows.index)
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
