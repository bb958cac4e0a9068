"""The one model protocol: every model of a version implements it the same way, and the
evaluation slices each split out of the graph outputs on every row."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from training.models.anomaly import AnomalyModel
from training.models.embedding import EmbeddingModel
from training.models.lgd import LGDModel
from training.models.pd.export import PDExport
from training.models.protocol import Evaluation, ExportedModel, TrainingData
from training.models.segments import SegmentModel

MODELS = [PDExport, LGDModel, SegmentModel, AnomalyModel, EmbeddingModel]
PROTOCOL = {name: inspect.signature(getattr(ExportedModel, name))
            for name in ("fit_version", "to_onnx", "verify", "manifest_entry", "evaluate")}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_implements_the_protocol_with_its_parameters(model):
    assert isinstance(model.key, str) and model.key
    for name, signature in PROTOCOL.items():
        assert list(inspect.signature(getattr(model, name)).parameters) == list(signature.parameters), name


def test_evaluation_rows_are_the_split_rows_of_the_full_outputs(small_spec):
    df = pd.DataFrame({small_spec.target: [0, 1, 0, 1, 0]}, index=[10, 11, 12, 13, 14])
    parts = {"train": df.loc[[14, 10]], "valid": df.loc[[12]], "test": df.loc[[13, 11]]}
    ev = Evaluation(TrainingData(small_spec, df, parts), entries={})
    ev.outputs["pd"] = {"pd": np.array([0.0, 0.1, 0.2, 0.3, 0.4])}
    assert ev.rows("pd", "test")["pd"].tolist() == [0.3, 0.1]
    assert ev.rows("pd", "train")["pd"].tolist() == [0.4, 0.0]
    assert ev.data.defaulted["test"].index.tolist() == [13, 11]
    assert ev.rows("pd", ev.data.defaulted["test"])["pd"].tolist() == [0.3, 0.1]  # any subset frame
