"""`batch_score` through functions-framework: local files end to end, the same decision as
`score` row for row, reruns, broken rows, missing inputs and outputs, inline records."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.batch import RUN_DATE, broken, post, rejects, scores

FEATURES = ["revolving_utilization", "age", "late_30_59", "late_60_89", "late_90_plus", "debt_ratio",
            "monthly_income", "open_credit_lines", "real_estate_loans", "dependents", "housing",
            "employment_type", "loan_purpose"]


@pytest.fixture
def table(tmp_path, small_data) -> Path:
    path = tmp_path / "in" / "applicants.parquet"
    path.parent.mkdir()
    small_data.head(3000).to_parquet(path)
    return path


def test_a_run_scores_every_row_and_answers_with_the_summary(app, table, tmp_path, capsys):
    out = tmp_path / "out"
    status, body = post(app, {"input": str(table), "output": str(out), "run_date": RUN_DATE})
    assert status == 200, body
    assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (3000, 3000, 0)
    assert body["run_date"] == RUN_DATE and body["model_version"].startswith("v")
    assert body["output"] == str(out / f"run_date={RUN_DATE}" / "scores.parquet")
    assert body["rows_per_second"] > 0
    df = scores(out)
    assert len(df) == 3000 and df["applicant_id"].is_unique
    assert list(df.columns)[:3] == ["applicant_id", "pd", "score"] and "run_date" not in df.columns
    assert df["pd"].between(0, 1).all() and (df["model_version"] == body["model_version"]).all()
    assert len(rejects(out)) == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"batch_run"' in line]
    assert logged and {k: logged[-1][k] for k in body} == body


def test_scores_files_use_dictionaries_for_few_valued_columns_only(app, table, tmp_path):
    from riskscore.batch.schema import FEW_VALUES

    out = tmp_path / "out"
    assert post(app, {"input": str(table), "output": str(out), "run_date": RUN_DATE})[0] == 200
    meta = pq.ParquetFile(out / f"run_date={RUN_DATE}" / "scores.parquet").metadata
    group = meta.row_group(0)
    encoded = {group.column(i).path_in_schema: set(group.column(i).encodings) for i in range(group.num_columns)}
    dictionary = {name for name, enc in encoded.items() if enc & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}}
    assert dictionary == set(FEW_VALUES) & set(encoded)
    assert {"rating", "reason_1", "model_version"} <= dictionary and not {"applicant_id", "pd"} & dictionary
    assert all(group.column(i).compression == "ZSTD" for i in range(group.num_columns))


def test_the_batch_decision_equals_score_row_for_row(function_app, trained_store, small_data, tmp_path):
    """Thousands of rows (with missing values) through both functions: the same decision."""
    rows = small_data.head(2000).reset_index(drop=True)
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    status, body = post(function_app(trained_store.path, "batch_score"), {"input": str(path), "output": str(tmp_path / "o"),
                                                        "run_date": RUN_DATE})
    assert status == 200 and body["rows_scored"] == 2000, body
    batch = scores(tmp_path / "o").set_index("applicant_id")
    score_app = function_app(trained_store.path, target="score")
    checked = 0
    for record in rows.to_dict("records"):
        features = {f: (None if record[f] is None or record[f] != record[f] else record[f]) for f in FEATURES}
        status, one = post(score_app, {"applicant_id": record["applicant_id"], "exposure": record["loan_amount"],
                                       "features": features})
        assert status == 200, one
        b = batch.loc[record["applicant_id"]]
        assert (b["pd"], b["score"], b["rating"]) == (one["pd"], one["score"], one["rating"])
        assert (b["lgd"], b["exposure"], b["expected_loss"]) == (one["lgd"], one["exposure"], one["expected_loss"])
        assert (b["segment"], b["segment_name"]) == (one["segment"]["id"], one["segment"]["name"])
        assert (b["anomaly_score"], b["anomaly_flag"]) == (one["anomaly"]["score"], one["anomaly"]["flag"])
        reasons = [(b[f"reason_{k}"], b[f"reason_{k}_contribution"]) for k in range(1, 5)
                   if isinstance(b[f"reason_{k}"], str)]
        assert reasons == [(r["feature"], r["contribution"]) for r in one["reasons"]]
        checked += 1
    assert checked == 2000


def test_a_rerun_replaces_the_run_date_and_never_duplicates(app, table, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        status, body = post(app, {"input": str(table), "output": str(out), "run_date": RUN_DATE})
        assert status == 200, body
    assert len(scores(out)) == 3000
    assert sorted(p.name for p in (out / f"run_date={RUN_DATE}").iterdir()) == ["rejects.parquet", "scores.parquet"]
    post(app, {"input": str(table), "output": str(out), "run_date": "2026-11-21"})
    assert sorted(p.name for p in out.iterdir()) == ["run_date=2026-11-20", "run_date=2026-11-21"]


def test_broken_rows_are_rejected_with_their_field_and_reason_and_every_row_is_accounted_for(app, small_data, tmp_path):
    df = broken(small_data.head(500))
    path = tmp_path / "broken.csv"
    df.to_csv(path, index=False)
    status, body = post(app, {"input": str(path), "output": str(tmp_path / "o"), "run_date": RUN_DATE})
    assert status == 200, body
    assert body["rows_in"] == 500 == body["rows_scored"] + body["rows_rejected"]
    assert body["rows_rejected"] == 5
    rej = rejects(tmp_path / "o").set_index("row_number")
    assert list(rej.index) == [4, 8, 12, 14, 18]  # 1-based positions in the file
    assert rej.loc[4, "field"] == "age" and "not a number" in rej.loc[4, "reason"]
    assert rej.loc[8, "reason"] == "revolving_utilization: required value is missing"
    assert rej.loc[12, "reason"] == "age: below the minimum 18"
    assert "not a finite number" in rej.loc[14, "reason"]
    assert rej.loc[18, "field"] == "age, debt_ratio"
    assert json.loads(rej.loc[4, "raw"])["age"] == "forty"
    assert rej.loc[4, "applicant_id"] == df.loc[3, "applicant_id"]
    assert set(scores(tmp_path / "o")["applicant_id"]).isdisjoint(rej["applicant_id"])


@pytest.mark.parametrize("make_input, status, code, names", [
    (lambda tmp: tmp / "nowhere.parquet", 404, "input_not_found", "nowhere.parquet"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", 404, "input_not_found", "no Parquet or CSV"),
    (lambda tmp: _write(tmp / "x.parquet", lambda df: df.drop(columns=["age", "housing"])), 422, "invalid_input",
     "age, housing"),
    (lambda tmp: (tmp / "junk.parquet").write_bytes(b"not parquet") and tmp / "junk.parquet", 422,
     "invalid_input", "junk.parquet"),
])
def test_an_unusable_input_is_a_clear_4xx_and_nothing_is_written(app, small_data, tmp_path, make_input, status,
                                                                 code, names):
    global _DATA
    _DATA = small_data.head(50)
    source = make_input(tmp_path)
    out = tmp_path / "o"
    got, body = post(app, {"input": str(source), "output": str(out), "run_date": RUN_DATE})
    assert (got, body["error"]) == (status, code), body
    assert names in body["message"]
    assert not out.exists()


_DATA = None


def _write(path: Path, change) -> Path:
    change(_DATA).to_parquet(path)
    return path


def test_an_output_that_cannot_be_written_is_a_4xx_naming_it(app, table, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file, not a folder")
    status, body = post(app, {"input": str(table), "output": str(blocker / "out"), "run_date": RUN_DATE})
    assert (status, body["error"]) == (422, "output_not_writable"), body
    assert str(blocker) in body["message"]


@pytest.mark.parametrize("body, field", [
    ({"output": "x"}, "input"),
    ({"input": "x.parquet"}, "output"),
    ({"input": "x.parquet", "output": "o", "run_date": "20261120"}, "run_date"),
    ({"input": "s3://b/x.parquet", "output": "o"}, "input"),
    ({"input": "a.parquet", "output": "bq://just-a-table"}, "output"),
    ({"input": {"query": ""}, "output": "o"}, "input"),
    ({"input": "a.parquet", "output": "o", "surprise": 1}, "surprise"),
    ({"records": []}, "records"),
])
def test_a_malformed_request_is_a_400_naming_the_field(app, body, field):
    status, reply = post(app, body)
    assert (status, reply["error"]) == (400, "invalid_request"), reply
    assert any(d["field"].split(".")[0] == field for d in reply["details"]), reply


def test_get_is_not_allowed(app):
    response = app.get("/")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_inline_records_get_one_result_each_in_order_and_a_bad_one_fails_alone(function_app, trained_store, small_data):
    rows = small_data.head(30).to_dict("records")
    records = [{"applicant_id": r["applicant_id"], "exposure": r["loan_amount"],
                "features": {f: (None if r[f] is None or r[f] != r[f] else r[f]) for f in FEATURES}} for r in rows]
    records[4]["features"]["age"] = "old"
    records[9] = {"features": {}}
    app = function_app(trained_store.path, "batch_score")
    status, body = post(app, {"records": records})
    assert status == 200, body
    assert (body["rows_in"], body["rows_scored"], body["rows_rejected"]) == (30, 28, 2)
    results = body["results"]
    assert [r.get("applicant_id") for i, r in enumerate(results) if i not in (4, 9)] == \
        [r["applicant_id"] for i, r in enumerate(records) if i not in (4, 9)]
    score_app = function_app(trained_store.path, target="score")
    status, single = post(score_app, records[4])
    assert status == 400 and results[4] == {k: single[k] for k in ("error", "message", "details")}
    required = [f["name"] for f in trained_store.result.manifest["features"] if not f["nullable"]]
    assert results[9]["error"] == "invalid_request"
    assert sorted(d["field"] for d in results[9]["details"]) == sorted(f"features.{n}" for n in required)
    status, one = post(score_app, records[0])
    assert {k: v for k, v in one.items() if k != "request_id"} == results[0]


def test_more_inline_records_than_allowed_is_a_400(function_app, trained_store):
    app = function_app(trained_store.path, "batch_score", MAX_INLINE_RECORDS=3)
    status, body = post(app, {"records": [{}] * 4})
    assert status == 400 and "at most 3" in body["message"]


def test_the_model_version_is_pinned_for_the_whole_run(trained_store, table, tmp_path):
    """current.json moves to another version while the run is under way: no row changes version."""
    from riskscore.contract import bundle
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run
    from riskscore.settings import BatchSettings
    from riskscore.io.store import LocalStore

    path = tmp_path / "models"
    shutil.copytree(trained_store.path, path)
    store = LocalStore(path)
    name = trained_store.result.manifest["name"]
    first = trained_store.result.manifest["version"]
    shutil.copytree(path / name / first, path / name / "v-next")
    manifest = json.loads((path / name / "v-next" / "manifest.json").read_text())
    (path / name / "v-next" / "manifest.json").write_text(json.dumps(dict(manifest, version="v-next")))
    settings = BatchSettings(model_store=str(path), batch_chunk_rows=500, batch_workers=1)
    models = PinnedModels(settings)
    moved = []

    def progress(rows_in, *_):
        if not moved:
            bundle.set_current(store, name, "v-next")
            moved.append(rows_in)

    summary = run(str(table), str(tmp_path / "o"), date(2026, 11, 20), models.pin(), settings, progress=progress)
    assert moved and moved[0] < 3000 and summary["model_version"] == first
    assert set(scores(tmp_path / "o", "2026-11-20")["model_version"]) == {first}
    assert models.pin().version == "v-next"  # the next run follows the pointer


@pytest.mark.parametrize("column, values, expected", [
    # a categorical stored as integer codes, as pandas nullable integers and as a dictionary column
    ("housing", pd.array([1, 2, None] * 10, dtype="Int64"), ["1", "2", None]),
    ("housing", pd.Categorical(["rent", "own", None] * 10), ["rent", "own", None]),
    ("housing", pd.array(["rent", "own", None] * 10, dtype="string"), ["rent", "own", None]),
    ("age", pd.array([30, 40, 50] * 10, dtype="Int64"), [30.0, 40.0, 50.0]),
    ("age", pd.array(["30", " 40 ", "5e1"] * 10, dtype="string"), [30.0, 40.0, 50.0]),
])
def test_columns_are_read_by_the_spec_types(trained_store, small_data, tmp_path, column, values, expected):
    from riskscore.batch.columns import InputColumns
    from riskscore.batch.sources import open_source

    df = small_data.head(30).copy().reset_index(drop=True)
    df[column] = values
    path = tmp_path / "typed.parquet"
    df.to_parquet(path)
    columns = InputColumns.from_manifest(trained_store.result.manifest)
    chunks = list(open_source(str(path), columns, 64).chunks())
    assert not chunks[0].rejects.num_rows, chunks[0].rejects.to_pylist()
    got = chunks[0].rows.column(column).to_pylist()[:3]
    assert got == expected
    assert str(chunks[0].rows.schema.field(column).type) == ("double" if column == "age" else "string")


def test_the_command_line_runs_the_same_job_and_prints_the_summary(trained_store, table, tmp_path, capsys,
                                                                    monkeypatch):
    from riskscore.batch.__main__ import main

    monkeypatch.delenv("MODEL_STORE", raising=False)
    out = tmp_path / "cli"
    assert main(["--input", str(table), "--output", str(out), "--run-date", RUN_DATE,
                 "--model-store", str(trained_store.path)]) == 0
    captured = capsys.readouterr()
    assert "rows/s" in captured.err  # the progress bar
    lines = {" ".join(line.split()) for line in captured.out.splitlines()}
    assert {"rows_scored 3,000", "rows_rejected 0", "unknown_categories {}"} <= lines
    assert len(scores(out)) == 3000
    assert main(["--input", str(tmp_path / "missing.csv"), "--output", str(out), "--run-date", RUN_DATE,
                 "--model-store", str(trained_store.path), "--quiet"]) == 2
    assert "missing.csv: no such file or folder" in capsys.readouterr().err


def test_unseen_categories_are_scored_as_missing_and_counted(app, small_data, tmp_path):
    """A category training never saw is no reject under the default policy: the row is scored
    as if the value were missing, and the summary counts such values per feature."""
    path = tmp_path / "in" / "applicants.parquet"
    path.parent.mkdir()
    rows = small_data.head(200).copy()
    rows.loc[rows.index[:7], "housing"] = "houseboat"
    rows.to_parquet(path)
    status, body = post(app, {"input": str(path), "output": str(tmp_path / "out"), "run_date": RUN_DATE})
    assert status == 200, body
    assert (body["rows_scored"], body["rows_rejected"]) == (200, 0)
    assert body["unknown_categories"] == {"housing": 7}
    df = scores(tmp_path / "out")
    assert df["exposure"].notna().all()  # read from the spec's exposure column, always written
