"""riskscore.model.challenger: the challenger's shadow decision, its background load, its failures."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.contract import bundle
from riskscore.model.challenger import Challenger, ShadowModel, adapt_feeds, pd_only
from riskscore.model.feeds import dict_feeds
from riskscore.model.sessions import Model
from riskscore.settings import ScoreSettings


@pytest.fixture(scope="module")
def loaded(trained_store):
    b = bundle.load(trained_store.store, "credit_default")
    settings = ScoreSettings(model_store=str(trained_store.path))
    return b, settings


def rows(small_data, n=50):
    from conftest import DEFAULT_SPEC_PATH
    from training.data.spec import load_spec

    names = [f.name for f in load_spec(DEFAULT_SPEC_PATH).features]
    out = small_data[names].iloc[:n].astype(object).where(small_data[names].iloc[:n].notna(), None)
    return out.to_dict("records")


def test_the_shadow_decision_is_the_versions_own_decision(loaded, small_data):
    """The same version as champion and challenger: the PD-only shadow gives exactly the PD,
    score, rating and first reason of the full model."""
    b, settings = loaded
    full = Model(b.manifest, b.files, settings)
    shadow = ShadowModel(b.manifest, b.files, settings)
    assert set(shadow.model.sessions) == {"pd"}
    sample = rows(small_data)
    d = full.decide(dict_feeds(sample, full.features, full.known))
    s = shadow.decide(dict_feeds(sample, shadow.model.features, shadow.model.known))
    np.testing.assert_array_equal(s["pd"], d["pd"])
    np.testing.assert_array_equal(s["score"], d["score"])
    np.testing.assert_array_equal(s["rating"], d["rating"])
    names = [f.name for f in full.features]
    assert list(s["top_reason"]) == [names[i] if i >= 0 else None for i in d["reason_index"][:, 0]]
    one = shadow.shadow(sample[0])
    assert one == {"model_version": b.manifest["version"], "status": "ready", "pd": float(d["pd"][0]),
                   "score": float(d["score"][0]), "rating": str(d["rating"][0]), "top_reason": s["top_reason"][0]}


def test_adapt_feeds_fills_what_the_champion_lacks(loaded, small_data):
    b, settings = loaded
    shadow = ShadowModel(b.manifest, b.files, settings)
    sample = rows(small_data, 5)
    feeds = dict_feeds(sample, shadow.model.features, shadow.model.known)
    numeric = next(f.name for f in shadow.model.features if f.type == "numeric")
    categorical = next(f.name for f in shadow.model.features if f.type == "categorical")
    partial = {k: v for k, v in feeds.items() if k != numeric}
    partial[categorical] = np.array([["never-seen"]] * 5, dtype=object)
    adapted = adapt_feeds(partial, shadow.model)
    assert np.isnan(adapted[numeric]).all()
    assert (adapted[categorical] == "").all()
    np.testing.assert_array_equal(shadow.decide(adapted)["pd"],
                                  shadow.decide(dict_feeds(
                                      [dict(r, **{numeric: None, categorical: None}) for r in sample],
                                      shadow.model.features, shadow.model.known))["pd"])


def test_pd_only_keeps_the_pd_model():
    manifest = {"models": {"pd": {"file": "pd.onnx"}, "lgd": {"file": "lgd.onnx"}}, "serving_graph": {}}
    assert pd_only(manifest) == {"models": {"pd": {"file": "pd.onnx"}}}


def test_without_a_challenger_nothing_happens(loaded):
    _, settings = loaded
    c = Challenger(settings)
    assert not c.enabled and c.shadow({}) is None and c.load_in_background() is None


def test_the_challenger_loads_after_the_champion_and_then_shadows(loaded, small_data):
    b, settings = loaded
    c = Challenger(settings.model_copy(update={"model_challenger_version": b.manifest["version"]}))
    import threading

    gate = threading.Event()
    champion = threading.Thread(target=gate.wait)
    champion.start()
    c.load_in_background(after=champion)
    assert c.status == "loading"
    assert c.shadow(rows(small_data, 1)[0]) == {"model_version": b.manifest["version"], "status": "loading"}
    gate.set()
    assert c.wait(60) == "ready"
    assert c.shadow(rows(small_data, 1)[0])["status"] == "ready"


def test_a_challenger_that_cannot_load_is_logged_and_never_raises(loaded, small_data, capsys):
    _, settings = loaded
    c = Challenger(settings.model_copy(update={"model_challenger_version": "v19990101-000000", "load_retry_s": 3600}))
    assert c.shadow(rows(small_data, 1)[0])["status"] in ("loading", "unavailable")
    assert c.wait(30) == "unavailable"
    assert c.shadow(rows(small_data, 1)[0]) == {"model_version": "v19990101-000000", "status": "unavailable"}
    assert "challenger not loaded" in capsys.readouterr().out
