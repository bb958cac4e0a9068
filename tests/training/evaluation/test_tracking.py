"""MLflow tracking and registry against a real `mlflow server` (tests/support/mlflow_server.py), read
back through MLflow's own client: what `python -m training train --mlflow-uri` logged and
registered, the nested Optuna trials, and the alias `champion` following promote/rollback."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from riskscore.contract import bundle
from riskscore.io.store import LocalStore
from support.mlflow_server import mlflow_server
from support.server import free_port
from training.cli import main
from training.evaluation import tracking

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as s:
        yield s


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, small_spec, small_data):
    folder = tmp_path_factory.mktemp("mlflow_inputs")
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(small_spec.model_dump(mode="json"), sort_keys=False))
    data_path = folder / "data.parquet"
    small_data.iloc[:3000].to_parquet(data_path)
    return spec_path, data_path


def client(server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)


def train(inputs, store, *extra) -> int:
    spec_path, data_path = inputs
    return main(["train", "--spec", str(spec_path), "--data", str(data_path), "--store", str(store), *extra])


@pytest.fixture(scope="module")
def tracked(server, inputs, tmp_path_factory):
    """Two versions trained with MLflow: the first with `--tune 2`, the second forced current."""
    store = tmp_path_factory.mktemp("mlflow_store") / "models"
    assert train(inputs, store, "--mlflow-uri", server.uri, "--mlflow-experiment", "tests", "--tune", "2") == 0
    first = bundle.read_current(LocalStore(store), "credit_default")["version"]
    assert train(inputs, store, "--mlflow-uri", server.uri, "--mlflow-experiment", "tests", "--force") == 0
    second = bundle.read_current(LocalStore(store), "credit_default")["version"]
    return store, first, second


def runs_of(server, experiment="tests"):
    c = client(server)
    exp = c.get_experiment_by_name(experiment)
    return c.search_runs([exp.experiment_id], max_results=100)


def test_a_run_logs_spec_params_metrics_timings_fingerprint_and_artifacts(server, tracked):
    store, first, _ = tracked
    manifest = bundle.read_manifest(LocalStore(store), "credit_default", first)
    run = next(r for r in runs_of(server) if r.data.tags.get("bundle_version") == first
               and "mlflow.parentRunId" not in r.data.tags)
    assert run.info.status == "FINISHED"
    assert run.data.tags["data_fingerprint"] == manifest["data"]["fingerprint_sha256"]
    assert run.data.params["spec.pd_model.family"] == "xgboost"
    assert run.data.params["tune"] == "2"
    assert run.data.metrics["test_auc"] == pytest.approx(manifest["metrics"]["test"]["auc"])
    assert run.data.metrics["test_ks"] == pytest.approx(manifest["metrics"]["test"]["ks"])
    assert run.data.metrics["time_publish_s"] >= 0
    assert run.data.metrics["time_total_s"] > 0
    c = client(server)
    files = {f.path for f in c.list_artifacts(run.info.run_id, "bundle")}
    graphs = {f"bundle/{m['file']}" for m in manifest["models"].values()}
    assert {"bundle/manifest.json", "bundle/model_card.html"} | graphs <= files
    logged = json.loads(open(c.download_artifacts(run.info.run_id, "bundle/manifest.json")).read())
    assert logged["version"] == first
    assert json.loads(open(c.download_artifacts(run.info.run_id, "spec.json")).read())["name"] == "credit_default"


def test_every_candidate_family_is_logged_per_fold(server, inputs, tmp_path, small_spec):
    """A small table (cross-validated regime, both families): each candidate's fold AUCs as steps."""
    spec_path = tmp_path / "spec.yaml"
    spec = small_spec.model_dump(mode="json")
    spec["pd_model"].update(family="auto", small_data_rows=100_000)
    spec["name"] = "credit_families"  # its own registry entry: the server is shared by the module
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["train", "--spec", str(spec_path), "--data", str(inputs[1]), "--store", str(tmp_path / "m"),
                 "--mlflow-uri", server.uri, "--mlflow-experiment", "families"]) == 0
    run = runs_of(server, "families")[0]
    manifest = bundle.read_manifest(LocalStore(tmp_path / "m"), "credit_families",
                                    run.data.tags["bundle_version"])
    c = client(server)
    for cand in manifest["models"]["pd"]["candidates"]:
        history = c.get_metric_history(run.info.run_id, f"candidate_{cand['family']}_fold_auc")
        assert [h.value for h in sorted(history, key=lambda h: h.step)] == pytest.approx(cand["fold_aucs"])
        assert run.data.metrics[f"candidate_{cand['family']}_selection_auc"] == pytest.approx(cand["selection_auc"])
    # every family `auto` fits (the spec's candidates) was logged above
    assert {c["family"] for c in manifest["models"]["pd"]["candidates"]} == set(spec["pd_model"]["candidates"])


def test_tune_logs_each_trial_as_a_nested_run(server, tracked):
    _, first, _ = tracked
    runs = runs_of(server)
    parent = next(r for r in runs if r.data.tags.get("bundle_version") == first)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["trial"] for r in children) == ["0", "1"]
    assert all("selection_auc" in r.data.metrics and r.data.params for r in children)


def test_versions_are_registered_with_their_bundle_id_and_champion_follows_current(server, tracked):
    store, first, second = tracked
    c = client(server)
    versions = {v.tags["bundle_version"]: v.version for v in c.search_model_versions("name = 'credit_default'")}
    assert {first, second} <= set(versions)
    assert c.get_model_version_by_alias("credit_default", "champion").version == versions[second]

    assert main(["rollback", "--store", str(store), "--model", "credit_default", "--mlflow-uri", server.uri]) == 0
    assert bundle.read_current(LocalStore(store), "credit_default")["version"] == first
    assert c.get_model_version_by_alias("credit_default", "champion").version == versions[first]

    assert main(["promote", "--store", str(store), "--model", "credit_default", "--version", second,
                 "--mlflow-uri", server.uri]) == 0
    assert c.get_model_version_by_alias("credit_default", "champion").version == versions[second]


def test_an_unreachable_server_fails_the_run_before_anything_is_published(inputs, tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    assert train(inputs, tmp_path / "models", "--mlflow-uri", dead) == 1
    err = capsys.readouterr().err
    assert f"MLflow at {dead} is not usable" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "models" / "credit_default").exists()


def test_mlflow_optional_warns_and_publishes(inputs, tmp_path, capsys, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)  # the environment variable works as the flag does
    assert train(inputs, tmp_path / "models", "--mlflow-optional") == 0
    assert "going on without MLflow" in capsys.readouterr().err
    assert bundle.read_current(LocalStore(tmp_path / "models"), "credit_default") is not None


def test_without_a_uri_mlflow_is_not_touched(inputs, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(tracking.Tracker, "connect", classmethod(lambda *a, **k: pytest.fail("connected")))
    assert train(inputs, tmp_path / "models") == 0


@pytest.mark.parametrize("obj, flat", [
    ({"a": {"b": 1, "c": [1, 2]}}, {"a.b": "1", "a.c": "[1, 2]"}),
    ({"x": None}, {"x": "None"}),
])
def test_flatten(obj, flat):
    assert tracking.flatten(obj) == flat


def test_promote_of_an_unregistered_version_warns_and_moves_nothing(server, tracked, tmp_path, capsys):
    store, first, _ = tracked
    copy = tmp_path / "models"
    shutil.copytree(store, copy)
    c = client(server)
    before = c.get_model_version_by_alias("credit_default", "champion").version
    assert tracking.sync_champion(server.uri, "credit_default", "v19990101-000000", warn=print) is None
    assert "is not registered" in capsys.readouterr().out
    assert c.get_model_version_by_alias("credit_default", "champion").version == before


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM), reason="needs /usr/bin/chromium (Debian's package)")
def test_the_run_shows_in_mlflows_ui(server, tracked, tmp_path):
    """MLflow's own UI (served by the server) shows the run's metrics and the registered
    version with the alias; the screenshot is a real rendering, not a blank page."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    _, _, second = tracked
    run = next(r for r in runs_of(server) if r.data.tags.get("bundle_version") == second)
    shot = tmp_path / "mlflow-run.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
            page.get_by_text("test_auc").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shot), full_page=True)
            page.goto(f"{server.uri}/#/models/credit_default")
            page.get_by_text("champion").first.wait_for(timeout=60_000)
            models_text = page.inner_text("body")
        finally:
            browser.close()
    assert "@ champion" in models_text or "champion" in models_text
    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert image.width >= 1400 and high - low > 100  # text on a background, not an empty page
