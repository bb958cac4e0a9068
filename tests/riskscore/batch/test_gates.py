"""Data-quality gates on batch_score inputs (through functions-framework), and Snowflake inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.batch import RUN_DATE, post
from support.fakesnow import fakesnow_executable, fakesnow_server, table_statements


def _input(tmp_path, small_data, **changes) -> Path:
    df = small_data.head(400).copy()
    for column, value in changes.items():
        df[column] = value(df) if callable(value) else value
    path = tmp_path / "in.parquet"
    df.to_parquet(path)
    return path


def test_a_clean_input_reports_its_gates_in_the_summary(app, small_data, tmp_path):
    status, body = post(app, {"input": str(_input(tmp_path, small_data)), "output": str(tmp_path / "out"),
                              "run_date": RUN_DATE})
    assert status == 200, body
    quality = body["data_quality"]
    assert quality["passed"] and quality["mode"] == "batch" and quality["rows"] == 400
    assert {g["name"] for g in quality["gates"]} == {"row_count", "schema", "missing", "duplicated_ids"}


@pytest.mark.parametrize("changes, gate, match", [
    ({"monthly_income": np.nan}, "missing", r"'monthly_income' is 100.0% missing"),
    ({"age": lambda df: np.where(np.arange(len(df)) < 150, np.nan, df["age"])}, "missing",
     r"'age' is 37.5% missing, training had 0.0%"),
    ({"applicant_id": "A0000001"}, "duplicated_ids", r"1 'applicant_id' values occur on more than one row"),
])
def test_a_failing_gate_is_a_422_naming_it_and_nothing_is_written(app, small_data, tmp_path, changes, gate, match):
    import re

    out = tmp_path / "out"
    status, body = post(app, {"input": str(_input(tmp_path, small_data, **changes)), "output": str(out),
                              "run_date": RUN_DATE})
    assert status == 422 and body["error"] == "data_quality_failed", body
    assert re.search(match, body["message"]) and [d["gate"] for d in body["details"]] == [gate]
    assert not out.exists() or not any(out.rglob("*.parquet"))
    assert "A0000001" not in json.dumps(body)
    # the same input with the gate allowed: scored, and the override recorded
    status, body = post(app, {"input": str(_input(tmp_path, small_data, **changes)), "output": str(out),
                              "run_date": RUN_DATE, "allow": [gate]})
    assert status == 200, body
    assert body["data_quality"]["allowed"] == [gate] and body["rows_in"] == 400


def test_an_unknown_gate_in_allow_is_a_400(app, small_data, tmp_path):
    status, body = post(app, {"input": str(_input(tmp_path, small_data)), "output": str(tmp_path / "o"),
                              "allow": ["rows"]})
    assert status == 400 and "allow" in json.dumps(body["details"]) and "unknown gate" in body["message"] + json.dumps(body)


@pytest.mark.skipif(fakesnow_executable() is None, reason="fakesnow runs in .venv-fakesnow: `make fakesnow-setup`")
def test_a_snowflake_table_is_scored(function_app, trained_store, small_data, tmp_path):
    rows = small_data.head(50)
    with fakesnow_server(tmp_path / "fakesnow.log") as server:
        server.execute(*table_statements(rows, "LENDER.CORE.APPLICANTS"))
        app = function_app(trained_store.path, "batch_score", **server.env)
        out = tmp_path / "out"
        status, body = post(app, {"input": "snowflake://LENDER.CORE.APPLICANTS", "output": str(out), "run_date": RUN_DATE})
        assert status == 200, body
        assert (body["rows_in"], body["rows_scored"]) == (50, 50)
        scored = pd.read_parquet(out / f"run_date={RUN_DATE}" / "scores.parquet")
        assert set(scored["applicant_id"]) == set(rows["applicant_id"])
        status, body = post(app, {"input": "snowflake://LENDER.CORE.MISSING", "output": str(out), "run_date": RUN_DATE})
        assert status == 404 and "snowflake://LENDER.CORE.MISSING" in body["message"]
    # the server is gone: unreachable, a 503 naming the source
    status, body = post(app, {"input": "snowflake://LENDER.CORE.APPLICANTS", "output": str(out), "run_date": RUN_DATE})
    assert status == 503 and "snowflake://LENDER.CORE.APPLICANTS" in body["message"]
