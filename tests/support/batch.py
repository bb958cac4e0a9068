"""Helpers of the batch tests: POST a JSON body to a function's test client, read a run's outputs,
break rows the way the batch tests reject them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

RUN_DATE = "2026-11-20"


def broken(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with rows batch_score rejects, each for a different reason (and one for two): the
    0-based rows 3, 7, 11, 13 and 17 (1-based file rows 4, 8, 12, 14, 18)."""
    df = df.copy().reset_index(drop=True)
    df["age"] = df["age"].astype(object)
    df.loc[3, "age"] = "forty"
    df.loc[7, "revolving_utilization"] = np.nan  # required
    df.loc[11, "age"] = 7  # below the minimum 18
    df.loc[13, "late_90_plus"] = np.inf
    df.loc[17, "debt_ratio"] = -1
    df.loc[17, "age"] = 200  # two fields, one reject
    return df


def post(client, body) -> tuple[int, dict]:
    """(status, JSON body) of a POST; a Flask or (target "score") a Starlette test client. Never a 500."""
    response = client.post("/", json=body)
    assert response.status_code != 500, response.text
    return response.status_code, json.loads(response.text)


def scores(folder: Path, run_date: str = RUN_DATE) -> pd.DataFrame:
    return pd.read_parquet(folder / f"run_date={run_date}" / "scores.parquet")


def rejects(folder: Path, run_date: str = RUN_DATE) -> pd.DataFrame:
    return pd.read_parquet(folder / f"run_date={run_date}" / "rejects.parquet")
