"""The three-table demo end to end through `python -m training`: generate, train from the spec
alone on DuckDB and on the BigQuery emulator (the same SQL, the same training rows), and the
failures that publish nothing (bad SQL, a missing table, a failing gate)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from support.server import REPO_ROOT

from riskscore.contract import bundle
from riskscore.io.store import LocalStore
from training.cli import main

SPEC = REPO_ROOT / "training" / "specs" / "multi_table.yaml"
README = REPO_ROOT / "README.md"


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def fast_spec(path: Path, **changes) -> Path:
    """The demo spec with a short boosting run (the test is about data, not model quality)."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["pd_model"] = {"family": "xgboost", "n_estimators": 30, "small_data_rows": 0}
    raw.update(changes)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lender")
    code, out, err = run(["generate", "--tables", str(folder), "--customers", "2000", "--seed", "3"])
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["bureau.csv", "customers.csv", "loans.csv"]
    return folder


def _runs(store_path: Path) -> list[dict]:
    return [json.loads(line) for line in (store_path / "training_runs.jsonl").read_text().splitlines()]


def test_readme_commands_run(tmp_path):
    """The README's multi-table commands, as written (sizes made small)."""
    text = README.read_text()
    block = re.search(r"### Several tables, one SQL.*?```\n(python -m training generate --tables.*?)```", text, re.S)
    assert block, "README lost its multi-table example"
    for line in block.group(1).strip().splitlines():
        argv = line.split()[3:]  # drop "python -m training"
        argv = [a.replace("data/lender", str(tmp_path / "lender")).replace("models", str(tmp_path / "models"))
                for a in argv]
        if argv[0] == "generate":
            argv[argv.index("--customers") + 1] = "1500"
        if argv[0] == "train":
            argv[argv.index("--spec") + 1] = str(fast_spec(tmp_path / "spec.yaml"))
        code, out, err = run(argv)
        assert code == 0, err
    manifest = bundle.read_manifest(LocalStore(tmp_path / "models"), "multi_table",
                                    bundle.list_versions(LocalStore(tmp_path / "models"), "multi_table")[0])
    assert manifest["data"]["source"]["engine"] == "duckdb"


def test_trains_on_duckdb_and_on_bigquery_with_the_same_rows(tmp_path, tables_dir, bq_emulator, monkeypatch):
    import pandas as pd

    from riskscore.io import bq

    local_store = tmp_path / "local"
    code, out, err = run(["train", "--spec", str(fast_spec(tmp_path / "spec.yaml")), "--tables", str(tables_dir),
                          "--store", str(local_store)])
    assert code == 0, err
    local = bundle.read_manifest(LocalStore(local_store), "multi_table",
                                 bundle.list_versions(LocalStore(local_store), "multi_table")[0])

    client = bq_emulator.client()
    dataset = bq_emulator.new_dataset("lender")
    from google.cloud import bigquery

    for name in ("customers", "loans", "bureau"):
        df = pd.read_csv(tables_dir / f"{name}.csv")
        if "application_date" in df:
            df["application_date"] = pd.to_datetime(df["application_date"]).dt.date
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        buf.seek(0)
        import pyarrow as pa

        schema = pa.Table.from_pandas(df, preserve_index=False).schema
        kinds = {pa.types.is_integer: "INT64", pa.types.is_floating: "FLOAT64", pa.types.is_date: "DATE"}
        fields = [bigquery.SchemaField(f.name, next((k for t, k in kinds.items() if t(f.type)), "STRING"))
                  for f in schema]
        client.load_table_from_file(buf, f"{bq_emulator.project}.{dataset}.{name}", job_config=bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET, schema=fields)).result()
    monkeypatch.setattr(bq, "bigquery_client", lambda project=None: client)
    bq_spec = fast_spec(tmp_path / "bq.yaml", tables={n: f"bq://{bq_emulator.project}.{dataset}.{n}"
                                                      for n in ("customers", "loans", "bureau")})
    bq_store = tmp_path / "bq"
    code, out, err = run(["train", "--spec", str(bq_spec), "--store", str(bq_store)])
    assert code == 0, err
    on_bq = bundle.read_manifest(LocalStore(bq_store), "multi_table",
                                 bundle.list_versions(LocalStore(bq_store), "multi_table")[0])
    assert (local["data"]["source"]["engine"], on_bq["data"]["source"]["engine"]) == ("duckdb", "bigquery")
    # The same training rows: the checked table's fingerprint is over every value, in order.
    assert on_bq["data"]["fingerprint_sha256"] == local["data"]["fingerprint_sha256"]
    assert on_bq["data"]["rows"] == local["data"]["rows"] == 2000
    assert on_bq["data_quality"]["passed"] and local["data_quality"]["missing_rates"] == on_bq["data_quality"]["missing_rates"]


@pytest.mark.parametrize("change, match", [
    ({"sql": "SELECT * FROM loans; DELETE FROM loans WHERE TRUE"}, r"sql: expected a single SELECT statement; found 2"),
    ({"sql": "SELECT * FROM loans JOIN payments USING (loan_id)"}, r"sql reads 'payments', not declared"),
    ({"tables": {"customers": "customers.csv", "loans": "loans.csv", "bureau": "bureau.csv",
                 "payments": "payments.csv"}}, r"tables\.payments: no payments\.parquet"),
    ({"quality": {"min_rows": 5000}}, r"data-quality gate\(s\) failed: row_count: 2000 rows, expected at least 5000"),
])
def test_failures_name_the_problem_and_publish_nothing(tmp_path, tables_dir, change, match):
    store = tmp_path / "models"
    code, out, err = run(["train", "--spec", str(fast_spec(tmp_path / "spec.yaml", **change)),
                          "--tables", str(tables_dir), "--store", str(store)])
    assert code == 1 and re.search(match, err), err
    assert bundle.list_versions(LocalStore(store), "multi_table") == []
    assert _runs(store)[-1]["outcome"] == "failed"


def test_allowed_gate_trains_and_is_recorded_in_runs_log_and_card(tmp_path, tables_dir):
    store = tmp_path / "models"
    code, out, err = run(["train", "--spec", str(fast_spec(tmp_path / "spec.yaml", quality={"min_rows": 5000})),
                          "--tables", str(tables_dir), "--store", str(store), "--allow", "row_count"])
    assert code == 0, err
    record = _runs(store)[-1]
    quality = json.loads(record["data_quality_json"])
    assert quality["allowed"] == ["row_count"] and quality["passed"]
    version = bundle.list_versions(LocalStore(store), "multi_table")[0]
    card = (store / "multi_table" / version / "model_card.html").read_text()
    assert "Data quality" in card and "row_count" in card and "allowed" in card
    assert "Multicollinearity" in card and "loan_to_income" in card
