"""Helpers of the batch tests: POST a JSON body to a function's test client, read a run's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RUN_DATE = "2026-11-20"


def post(client, body) -> tuple[int, dict]:
    """(status, JSON body) of a POST; a Flask or (target "score") a Starlette test client. Never a 500."""
    response = client.post("/", json=body)
    assert response.status_code != 500, response.text
    return response.status_code, json.loads(response.text)


def scores(folder: Path, run_date: str = RUN_DATE) -> pd.DataFrame:
    return pd.read_parquet(folder / f"run_date={run_date}" / "scores.parquet")


def rejects(folder: Path, run_date: str = RUN_DATE) -> pd.DataFrame:
    return pd.read_parquet(folder / f"run_date={run_date}" / "rejects.parquet")
