"""Multi-table training data: one SELECT over declared tables, on DuckDB and on BigQuery."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from support.server import REPO_ROOT

from training.data.synthetic_tables import TABLES, generate_tables, write_tables
from training.data.multi_table import TablesError, read_tables

SPEC = yaml.safe_load((REPO_ROOT / "training" / "specs" / "multi_table.yaml").read_text())


@pytest.fixture(scope="module")
def frames():
    return generate_tables(customers=1_500, seed=11)


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("tables")
    write_tables(frames, folder, "csv")
    return folder


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("loan_id").reset_index(drop=True)


def test_generated_tables_are_one_to_many(frames):
    customers, loans, bureau = (frames[t] for t in TABLES)
    assert customers["customer_id"].is_unique and loans["loan_id"].is_unique
    assert set(loans["customer_id"]) == set(customers["customer_id"])
    per_customer = bureau.groupby("customer_id").size()
    assert per_customer.max() > 1 and len(per_customer) < len(customers)  # many, and some thin files
    assert 0.03 < loans["defaulted"].mean() < 0.3


def test_duckdb_runs_the_spec_sql_over_csv_files(csv_dir, frames):
    df, run = read_tables(SPEC["tables"], SPEC["sql"], tables_dir=csv_dir)
    assert run["engine"] == "duckdb"
    assert len(df) == len(frames["loans"]) and df["loan_id"].is_unique
    # the aggregates are the bureau table's, computed independently here
    bureau = frames["bureau"]
    one = bureau.groupby("customer_id").agg(n=("balance", "size"), worst=("worst_delinquency_days", "max"),
                                            bal=("balance", "sum"), lim=("credit_limit", "sum"))
    row = df.merge(frames["loans"][["loan_id", "customer_id"]], on="loan_id").set_index("customer_id")
    joined = row.join(one, how="inner")
    assert (joined["bureau_accounts"] == joined["n"]).all()
    assert (joined["worst_delinquency_days"] == joined["worst"]).all()
    assert (joined["utilisation"] - joined["bal"] / joined["lim"]).abs().max() < 1e-9
    thin = row.index.difference(one.index)
    assert len(thin) and (row.loc[thin, "bureau_accounts"] == 0).all() and row.loc[thin, "utilisation"].isna().all()
    ratio = frames["loans"].merge(frames["customers"], on="customer_id").set_index("loan_id")
    expected = (ratio["amount"] / ratio["annual_income"]).reindex(df["loan_id"]).to_numpy()
    assert pd.Series(df["loan_to_income"].to_numpy() - expected).abs().max() < 1e-9


def test_parquet_folder_and_mixed_formats_give_the_same_rows(tmp_path, frames, csv_dir):
    write_tables({"customers": frames["customers"]}, tmp_path, "parquet")
    (tmp_path / "bureau").mkdir()
    half = len(frames["bureau"]) // 2
    frames["bureau"].iloc[:half].to_parquet(tmp_path / "bureau" / "part-0.parquet", index=False)
    frames["bureau"].iloc[half:].to_parquet(tmp_path / "bureau" / "part-1.parquet", index=False)
    write_tables({"loans": frames["loans"]}, tmp_path, "csv")
    mixed, _ = read_tables(SPEC["tables"], SPEC["sql"], tables_dir=tmp_path)
    plain, _ = read_tables(SPEC["tables"], SPEC["sql"], tables_dir=csv_dir)
    pd.testing.assert_frame_equal(_sorted(mixed), _sorted(plain), check_dtype=False)


@pytest.mark.parametrize("tables, sql, match", [
    ({"loans": "loans.csv"}, "SELECT * FROM loans; DROP TABLE loans", r"sql: expected a single SELECT.*2 statements"),
    ({"loans": "loans.csv"}, "DELETE FROM loans WHERE 1 = 1", r"sql: expected a single SELECT.*DELETE"),
    ({"loans": "loans.csv"}, "SELEC * FROM loans", r"sql: expected a single SELECT"),
    ({"loans": "loans.csv"}, "SELECT * FROM loans JOIN payments USING (loan_id)", r"sql reads 'payments', not declared"),
    ({"loans": "loans.csv", "payments": "payments.csv"}, "SELECT * FROM loans",
     r"tables\.payments: no payments\.parquet, payments\.csv"),
    ({"loans": "ftp://host/loans.csv"}, "SELECT * FROM loans", r"tables\.loans: unsupported source"),
    ({"loans": "loans.csv"}, "SELECT no_such_column FROM loans", r"sql: DuckDB rejected the query.*no_such_column"),
])
def test_bad_sql_or_missing_table_is_named(csv_dir, tables, sql, match):
    with pytest.raises(TablesError, match=match):
        read_tables(tables, sql, tables_dir=csv_dir)


def test_a_query_failing_on_a_value_never_quotes_it(tmp_path, frames):
    # A failed cast: DuckDB's message quotes the value ('x-secret-7'); ours names the error's kind.
    loans = frames["loans"].head(5).assign(loan_id=[f"x-secret-{i}" for i in range(3, 8)])
    write_tables({"loans": loans}, tmp_path, "csv")
    with pytest.raises(TablesError, match=r"sql: DuckDB failed running the query \(ConversionException") as info:
        read_tables({"loans": "loans.csv"}, "SELECT CAST(loan_id AS INTEGER) AS n FROM loans", tables_dir=tmp_path)
    assert "secret" not in str(info.value)


def test_missing_file_without_tables_dir_names_the_table(tmp_path):
    with pytest.raises(TablesError, match=r"tables\.loans: no such file or folder .*nope\.csv"):
        read_tables({"loans": str(tmp_path / "nope.csv")}, "SELECT * FROM loans")


def _load(client, table_id: str, df: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    table = pa.Table.from_pandas(df, preserve_index=False)
    kinds = {pa.types.is_integer: "INT64", pa.types.is_floating: "FLOAT64", pa.types.is_date: "DATE"}
    schema = [bigquery.SchemaField(f.name, next((k for test, k in kinds.items() if test(f.type)), "STRING"))
              for f in table.schema]
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    client.load_table_from_file(buf, table_id, job_config=bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=schema)).result()


def test_bigquery_runs_the_same_sql_and_gives_the_same_training_rows(bq_emulator, bq_dataset, frames, csv_dir):
    from training.data.spec import ModelSpec, check_data

    client = bq_emulator.client()
    for name, df in frames.items():
        _load(client, f"{bq_emulator.project}.{bq_dataset}.{name}", df)
    tables = {name: f"bq://{bq_emulator.project}.{bq_dataset}.{name}" for name in TABLES}
    on_bq, run = read_tables(tables, SPEC["sql"], bq_client=client)
    assert run["engine"] == "bigquery"
    local, _ = read_tables(SPEC["tables"], SPEC["sql"], tables_dir=csv_dir)
    spec = ModelSpec.model_validate(SPEC)
    # The training rows: the spec's checked, canonical columns, row for row.
    pd.testing.assert_frame_equal(_sorted(check_data(spec, on_bq)).drop(columns=[]),
                                  _sorted(check_data(spec, local)), check_exact=False, rtol=1e-12)


def test_bigquery_missing_table_is_named(bq_emulator, bq_dataset):
    tables = {"loans": f"bq://{bq_emulator.project}.{bq_dataset}.loans"}
    with pytest.raises(TablesError, match=r"tables\.loans: .*loans"):
        read_tables(tables, "SELECT * FROM loans", bq_client=bq_emulator.client())


# The constructs the README lists as portable, in one query, run on both engines.
PORTABLE_SQL = """
WITH ranked AS (
  SELECT customer_id, balance, credit_limit, months_on_book,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY months_on_book DESC, balance DESC) AS rn
  FROM bureau
  QUALIFY rn <= 3
)
SELECT l.loan_id,
       COUNT(*) AS n,
       SUM(r.balance) AS balance,
       AVG(r.credit_limit) AS mean_limit,
       MIN(r.months_on_book) AS youngest,
       SAFE_DIVIDE(SUM(r.balance), SUM(r.credit_limit)) AS util,
       IFNULL(MAX(CASE WHEN r.months_on_book > 120 THEN 1 ELSE 0 END), 0) AS old_account,
       CAST(EXTRACT(YEAR FROM l.application_date) AS INT64) AS year,
       DATE_DIFF(DATE '2026-06-30', l.application_date, DAY) AS days_before_end,
       CAST(l.term_months AS FLOAT64) AS term,
       CAST(l.term_months AS STRING) AS term_text
FROM loans AS l
JOIN ranked AS r USING (customer_id)
GROUP BY l.loan_id, l.application_date, l.term_months
"""


def test_portable_constructs_agree_on_duckdb_and_bigquery(bq_emulator, bq_dataset, frames, csv_dir):
    client = bq_emulator.client()
    for name in ("loans", "bureau"):
        _load(client, f"{bq_emulator.project}.{bq_dataset}.{name}", frames[name])
    tables = {name: f"bq://{bq_emulator.project}.{bq_dataset}.{name}" for name in ("loans", "bureau")}
    on_bq, _ = read_tables(tables, PORTABLE_SQL, bq_client=client)
    local, _ = read_tables({"loans": "loans.csv", "bureau": "bureau.csv"}, PORTABLE_SQL, tables_dir=csv_dir)
    assert len(local) > 100 and local["n"].max() == 3
    pd.testing.assert_frame_equal(_sorted(on_bq), _sorted(local), check_dtype=False, check_exact=False, rtol=1e-9)
