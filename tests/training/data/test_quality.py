"""The data-quality gates on training tables: the multi-table demo's rows, clean and messy."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from support.server import REPO_ROOT

from riskscore.contract.quality import QualityGateFailed, enforce
from training.data.quality import training_gates
from training.data.spec import ModelSpec
from training.data.synthetic_tables import generate_tables, write_tables
from training.data.multi_table import read_tables

RAW = yaml.safe_load((REPO_ROOT / "training" / "specs" / "multi_table.yaml").read_text())


@pytest.fixture(scope="module")
def spec():
    return ModelSpec.model_validate(RAW)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    write_tables(generate_tables(customers=1_200, seed=5), folder)
    return read_tables(RAW["tables"], RAW["sql"], tables_dir=folder)[0]


def _failing(report):
    return {g["name"] for g in report["gates"] if not g["passed"]}


def test_demo_rows_pass(spec, rows):
    report = training_gates(spec, rows)
    assert report["passed"], report
    assert report["missing_rates"]["annual_income"] == pytest.approx(rows["annual_income"].isna().mean())


def _messy(rows):
    rng = np.random.default_rng(0)
    df = rows.copy()
    df = df.iloc[:400].copy()                                                   # row_count (min 500)
    df.loc[df.index[rng.random(len(df)) < 0.5], "utilisation"] = np.nan          # missing (max 40 %)
    df.loc[df.index[:5], "loan_id"] = df["loan_id"].iloc[5]                      # duplicated_ids
    df["defaulted"] = 0                                                          # target_rate
    df["age"] = df["age"] > 40                                                  # schema: boolean
    return df.drop(columns=["term_months"])                                      # schema: missing column


def test_messy_table_fails_every_gate_each_named(spec, rows):
    report = training_gates(spec, _messy(rows))
    assert _failing(report) == {"row_count", "missing", "duplicated_ids", "target_rate", "schema"}
    with pytest.raises(QualityGateFailed) as info:
        enforce(report, "training table")
    message = str(info.value)
    for text in ("row_count: 400 rows, expected at least 500", "'utilisation' is", "'loan_id' values occur on more than one row", "target 'defaulted' rate is 0.00%", "column 'term_months' named in the spec is missing from the data",
                 "feature 'age' is stored as bool"):
        assert text in message, text


def test_allowed_gates_are_recorded(spec, rows):
    df = rows.copy()
    df["defaulted"] = 0
    report = training_gates(spec, df, allow=["target_rate"])
    assert report["passed"] and report["allowed"] == ["target_rate"]
