"""Champion and challenger end to end: `score` with MODEL_CHALLENGER_VERSION answers exactly
as without it and logs both decisions; `batch_score` writes the challenger's columns; the
drift check over those outputs compares the two on the monitoring page."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import quiet
from riskscore.contract import bundle
from riskscore.io.store import LocalStore
from support.client import function_client as score_client

ROWS = 600


@pytest.fixture(scope="module")
def two_versions(trained_store, small_spec, small_data, tmp_path_factory):
    """A store with the shared version (current: the champion) and a shallower challenger."""
    from training.train import train

    path = tmp_path_factory.mktemp("champion_challenger") / "models"
    shutil.copytree(trained_store.path, path)
    store = LocalStore(path)
    champion = trained_store.result.manifest["version"]
    challenger = train(small_spec, small_data, store, log=quiet, force=True,
                       now=datetime(2030, 1, 1, tzinfo=timezone.utc),
                       pd_overrides={"xgboost": {"max_depth": 2, "n_estimators": 25}}).manifest["version"]
    bundle.set_current(store, small_spec.name, champion)
    return path, champion, challenger


def applicants(small_data, names, n=ROWS):
    rows = small_data.head(n)
    return [{"applicant_id": f"A{i}", "features": {k: v for k, v in r.items() if k in names}}
            for i, r in enumerate(rows[names].astype(object).where(rows[names].notna(), None).to_dict("records"))]


def responses(client, bodies) -> list[dict]:
    out = []
    for body in bodies:
        r = client.post("/", json=body)
        assert r.status_code == 200, r.text
        out.append({k: v for k, v in r.json().items() if k != "request_id"})
    return out


@pytest.fixture(scope="module")
def scored(two_versions, small_spec, small_data, tmp_path_factory):
    """Every applicant through `score` without, then with, a challenger; the second's log."""
    path, champion, challenger = two_versions
    log = tmp_path_factory.mktemp("cc_log") / "predictions.jsonl"
    bodies = applicants(small_data, [f.name for f in small_spec.features])
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("MODEL_STORE", str(path))
        mp.delenv("MODEL_VERSION", raising=False)
        mp.delenv("MODEL_CHALLENGER_VERSION", raising=False)
        mp.delenv("PREDICTION_LOG", raising=False)
        alone = responses(score_client(), bodies)
        mp.setenv("MODEL_CHALLENGER_VERSION", challenger)
        mp.setenv("PREDICTION_LOG", str(log))
        client = score_client()
        main = sys.modules["main"]
        assert client.post("/", json=bodies[0]).status_code == 200  # no fork here: the first request loads
        assert main.CHALLENGER.wait(120) == "ready"
        info = client.get("/").json()
        log.write_text("")  # only the requests made with the challenger ready
        shadowed = responses(client, bodies)
    finally:
        mp.undo()
    return alone, shadowed, [json.loads(line) for line in log.read_text().splitlines()], info, log


def test_every_response_is_exactly_the_champions(scored, two_versions):
    alone, shadowed, _, info, _ = scored
    _, champion, challenger = two_versions
    assert shadowed == alone
    assert all(r["model_version"] == champion for r in shadowed)
    assert info["challenger"] == {"version": challenger, "status": "ready"}


def test_log_lines_carry_both_decisions(scored, two_versions):
    _, shadowed, lines, _, _ = scored
    _, champion, challenger = two_versions
    assert len(lines) == ROWS
    differ = 0
    for line, response in zip(lines, shadowed):
        assert line["model_version"] == champion
        assert line["outputs"]["pd"] == response["pd"] and line["outputs"]["rating"] == response["rating"]
        shadow = line["challenger"]
        assert shadow["model_version"] == challenger and shadow["status"] == "ready"
        assert set(shadow) == {"model_version", "status", "pd", "score", "rating", "top_reason"}
        assert 0 < shadow["pd"] < 1 and isinstance(shadow["rating"], str)
        differ += shadow["pd"] != line["outputs"]["pd"]
    assert differ > ROWS / 2  # another model: not a copy of the champion's numbers


def test_the_drift_check_compares_them_on_the_page(scored, two_versions, tmp_path):
    from riskscore.drift.report import run, source_id
    from riskscore.settings import DriftSettings

    _, _, lines, _, log = scored
    path, champion, challenger = two_versions
    today = datetime.now(timezone.utc).date().isoformat()
    report = run(DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "reports"),
                               local_root=str(tmp_path.parent)),
                 {"source": str(log), "start": today})
    (c,) = report["comparisons"]
    assert (c["champion_version"], c["challenger_version"], c["rows"]) == (champion, challenger, ROWS)
    assert sum(map(sum, c["rating_agreement"]["matrix"])) == ROWS
    changed = sum((line["outputs"]["score"] >= c["decisions"]["cutoff_score"])
                  != (line["challenger"]["score"] >= c["decisions"]["cutoff_score"]) for line in lines)
    assert c["decisions"]["changed"] == changed
    assert c["score_distribution"]["psi"] is not None and c["backtest"] is None  # no outcomes in a log
    page = (tmp_path / "reports" / today / source_id(str(log)) / "report.html").read_text()
    assert f"Champion {champion} and challenger {challenger}" in page
    assert 'id="rating-agreement"' in page and 'id="decisions-changed"' in page


def test_batch_writes_the_challengers_columns_and_the_check_backtests_both(two_versions, small_data, tmp_path):
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run as batch_run
    from riskscore.drift.report import run
    from riskscore.settings import BatchSettings, DriftSettings

    path, champion, challenger = two_versions
    source = tmp_path / "applicants.parquet"
    small_data.head(2000).to_parquet(source)
    settings = BatchSettings(model_store=str(path), batch_workers=1, model_challenger_version=challenger,
                             local_root=str(tmp_path))
    models = PinnedModels(settings)
    batch_run(str(source), str(tmp_path / "scored"), date(2026, 11, 20), models.pin(), settings,
              challenger=models.challenger())
    out = tmp_path / "scored" / "run_date=2026-11-20" / "scores.parquet"
    table = pq.read_table(out)
    assert set(table.column("challenger_version").to_pylist()) == {challenger}
    assert table.column("challenger_pd").null_count == 0
    assert table.column("challenger_pd").to_pylist() != table.column("pd").to_pylist()
    # Outcomes joined in (a matured cohort): both models are backtested on the same rows.
    pq.write_table(table.append_column("default", pa.array(small_data.head(2000)["default"].astype(float))), out)
    report = run(DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "reports"),
                               local_root=str(tmp_path.parent)),
                 {"source": str(tmp_path / "scored"), "start": "2026-11-20"})
    (c,) = report["comparisons"]
    assert c["rows"] == 2000 and c["backtest"]["rows"] == 2000
    assert c["backtest"]["champion"]["auc"] > 0.6 and c["backtest"]["challenger"]["auc"] > 0.6
    assert c["backtest"]["champion"]["auc"] != c["backtest"]["challenger"]["auc"]


def test_the_page_says_when_the_set_challenger_has_no_rows(scored, two_versions, tmp_path):
    from riskscore.drift.report import run, source_id
    from riskscore.settings import DriftSettings

    path, _, _ = two_versions
    today = datetime.now(timezone.utc).date().isoformat()
    settings = DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "r"),
                             model_challenger_version="v20991231-000000", local_root=str(tmp_path.parent))
    report = run(settings, {"source": str(scored[4]), "start": today})
    assert report["challenger_version"] == "v20991231-000000"
    page = (tmp_path / "r" / today / source_id(str(scored[4])) / "report.html").read_text()
    assert 'id="challenger-missing"' in page and "v20991231-000000" in page
