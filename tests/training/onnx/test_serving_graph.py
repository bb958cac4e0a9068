"""The serving graph: training combines the per-request models once and verifies the result
bit for bit (training/onnx/serving_graph.py); serving loads it instead of combining at every start."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from riskscore.contract import bundle
from riskscore.model import graphs
import training.onnx.serving_graph as serving_graph_module
from riskscore.errors import ExportVerificationError
from riskscore.contract.schema import FeatureSpec
from riskscore.model.sessions import ON_DEMAND, Model
from riskscore.settings import ScoreSettings
from training.onnx.serving_graph import serving_graph

MODEL = "credit_default"


@pytest.fixture
def published(trained_store):
    loaded = bundle.load(trained_store.store, MODEL, trained_store.result.manifest["version"])
    return loaded.manifest, loaded.files


def test_a_trained_version_carries_its_verified_serving_graph(published):
    manifest, files = published
    entry = manifest["serving_graph"]
    per_request = sorted(set(manifest["models"]) - ON_DEMAND)
    assert entry["models"] == per_request and len(per_request) >= 4
    assert entry["file"] in manifest["files"] and entry["file"] in files  # sha256-checked like every file
    assert entry["verified"]["optimization_levels"] == ["basic", "all"]
    assert sorted(entry["outputs"]) == per_request
    assert {"pd", "logit", "contributions"} <= set(entry["outputs"]["pd"])


def test_serving_loads_the_trained_serving_graph_without_combining(published, monkeypatch):
    manifest, files = published

    def combine_at_load(_graphs):
        raise AssertionError("serving combined the graphs at load")

    monkeypatch.setattr(graphs, "combine", combine_at_load)
    model = Model(manifest, files, ScoreSettings())
    shared = {id(model.sessions[name]) for name in manifest["serving_graph"]["models"]}
    assert len(shared) == 1  # one session runs every per-request model


def test_a_serving_graph_for_other_models_is_not_used(published, monkeypatch):
    manifest, files = published
    calls = []
    real = graphs.combine
    monkeypatch.setattr(graphs, "combine", lambda g: calls.append(sorted(g)) or real(g))
    stale = {**manifest, "serving_graph": {**manifest["serving_graph"], "models": ["pd", "lgd"]}}
    Model(stale, files, ScoreSettings())
    assert calls == [manifest["serving_graph"]["models"]]  # combined at load, from the models served


def test_a_combined_graph_that_answers_differently_fails_training(published, small_data, monkeypatch):
    manifest, files = published
    graph_files = {name: files[meta["file"]] for name, meta in manifest["models"].items()}
    features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
    real = graphs.combine

    def off_by_one(g):
        combined, outputs = real(g)
        model = onnx.load_from_string(combined)
        for init in model.graph.initializer:
            values = numpy_helper.to_array(init)
            if values.dtype == np.float32 and values.size:
                init.CopyFrom(numpy_helper.from_array(values + np.float32(1.0), init.name))
        return model.SerializeToString(), outputs

    monkeypatch.setattr(serving_graph_module.graphs, "combine", off_by_one)
    with pytest.raises(ExportVerificationError, match=r"combined serving graph differs from \w+\.onnx"):
        serving_graph(graph_files, features, small_data.head(500))


def test_nothing_to_combine_gives_no_serving_graph(published, small_data):
    manifest, files = published
    features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
    only_pd = {"pd": files[manifest["models"]["pd"]["file"]], "embedding": files[manifest["models"]["embedding"]["file"]]}
    assert serving_graph(only_pd, features, small_data.head(10)) is None
