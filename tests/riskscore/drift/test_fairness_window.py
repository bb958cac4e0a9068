"""Fairness figures in the drift check: a batch-scoring output joined with the applicants'
protected column and outcomes, checked by a version whose spec declares that column; the
figures equal a direct computation, the page shows them, a group below the four-fifths line
is a WARNING line, and `score` refuses a protected value (so none reaches the prediction log)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskscore.contract import bundle
from riskscore.drift.report import render_page, run
from riskscore.io.store import open_store
from riskscore.settings import BatchSettings, DriftSettings

MODEL = "credit_default"
RUN_DATE = date(2026, 11, 20)


@pytest.fixture(scope="module")
def protected_store(trained_store, tmp_path_factory):
    """A copy of the trained store plus a version (the same graphs) whose spec declares the
    protected column `sex` and the cut-off PD < 0.08; that version is current."""
    import shutil

    path = tmp_path_factory.mktemp("protected") / "models"
    shutil.copytree(trained_store.path, path)
    store = open_store(str(path))
    manifest = trained_store.result.manifest
    files = {name: store.read(f"{MODEL}/{manifest['version']}/{name}") for name in manifest["files"]}
    spec = dict(manifest["spec"], protected=[{"name": "sex", "description": "sex as declared"}],
                decision={"approve_below_pd": 0.08})
    raw = {k: v for k, v in manifest.items() if k not in ("name", "version", "files")}
    published = bundle.publish(store, MODEL, "v-protected", files, dict(raw, spec=spec), make_current=True)
    return path, published


@pytest.fixture(scope="module")
def window(protected_store, small_data, tmp_path_factory):
    """Batch scores of 3,000 applicants, joined with `sex` and the outcome: "f" for the riskier
    half by PD, so "f" is approved far less often than "m"."""
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run as batch_run

    path, _ = protected_store
    folder = tmp_path_factory.mktemp("window")
    rows = small_data.head(3000)
    rows.to_parquet(folder / "applicants.parquet")
    settings = BatchSettings(model_store=str(path), batch_workers=1)
    batch_run(str(folder / "applicants.parquet"), str(folder / "scored"), RUN_DATE, PinnedModels(settings).pin(),
              settings)
    scores_file = folder / "scored" / f"run_date={RUN_DATE}" / "scores.parquet"
    scores = pq.read_table(scores_file).to_pandas()
    outcomes = rows.set_index("applicant_id")["default"]
    scores["default"] = outcomes.loc[scores["applicant_id"]].to_numpy()
    scores["sex"] = np.where(scores["pd"] > scores["pd"].median(), "f", "m")
    scores.to_parquet(scores_file)
    return folder / "scored", scores


def test_the_window_figures_equal_a_direct_computation(protected_store, window, tmp_path, capsys):
    path, _ = protected_store
    source, scores = window
    settings = DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "reports"),
                             local_root=str(source.parent))  # local paths: only under local_root
    report = run(settings, {"source": str(source), "start": RUN_DATE.isoformat()})
    assert report["model_version"] == "v-protected"
    [table] = report["fairness"]["columns"]
    got = {g["group"]: g for g in table["groups"]}
    approved = scores["pd"] < 0.08
    for sex in ("f", "m"):
        m = scores["sex"] == sex
        assert got[sex]["rows"] == m.sum()
        assert got[sex]["approval_rate"] == pytest.approx(approved[m].mean())
        assert got[sex]["observed_default_rate"] == pytest.approx(scores.loc[m, "default"].mean())
        assert got[sex]["mean_pd"] == pytest.approx(scores.loc[m, "pd"].mean())
    rate = {s: approved[scores["sex"] == s].mean() for s in ("f", "m")}
    assert table["reference_group"] == "m" and got["f"]["air"] == pytest.approx(rate["f"] / rate["m"])
    assert got["f"]["four_fifths"] == "fails" and report["fairness"]["flagged"] == [{"column": "sex", "group": "f"}]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if line.get("log_type") == "drift_fairness"]
    assert warning["severity"] == "WARNING" and warning["group"] == "f" and warning["air"] == pytest.approx(got["f"]["air"])
    [page_path] = (tmp_path / "reports").glob(f"{RUN_DATE.isoformat()}/*/report.html")  # window/source
    page = page_path.read_text()
    assert "Fairness by protected group" in page and "four-fifths" in page
    assert f"{got['f']['air']:.2f}" in page and "What they do not show" in page


def test_a_prediction_log_source_has_no_fairness_figures(protected_store, window, tmp_path):
    """The prediction log never carries protected columns: the section is absent, not empty."""
    path, _ = protected_store
    source, scores = window
    log = tmp_path / "predictions.jsonl"
    line = {"severity": "INFO", "message": "prediction", "log_type": "prediction",
            "time": f"{RUN_DATE}T10:00:00Z", "model_version": "v-protected", "applicant_id_hash": "h",
            "features": {}, "outputs": {"pd": 0.05, "score": 700.0, "rating": "Good"}}
    log.write_text(json.dumps(line) + "\n")
    report = run(DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "r"), local_root=str(tmp_path)),
                 {"source": str(log), "start": RUN_DATE.isoformat()})
    assert report["fairness"] is None


def test_score_refuses_a_protected_value(protected_store, make_client, tmp_path):
    path, published = protected_store
    log = tmp_path / "predictions.jsonl"
    client = make_client(path, PREDICTION_LOG=log)
    features = {f["name"]: None for f in published["features"] if f.get("nullable", True)}
    reply = client.score({**features, "sex": "f"})
    assert reply.status == 400 and any(d["field"] == "features.sex" for d in reply.body["details"])
    assert not log.exists() or "sex" not in log.read_text()
