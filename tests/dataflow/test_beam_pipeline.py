"""The Dataflow pipeline on the DirectRunner, end to end through its command line: the same
output as batch_score on the same rows (every column), the same rejects, reruns without
duplicates, local and GCS (emulator) inputs and outputs, the model pinned and verified.

Runs in .venv-beam (`make test-dataflow`, part of `make test`): apache-beam needs pyarrow<26,
the project's main virtualenv pins 26, where this module is skipped.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("apache_beam", reason="Beam runs in .venv-beam: `make test-dataflow`")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from dataflow.__main__ import main  # noqa: E402
from support import batch as batch_rows  # noqa: E402

RUN_DATE = "2026-11-20"


def broken(df: pd.DataFrame) -> pd.DataFrame:
    """batch_score's broken rows (support.batch.broken) and one more near the end: a later unit's row number."""
    df = batch_rows.broken(df)
    df.loc[len(df) - 2, "revolving_utilization"] = np.nan  # required
    return df


def batch_output(store, source, out: Path, chunk_rows: int = 400) -> dict:
    """batch_score's own run (riskscore.batch.run) of `source` into `out`."""
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run
    from riskscore.settings import BatchSettings

    settings = BatchSettings(model_store=str(store), batch_chunk_rows=chunk_rows)
    return run(source, str(out), date.fromisoformat(RUN_DATE), PinnedModels(settings).pin(), settings)


def dataflow(store, source, out, *extra) -> int:
    return main(["--input", str(source), "--output", str(out), "--run-date", RUN_DATE, "--model-store", str(store),
                 "--chunk-rows", "300", "--runner", "DirectRunner", *extra])


def read(folder: Path | str, name: str) -> pd.DataFrame:
    return pq.read_table(f"{folder}/run_date={RUN_DATE}/{name}.parquet").to_pandas()


def assert_same_output(ours: pd.DataFrame, theirs: pd.DataFrame, key: str) -> None:
    """Every column equal, row for row (by `key`); scored_at is each run's own, one per run."""
    assert list(ours.columns) == list(theirs.columns)
    if "scored_at" in ours and len(ours):
        assert ours["scored_at"].nunique() == 1
    ours, theirs = (d.drop(columns=["scored_at"], errors="ignore").sort_values(key).reset_index(drop=True)
                    for d in (ours, theirs))
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


def summary(capsys) -> dict:
    lines = [line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return {k: v.strip() for k, v in lines if k in ("rows_in", "rows_scored", "rows_rejected", "model_version")}


@pytest.fixture
def parquet_folder(tmp_path, small_data) -> Path:
    """Two Parquet files of several row groups each (several units, several chunks per unit)."""
    folder = tmp_path / "in"
    folder.mkdir()
    rows = broken(small_data.head(2500))
    rows["age"] = pd.to_numeric(rows["age"], errors="coerce")  # Parquet: "forty" -> missing
    pq.write_table(pa.Table.from_pandas(rows.iloc[:1400], preserve_index=False), folder / "a.parquet",
                   row_group_size=500)
    pq.write_table(pa.Table.from_pandas(rows.iloc[1400:], preserve_index=False), folder / "b.parquet",
                   row_group_size=700)
    return folder


def test_parquet_files_score_exactly_as_batch_score(trained_store, parquet_folder, tmp_path, capsys):
    assert dataflow(trained_store.path, parquet_folder, tmp_path / "df") == 0
    got = summary(capsys)
    expected = batch_output(trained_store.path, str(parquet_folder), tmp_path / "batch")
    assert got["rows_in"] == "2,500" and int(got["rows_in"].replace(",", "")) == \
        int(got["rows_scored"].replace(",", "")) + int(got["rows_rejected"])
    assert int(got["rows_rejected"]) == expected["rows_rejected"] > 0
    scores = read(tmp_path / "df", "scores")
    # In input order, as batch_score writes them.
    assert list(scores["applicant_id"]) == list(read(tmp_path / "batch", "scores")["applicant_id"])
    assert_same_output(scores, read(tmp_path / "batch", "scores"), "applicant_id")
    assert_same_output(read(tmp_path / "df", "rejects"), read(tmp_path / "batch", "rejects"), "row_number")
    assert not (tmp_path / "df" / "_tmp").exists()  # staging removed


def test_csv_broken_rows_are_rejected_exactly_as_batch_score_does(trained_store, small_data, tmp_path, capsys):
    folder = tmp_path / "csv"
    folder.mkdir()
    rows = broken(small_data.head(900))
    rows.iloc[:400].to_csv(folder / "part-1.csv", index=False)
    rows.iloc[400:].to_csv(folder / "part-2.csv", index=False)
    assert dataflow(trained_store.path, folder, tmp_path / "df") == 0
    expected = batch_output(trained_store.path, str(folder), tmp_path / "batch")
    rejects = read(tmp_path / "df", "rejects")
    assert list(rejects["row_number"]) == [4, 8, 12, 14, 18, 899]  # positions in the whole input
    assert rejects.loc[0, "field"] == "age" and "not a number" in rejects.loc[0, "reason"]
    assert rejects.loc[4, "field"] == "age, debt_ratio"
    assert json.loads(rejects.loc[0, "raw"])["age"] == "forty"
    assert_same_output(rejects, read(tmp_path / "batch", "rejects"), "row_number")
    assert_same_output(read(tmp_path / "df", "scores"), read(tmp_path / "batch", "scores"), "applicant_id")
    assert summary(capsys)["rows_rejected"] == str(expected["rows_rejected"])


def test_a_rerun_replaces_the_run_date_and_never_duplicates(trained_store, small_data, tmp_path):
    path = tmp_path / "in.parquet"
    small_data.head(700).to_parquet(path)
    out = tmp_path / "df"
    assert dataflow(trained_store.path, path, out) == 0
    first = read(out, "scores")
    assert dataflow(trained_store.path, path, out) == 0
    again = read(out, "scores")
    assert len(again) == len(first) == 700 and again["applicant_id"].is_unique
    assert sorted(p.name for p in (out / f"run_date={RUN_DATE}").iterdir()) == ["rejects.parquet", "scores.parquet"]
    assert_same_output(again, first, "applicant_id")


def test_gcs_input_and_output_through_the_emulator(trained_store, small_data, gcs_emulator, tmp_path):
    bucket = gcs_emulator.new_bucket("dataflow")
    client = gcs_emulator.client()
    rows = broken(small_data.head(1200))
    rows["age"] = pd.to_numeric(rows["age"], errors="coerce")
    local = tmp_path / "in"
    local.mkdir()
    for i, part in enumerate((rows.iloc[:600], rows.iloc[600:])):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), local / f"p{i}.parquet", row_group_size=250)
        client.bucket(bucket).blob(f"incoming/p{i}.parquet").upload_from_filename(str(local / f"p{i}.parquet"))
    assert dataflow(trained_store.path, f"gs://{bucket}/incoming/", f"gs://{bucket}/scored") == 0
    names = sorted(b.name for b in client.list_blobs(bucket))
    assert names == ["incoming/p0.parquet", "incoming/p1.parquet", f"scored/run_date={RUN_DATE}/rejects.parquet",
                     f"scored/run_date={RUN_DATE}/scores.parquet"]  # nothing staged is left
    for name in ("scores", "rejects"):
        client.bucket(bucket).blob(f"scored/run_date={RUN_DATE}/{name}.parquet").download_to_filename(
            str(tmp_path / f"{name}.parquet"))
    batch_output(trained_store.path, str(local), tmp_path / "batch")
    assert_same_output(pd.read_parquet(tmp_path / "scores.parquet"), read(tmp_path / "batch", "scores"), "applicant_id")
    assert_same_output(pd.read_parquet(tmp_path / "rejects.parquet"), read(tmp_path / "batch", "rejects"), "row_number")


def test_an_unusable_input_fails_at_launch_with_batch_scores_error(trained_store, small_data, tmp_path, capsys):
    path = tmp_path / "x.parquet"
    small_data.head(50).drop(columns=["age"]).to_parquet(path)
    assert dataflow(trained_store.path, path, tmp_path / "df") == 2
    assert "required column age missing" in capsys.readouterr().err
    assert dataflow(trained_store.path, tmp_path / "nowhere.parquet", tmp_path / "df") == 2
    assert not (tmp_path / "df").exists()


def test_the_handler_loads_its_pinned_version_verified_and_a_tampered_bundle_is_refused(trained_store, small_data,
                                                                                       tmp_path, capsys):
    from dataflow.handler import BundleModelHandler
    from riskscore.errors import IntegrityError

    store = tmp_path / "models"
    shutil.copytree(trained_store.path, store)
    version = trained_store.result.manifest["version"]
    handler = BundleModelHandler(str(store), "credit_default", version, date.fromisoformat(RUN_DATE),
                                 pd.Timestamp("2026-11-20T00:00:00Z").to_pydatetime())
    scorer = handler.load_model()
    assert scorer.model.version == version
    with pytest.raises(ValueError, match="pinned"):
        BundleModelHandler(str(store), "credit_default", "", date.today(), pd.Timestamp.now(tz="UTC").to_pydatetime())
    onnx = next((store / "credit_default" / version).glob("*.onnx"))
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="sha256"):
        handler.load_model()
    path = tmp_path / "in.parquet"
    small_data.head(20).to_parquet(path)
    assert dataflow(store, path, tmp_path / "df") == 1  # refused at launch: no worker starts
    assert "sha256" in capsys.readouterr().err


def test_the_handler_scores_a_batch_of_chunks_as_one_call_row_for_row(trained_store, small_data):
    from dataflow.handler import BundleModelHandler
    from riskscore.batch.columns import InputColumns

    version = trained_store.result.manifest["version"]
    handler = BundleModelHandler(str(trained_store.path), "credit_default", version, date.fromisoformat(RUN_DATE),
                                 pd.Timestamp("2026-11-20T00:00:00Z").to_pydatetime(), max_batch_chunks=3)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 3}
    scorer = handler.load_model()
    columns = InputColumns.from_manifest(scorer.model.manifest)
    raw = pa.Table.from_pandas(small_data.head(90), preserve_index=False).to_batches()[0]
    chunks = [columns.cast(raw.slice(i, 30), i + 1).rows for i in (0, 30, 60)]
    results = list(handler.run_inference(chunks, scorer))
    assert [r.example for r in results] == chunks
    one = scorer.scores(columns.cast(raw, 1).rows)
    assert pa.Table.from_batches([r.inference for r in results]).equals(pa.Table.from_batches([one]))


def test_bigquery_table_in_bigquery_table_out_as_batch_score_and_idempotent(trained_store, small_data, bq_for_batch,
                                                                            bq_dataset, tmp_path):
    import io

    from google.cloud import bigquery

    client = bq_for_batch.client()
    source = f"{bq_for_batch.project}.{bq_dataset}.portfolio"
    df = broken(small_data.head(800)).drop(columns=["application_date"], errors="ignore")
    df["age"] = pd.to_numeric(df["age"], errors="coerce")
    types = {"applicant_id": "STRING", "housing": "STRING", "employment_type": "STRING", "loan_purpose": "STRING",
             "default": "INTEGER"}
    schema = [bigquery.SchemaField(c, types.get(c, "FLOAT")) for c in df.columns]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    buf.seek(0)
    client.load_table_from_file(buf, source, job_config=bigquery.LoadJobConfig(source_format="PARQUET",
                                                                               schema=schema)).result()
    ours, theirs = (f"{bq_for_batch.project}.{bq_dataset}.{name}" for name in ("df_scores", "batch_scores"))
    for _ in range(2):  # the rerun replaces the run_date's rows
        assert dataflow(trained_store.path, f"bq://{source}", f"bq://{ours}", "--temp_location", str(tmp_path)) == 0
    batch_output(trained_store.path, f"bq://{source}", f"bq://{theirs}")

    def rows(table: str) -> pd.DataFrame:
        return client.query(f"SELECT * FROM `{table}`").result().to_arrow(create_bqstorage_client=False).to_pandas()

    got, expected = rows(ours), rows(theirs)
    assert len(got) == len(expected) and got["applicant_id"].is_unique
    assert_same_output(got, expected, "applicant_id")
    got_rejects, expected_rejects = rows(f"{ours}_rejects"), rows(f"{theirs}_rejects")
    assert len(got_rejects) == len(expected_rejects) > 0 and len(got) + len(got_rejects) == 800
    assert_same_output(got_rejects.drop(columns=["row_number"]), expected_rejects.drop(columns=["row_number"]),
                       "applicant_id")  # a table has no row order: numbers follow the read streams
    assert sorted(got_rejects["row_number"]) == sorted(set(got_rejects["row_number"]))
    assert list(tmp_path.iterdir()) == []  # staged files removed


def test_the_commit_refuses_a_run_that_lost_rows_and_writes_nothing(tmp_path):
    from dataflow.output import Finalize, unit_offsets
    from riskscore.errors import RiskScoreError

    assert unit_offsets([((1, 0), 5), ((0, 1), 3), ((0, 0), 2), ((0, 1), 4)]) == {(0, 0): 0, (0, 1): 2, (1, 0): 9}
    commit = Finalize(str(tmp_path / "out"), date.fromisoformat(RUN_DATE), "applicant_id", str(tmp_path / "stage"),
                      project=None, staging_dataset=None, model_version="v1")
    staged = [{"path": str(tmp_path / "stage" / "scores-x.parquet"), "chunks": [((0, 0, 0), 0, 90)]}]
    with pytest.raises(RiskScoreError, match="rows_in 100 != rows_scored 90 \\+ rows_rejected 0"):
        list(commit.process(None, staged, [], [((0, 0), 100)]))
    assert not (tmp_path / "out").exists()


def test_current_json_moving_after_launch_changes_no_row(trained_store, small_data, tmp_path):
    import apache_beam as beam

    from dataflow.pipeline import build, launch_job
    from riskscore.contract import bundle
    from riskscore.settings import BatchSettings
    from riskscore.io.store import LocalStore

    path = tmp_path / "models"
    shutil.copytree(trained_store.path, path)
    name = trained_store.result.manifest["name"]
    first = trained_store.result.manifest["version"]
    shutil.copytree(path / name / first, path / name / "v-next")
    manifest = json.loads((path / name / "v-next" / "manifest.json").read_text())
    (path / name / "v-next" / "manifest.json").write_text(json.dumps(dict(manifest, version="v-next")))
    source = tmp_path / "in.parquet"
    small_data.head(600).to_parquet(source)
    job = launch_job(str(source), str(tmp_path / "out"), date.fromisoformat(RUN_DATE),
                     BatchSettings(model_store=str(path)), chunk_rows=200)
    assert job.model_version == first
    bundle.set_current(LocalStore(path), name, "v-next")  # after launch, before any worker loads
    with beam.Pipeline(runner="DirectRunner") as p:
        build(p, job)
    assert set(read(tmp_path / "out", "scores")["model_version"]) == {first}
