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


def test_the_version_rates_on_a_pd_master_scale(trained_store):
    """No absolute cut-offs: bands learned from the training PDs, none crowded, PD ranges tiling,
    the best bands below the base rate; serving rates with exactly these bands."""
    m = trained_store.result.manifest
    bands = m["rating_bands"]
    assert [b["name"] for b in m["scaling"]["bands"]] == [b["name"] for b in bands]
    assert [b["name"] for b in bands] != ["Poor", "Average", "Good", "Excellent"]
    assert max(b["share"] for b in bands) <= 0.4
    assert [b["pd_max"] for b in bands[1:]] == [b["pd_min"] for b in bands[:-1]]
    assert bands[-1]["pd_max"] < m["data"]["default_rate"]
    assert all({"predicted_default_rate", "observed_default_rate", "test_count"} <= set(b) for b in bands)


@pytest.mark.parametrize("listed", [True, False])
def test_a_spec_listing_its_own_bands_keeps_them(small_spec, listed):
    import numpy as np

    from riskscore.contract.schema import ScalingSpec
    from training.train import version_scaling

    own = [{"name": "Low"}, {"name": "High", "min_score": 700}]
    spec = small_spec.model_copy(update={"scaling": ScalingSpec(bands=own) if listed else ScalingSpec()})
    rng = np.random.default_rng(0)
    pd_ = rng.beta(0.6, 10, 20_000)
    scaling = version_scaling(spec, pd_, (rng.random(20_000) < pd_).astype(int))
    assert ([b.name for b in scaling.bands] == ["Low", "High"]) == listed
