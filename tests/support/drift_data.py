"""Synthetic material for drift tests and the drift benchmark (no model training).

`make_version(store)` publishes a model version whose drift baseline is frozen from the
synthetic generator's rows, with the generator's own `true_pd` as the model's PD (an oracle
model: drift does not care how the PD was made). `scored_rows(n, seed)` draws fresh rows of
the same generator, scored the same way; `write_log` writes them as the prediction log
`score` writes (`PredictionLog`), `write_batch_output` as a batch-scoring output partition.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from riskscore.contract import bundle
from training.data.spec import load_spec
from training.data.synthetic import generate
from training.evaluation.drift_baseline import drift_baseline

SPEC_PATH = Path(__file__).resolve().parents[1] / "training" / "specs" / "credit_default.yaml"
SPEC = load_spec(SPEC_PATH)
FEATURES = [f.name for f in SPEC.features]
MODEL = SPEC.name
VERSION = "v20261101-000000"
DAY = date(2026, 11, 20)


def scored_rows(n: int, seed: int) -> pd.DataFrame:
    """Generator rows with pd (= true_pd), score and rating as the linear scaling makes them."""
    df = generate(rows=n, seed=seed)
    df["pd"] = df["true_pd"]
    df["score"] = np.round(300 + (1 - df["pd"]) * 600, 1)
    df["rating"] = [SPEC.scaling.rating(s) for s in df["score"]]
    return df


def make_version(store, *, version: str = VERSION, rows: int = 20_000, seed: int = 1, drift: dict | None = None,
                 make_current: bool = True) -> dict:
    """Publish `version` of MODEL with a drift baseline, rating bands and test metrics."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    df = scored_rows(rows, seed)
    baseline = drift_baseline(df, SPEC.features, extra_numeric={"pd": df["pd"].to_numpy(),
                                                                "score": df["score"].to_numpy()})
    y, p = df["default"].to_numpy(), df["pd"].to_numpy()
    bands = [{"name": b.name, "min_score": b.min_score, "test_count": int((df["rating"] == b.name).sum()),
              "observed_default_rate": float(y[df["rating"] == b.name].mean()) if (df["rating"] == b.name).any()
              else None} for b in SPEC.scaling.bands]
    spec = SPEC.model_dump(mode="json")
    if drift:
        spec["drift"] = {**spec["drift"], **drift}
    manifest = {"spec": spec, "features": [f.model_dump(mode="json") for f in SPEC.features],
                "rating_bands": bands, "created_at": "2026-11-01T00:00:00+00:00",
                "metrics": {"test": {"auc": float(roc_auc_score(y, p)), "ks": 0.5,
                                     "brier": float(brier_score_loss(y, p))}}}
    return bundle.publish(store, MODEL, version, {"drift_baseline.json": bundle.dumps(baseline)}, manifest,
                          make_current=make_current)


def records(df: pd.DataFrame, *, day: date = DAY, version: str = VERSION):
    """Prediction-log records (PredictionLog's format) spread over `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    step = 86_400 / max(1, len(df))
    feats = df[FEATURES].astype(object).where(df[FEATURES].notna(), None).to_dict("records")
    for i, (f, pd_, score, rating, aid) in enumerate(zip(feats, df["pd"], df["score"], df["rating"],
                                                         df["applicant_id"])):
        yield {"severity": "INFO", "message": "prediction", "log_type": "prediction",
               "time": (start + timedelta(seconds=i * step)).isoformat().replace("+00:00", "Z"),
               "request_id": f"r{i}", "model_version": version, "applicant_id_hash": f"h{aid}",
               "features": f, "outputs": {"pd": float(pd_), "score": float(score), "rating": rating,
                                          "lgd": 0.4, "reasons": [{"feature": "age", "value": f["age"],
                                                                   "contribution": 0.1, "text": "age raised it"}]},
               "latency_ms": 3.2}


def write_log(path: Path, df: pd.DataFrame, **kwargs) -> Path:
    with open(path, "a", encoding="utf-8") as fh:
        for record in records(df, **kwargs):
            fh.write(json.dumps(record) + "\n")
    return path


def write_batch_output(dest: Path, df: pd.DataFrame, *, day: date = DAY, version: str = VERSION,
                       with_target: bool = True) -> Path:
    """`dest/run_date=DAY/scores.parquet` with the batch output's columns (plus the target)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = dest / f"run_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    cols = {"applicant_id": df["applicant_id"].to_numpy(), "pd": df["pd"].to_numpy(), "score": df["score"].to_numpy(),
            "rating": df["rating"].to_numpy(), "model_version": [version] * len(df),
            "run_date": [day] * len(df),
            "scored_at": [datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)] * len(df)}
    if with_target:
        cols["default"] = df["default"].to_numpy()
    pq.write_table(pa.table(cols), folder / "scores.parquet")
    return folder
