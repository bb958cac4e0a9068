"""The drift check on what the other functions really write: the prediction log of `score`
(PREDICTION_LOG) and a batch-scoring output, against the baseline a real training run froze."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from riskscore.drift.report import run
from riskscore.settings import BatchSettings, DriftSettings


@pytest.fixture
def settings(trained_store, tmp_path):
    return DriftSettings(model_store=str(trained_store.path), reports_dir=str(tmp_path / "reports"))


def test_on_the_score_functions_prediction_log(trained_store, small_data, settings, tmp_path):
    from riskscore.serving.prediction_log import PredictionLog
    from riskscore.model.scorer import Scorer
    from riskscore.settings import ScoreSettings

    log = tmp_path / "predictions.jsonl"
    score_settings = ScoreSettings(model_store=str(trained_store.path), prediction_log=str(log))
    scorer, predictions = Scorer(score_settings), PredictionLog(score_settings, stream=open("/dev/null", "w"))
    names = [f["name"] for f in trained_store.result.manifest["features"]]
    rows = small_data.head(600)
    for i, row in enumerate(rows[names].astype(object).where(rows[names].notna(), None).to_dict("records")):
        result = scorer.score(row)
        predictions.write(request_id=f"r{i}", model_version=result["model_version"], applicant_id=f"A{i}",
                          features=row, outputs={k: v for k, v in result.items() if k != "model_version"},
                          latency_ms=1.0)
    today = datetime.now(timezone.utc).date().isoformat()
    report = run(settings, {"source": str(log), "start": today})
    assert report["rows"] == 600 and report["model_version"] == trained_store.result.manifest["version"]
    assert report["status"] in ("stable", "warning", "alert")  # 600 >= min_rows: a verdict
    ages = {f["name"]: f for f in report["features"]}["age"]
    assert ages["mean"] == pytest.approx(rows["age"].mean())
    assert {o["name"] for o in report["outputs"]} == {"pd", "score"}
    assert sum(b["window"] for b in report["rating_mix"]["bands"]) == pytest.approx(1.0)
    recent = report["versions"][0]["recent_predictions"]
    assert len(recent) == 25 and all(len(r["applicant_id_hash"]) == 64 for r in recent)  # hashed, as logged
    first = json.loads(log.read_text().splitlines()[0])
    assert first["time"].endswith("Z") and first["time"].startswith(today)


def test_on_a_batch_scoring_output(trained_store, small_data, settings, tmp_path):
    from datetime import date

    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run as batch_run

    source = tmp_path / "applicants.parquet"
    small_data.head(3000).to_parquet(source)
    dest = tmp_path / "scored"
    batch_settings = BatchSettings(model_store=str(trained_store.path), batch_workers=1)
    batch_run(str(source), str(dest), date(2026, 11, 20), PinnedModels(batch_settings).pin(), batch_settings)
    report = run(settings, {"source": str(dest), "start": "2026-11-20"})
    assert report["rows"] == 3000
    outputs = {o["name"]: o for o in report["outputs"]}
    # The training rows themselves: PD and score sit on the baseline (frozen on the test split).
    assert outputs["pd"]["status"] == "stable" and outputs["score"]["status"] == "stable"
    assert report["rating_mix"] is not None
    assert report["versions"][0]["unavailable_features"]  # batch outputs carry no inputs
