"""Hostile inputs to `batch_score`: every bad line a reject with its position, every bad request
a 4xx naming its field, nothing a caller names outside what the deployment allows, and no row
value in any answer or log line (the rows carry canary values that must never show up)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support.batch import RUN_DATE, post, rejects, scores

CANARY_ID = "CANARY-ID-7f3a9c"
CANARY = "CANARY-VALUE-5e1d"


@pytest.fixture
def rows(small_data) -> pd.DataFrame:
    df = small_data.head(40).reset_index(drop=True).copy()
    df["applicant_id"] = [f"{CANARY_ID}-{i}" for i in range(len(df))]
    return df


def no_canary(*texts) -> None:
    for text in texts:
        assert CANARY not in text and CANARY_ID not in text, text[:500]


def csv_lines(df: pd.DataFrame) -> list[bytes]:
    return df.to_csv(index=False).encode().splitlines(keepends=True)


def run_csv(app, tmp_path, data: bytes, capsys) -> dict:
    path = tmp_path / "in" / "rows.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    status, body = post(app, {"input": str(path), "output": str(tmp_path / "out"), "run_date": RUN_DATE})
    captured = capsys.readouterr()
    no_canary(json.dumps(body), captured.out, captured.err)
    assert status == 200, body
    assert body["rows_in"] == body["rows_scored"] + body["rows_rejected"]
    return body


def test_a_row_with_the_wrong_number_of_fields_is_a_reject_at_its_position(app, rows, tmp_path, capsys):
    lines = csv_lines(rows)
    lines[5] = lines[5].rstrip(b"\n") + f",{CANARY}\n".encode()       # data row 5: one field too many
    lines[9] = b",".join(lines[9].split(b",")[:3]) + b"\n"              # data row 9: too few
    body = run_csv(app, tmp_path, b"".join(lines), capsys)
    assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (40, 38, 2)
    rej = rejects(tmp_path / "out").sort_values("row_number")
    assert rej["row_number"].tolist() == [5, 9]
    assert rej["reason"].str.contains(r"expected \d+ fields, found \d+").all()
    assert not rej["reason"].str.contains(CANARY).any()
    kept = scores(tmp_path / "out")["applicant_id"].tolist()
    assert f"{CANARY_ID}-3" in kept and f"{CANARY_ID}-4" not in kept and f"{CANARY_ID}-8" not in kept


def test_undecodable_bytes_in_a_column_the_model_reads_reject_that_row_only(app, rows, tmp_path, capsys):
    rows.loc[6, "housing"] = "own"
    lines = csv_lines(rows)
    lines[7] = lines[7].replace(b",own,", b",\xff\xfeown,", 1)
    body = run_csv(app, tmp_path, b"".join(lines), capsys)
    assert (body["rows_in"], body["rows_rejected"]) == (40, 1)
    rej = rejects(tmp_path / "out")
    assert rej["row_number"].tolist() == [7] and "housing" in rej["field"][0]
    assert "expected UTF-8 text, found undecodable bytes" in rej["reason"][0]


def test_quoted_line_breaks_anywhere_and_across_read_blocks_are_values(app, small_data, tmp_path, capsys):
    """Every row carries a quoted line break in an extra column: some fall on the 1 MiB read
    block boundaries of a 3 MiB file."""
    df = pd.concat([small_data.head(1000)] * 25, ignore_index=True)
    df["applicant_id"] = [f"a{i}" for i in range(len(df))]
    df["notes"] = "first line\nsecond line, with a comma"
    data = df.to_csv(index=False).encode()
    assert len(data) > 3 << 20
    body = run_csv(app, tmp_path, data, capsys)
    assert body["rows_in"] == len(df) and body["rows_rejected"] == 0


@pytest.mark.parametrize("data", [b"applicant_id,age", b"applicant_id,age\r\n"])
def test_a_header_without_rows_or_trailing_newline_is_an_empty_run(app, tmp_path, trained_store, data, capsys):
    cols = ["applicant_id", "revolving_utilization", "age", "late_30_59", "late_60_89", "late_90_plus",
            "debt_ratio", "monthly_income", "open_credit_lines", "real_estate_loans", "dependents", "housing",
            "employment_type", "loan_purpose"]
    body = run_csv(app, tmp_path, ",".join(cols).encode() + data[len(b"applicant_id,age"):], capsys)
    assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (0, 0, 0)


def test_a_parquet_file_naming_a_column_twice_is_a_422_naming_it(app, rows, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.append_column("age", table.column("age"))
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)
    status, body = post(app, {"input": str(path), "output": str(tmp_path / "o"), "run_date": RUN_DATE})
    assert status == 422 and body["details"] == [{"field": "age", "problem": "column named more than once"}]
    no_canary(json.dumps(body), *capsys.readouterr())


@pytest.mark.parametrize("field, value, problem", [
    ("input", "/etc/passwd.csv", "outside the allowed folder"),
    ("input", "../../../../../../etc/hosts.csv", "outside the allowed folder"),
    ("input", "in/\x00x.csv", "NUL character"),
    ("input", "in/" + "x" * 256 + ".csv", "path component too long"),
    ("output", "/var/tmp/elsewhere", "outside the allowed folder"),
    ("output", "o/" + "y" * 300, "path component too long"),
    ("input", "gs://someone-elses-bucket/in.csv", "bucket not allowed"),
    ("output", "gs://someone-elses-bucket/out", "bucket not allowed"),
])
def test_paths_and_buckets_outside_the_deployment_are_400s_naming_the_field(function_app, trained_store, rows,
                                                                           tmp_path, field, value, problem):
    app = function_app(trained_store.path, "batch_score", ALLOWED_BUCKETS="the-batch-bucket")
    good = tmp_path / "ok.parquet"
    rows.to_parquet(good)
    body = {"input": str(good), "output": str(tmp_path / "o"), "run_date": RUN_DATE, field: value}
    status, answer = post(app, body)
    assert status == 400 and field in json.dumps(answer["details"]), answer
    if "\x00" not in value:  # a NUL is refused earlier, by the JSON body's own check
        assert answer["details"] == [{"field": field, "problem": problem}], answer
    assert not (tmp_path / "o").exists()


def test_without_a_local_root_no_local_path_is_read(function_app, trained_store, rows, tmp_path, monkeypatch):
    good = tmp_path / "ok.parquet"
    rows.to_parquet(good)
    app = function_app(trained_store.path, "batch_score")
    monkeypatch.delenv("LOCAL_ROOT")
    from support.client import function_client

    status, answer = post(function_client("batch_score"), {"input": str(good), "output": "gs://b/o"})
    assert status == 400 and answer["details"][0]["problem"] == "local paths not accepted"
    assert app is not None


def test_a_query_that_is_not_one_select_is_refused_before_it_runs(function_app, trained_store, bq_for_batch,
                                                                  bq_dataset, tmp_path):
    project = bq_for_batch.project
    table = f"{project}.{bq_dataset}.history"
    bq_for_batch.client().query(f"CREATE TABLE `{table}` AS SELECT 1 AS x").result()
    app = function_app(trained_store.path, "batch_score", BATCH_QUERY_DATASETS=f"{project}.{bq_dataset}")
    for sql in (f"DROP TABLE `{table}`", f"DELETE FROM `{table}` WHERE TRUE", f"INSERT INTO `{table}` VALUES (2)"):
        status, body = post(app, {"input": {"query": sql}, "output": str(tmp_path / "o"), "run_date": RUN_DATE})
        assert status == 400 and body["details"][0]["field"] == "input.query", body
    assert [r.x for r in bq_for_batch.client().query(f"SELECT x FROM `{table}`").result()] == [1]
    unset = function_app(trained_store.path, "batch_score")
    status, body = post(unset, {"input": {"query": f"SELECT * FROM `{table}`"}, "output": str(tmp_path / "o")})
    assert status == 400 and body["details"][0] == {"field": "input.query", "problem": "queries not accepted"}


def test_a_tampered_manifest_re_hashed_to_match_its_files_is_a_503_naming_the_version(function_app, trained_store,
                                                                                      rows, tmp_path):
    import shutil

    from riskscore.contract import bundle
    from riskscore.io.store import LocalStore

    store_path = tmp_path / "store"
    shutil.copytree(trained_store.path, store_path)
    store = LocalStore(store_path)
    version = bundle.read_current(store, "credit_default")["version"]
    manifest = json.loads(store.read(f"credit_default/{version}/manifest.json"))
    manifest["metrics"] = {"auc": 0.99}
    store.write(f"credit_default/{version}/manifest.json", bundle.dumps(manifest))
    good = tmp_path / "ok.parquet"
    rows.to_parquet(good)
    for pinned in ({}, {"MODEL_VERSION": version}):
        app = function_app(store_path, "batch_score", **pinned)
        status, body = post(app, {"input": str(good), "output": str(tmp_path / "o"), "run_date": RUN_DATE})
        assert status == 503 and version in body["message"], body
        assert str(store_path) not in json.dumps(body)  # the store's location is logged, not answered
    assert not (tmp_path / "o").exists()


def test_a_run_clears_the_temporaries_of_a_killed_run(app, rows, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    partition = tmp_path / "out" / f"run_date={RUN_DATE}"
    partition.mkdir(parents=True)
    stale = [partition / f".scores.parquet.tmp-{dead.stdout.strip()}-abc", partition / ".rejects.parquet.tmp-old"]
    for path in stale:
        path.write_bytes(b"half a file")
    good = tmp_path / "ok.parquet"
    rows.to_parquet(good)
    status, body = post(app, {"input": str(good), "output": str(tmp_path / "out"), "run_date": RUN_DATE})
    assert status == 200, body
    assert sorted(p.name for p in partition.iterdir()) == ["rejects.parquet", "scores.parquet"]
