"""A spec with only a target and features (no id, exposure, LGD or date) trains, publishes
strict JSON, and is served: the optional parts are simply absent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.io.store import LocalStore
from support.client import function_client as score_client
from training.data.spec import ModelSpec
from training.train import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def minimal_store(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    c = rng.choice(["a", "b", "c"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * x + (c == "a"))))).astype(int)
    spec = ModelSpec(name="mini", target="y", segments=3,
                     features=[{"name": "x", "type": "numeric", "description": "a risk driver"},
                               {"name": "c", "type": "categorical", "unknown": "error"}])
    path = tmp_path_factory.mktemp("mini")
    result = train(spec, pd.DataFrame({"x": x, "c": c, "y": y}), LocalStore(path), log=lambda *a: None)
    return path, result


def test_manifest_is_strict_json_without_the_optional_parts(minimal_store):
    path, result = minimal_store
    text = (path / "mini" / result.manifest["version"] / "manifest.json").read_text()
    manifest = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the manifest"))
    assert "lgd" not in manifest["models"] and "forecast" not in manifest["artifacts"]
    assert manifest["data"]["split"] == "stratified random"
    assert all(p["mean_lgd"] is None for p in manifest["models"]["segment"]["profiles"])


def test_minimal_model_is_served(minimal_store, monkeypatch):
    path, result = minimal_store
    monkeypatch.setenv("MODEL_STORE", str(path))
    monkeypatch.setenv("MODEL_NAME", "mini")
    client = score_client()
    info = client.get("/")
    assert info.status_code == 200 and info.json()["name"] == "mini"
    scored = client.post("/", json={"features": {"x": 2.5, "c": "a"}, "exposure": 1000})
    body = scored.json()
    assert scored.status_code == 200, body
    assert "lgd" not in body and "expected_loss" not in body
    assert 0 < body["pd"] < 1 and body["reasons"][0]["feature"] == "x"
    rejected = client.post("/", json={"features": {"x": 0.0, "c": "z"}})
    assert rejected.status_code == 400 and rejected.json()["details"][0]["field"] == "features.c"
    sys.modules.pop("main", None)
