"""`python -m training table-schema --spec S`: the training and portfolio tables a spec expects,
as schema JSON and DDL; tables made from either on the BigQuery emulator take the synthetic data
and read back as the spec's checks want them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.data.spec import check_data, load_spec
from training.data.table_schema import ddl, render, schema

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "training" / "specs" / "credit_default.yaml"


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", "table-schema", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_cli_prints_both_tables_as_json_and_ddl():
    result = run_cli("--spec", str(SPEC))
    assert result.returncode == 0, result.stderr
    spec = load_spec(SPEC)
    assert result.stdout.strip() == render(spec).strip()
    assert "CREATE TABLE `DATASET.credit_default_training`" in result.stdout
    assert "CREATE TABLE `DATASET.credit_default_portfolio`" in result.stdout


@pytest.mark.parametrize("table, present, absent", [
    ("training", ["applicant_id", "application_date", "default", "lgd", "loan_amount", "housing"], []),
    ("portfolio", ["applicant_id", "loan_amount", "housing"], ["default", "lgd", "application_date"]),
])
def test_each_table_holds_what_its_reader_needs(table, present, absent):
    result = run_cli("--spec", str(SPEC), "--table", table, "--format", "json")
    assert result.returncode == 0, result.stderr
    fields = {f["name"]: f for f in json.loads(result.stdout)}
    assert set(present) <= set(fields) and not set(absent) & set(fields)
    spec = load_spec(SPEC)
    for f in spec.features:
        assert fields[f.name]["type"] == ("FLOAT" if f.type == "numeric" else "STRING"), f.name
        required = table == "training" and not f.nullable
        assert fields[f.name]["mode"] == ("REQUIRED" if required else "NULLABLE"), f.name


def test_an_unknown_table_is_refused_by_name():
    result = run_cli("--spec", str(SPEC), "--table", "ledger")
    assert result.returncode == 2 and "ledger" in result.stderr


def test_a_training_table_made_from_the_ddl_takes_the_data_and_reads_back_as_the_spec_wants(
        bq_emulator, bq_dataset, small_data, monkeypatch):
    import riskscore.io.bq
    from google.cloud import bigquery

    from training.data.tables import read_table

    spec = load_spec(SPEC)
    table_id = f"{bq_emulator.project}.{bq_dataset}.training"
    client = bq_emulator.client()
    client.query(ddl(schema(spec, "training"), table_id)).result()
    df = small_data.head(500).copy()
    df["application_date"] = df["application_date"].dt.date
    buf = io.BytesIO()
    df[[f["name"] for f in schema(spec, "training")]].to_parquet(buf)
    buf.seek(0)
    config = bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_APPEND")
    client.load_table_from_file(buf, table_id, job_config=config).result()
    monkeypatch.setattr(riskscore.io.bq, "bigquery_client", lambda project=None: bq_emulator.client())
    read = read_table(f"bq://{table_id}")
    assert len(check_data(spec, read)) == 500
    assert [f.name for f in client.get_table(table_id).schema] == [f["name"] for f in schema(spec, "training")]
