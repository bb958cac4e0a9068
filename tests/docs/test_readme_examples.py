"""The README's examples run: every `curl` and `python -m` command of the sections below is
extracted from README.md and run by bash against local functions (functions-framework: `score`
as its own server process, `batch_score` and `drift_check` as real local servers in this process,
whose BigQuery client factories point at the emulator) and the emulators. Cloud names map to local
ones (`my-project` -> the emulator's project, `gs://BATCH-BUCKET` -> an emulator bucket,
`terraform output` -> the local URLs, `gcloud auth print-identity-token` -> a token, a
placeholder version -> the store's). Each command must answer as the README says: the JSON keys
it prints, the fields it names."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.readme_examples import examples
from support.server import function_server
from support.wire import Wire

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("The score function", "The batch functions", "The drift check", "Calling the functions",
            "Retrain, promote, roll back")
README = (ROOT / "README.md").read_text()
EXAMPLES = examples(README, SECTIONS)
DRIFT_KEYS = {"status", "model_version", "window", "rows", "features", "outputs", "rating_mix", "backtest",
              "drifted_features", "versions", "report_url"}

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "curl", "jq")),
                                reason="the README's examples need bash, curl and jq")


def local_server(app):
    """A real HTTP server for a WSGI app on a free loopback port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, trained_store, small_data, gcs_emulator, bq_emulator):
    """What the examples expect around them: data/, models/, functions/ (the commands `cd` there),
    a bin/ with `gcloud` and `terraform` stand-ins; the emulators' buckets and tables."""
    import pandas as pd
    from google.cloud import bigquery

    from riskscore.io.store import GcsStore, LocalStore
    from support.drift_data import make_version, scored_rows, write_log

    ws = tmp_path_factory.mktemp("readme")
    for d in ("data", "functions", "build", "bin"):
        (ws / d).mkdir()
    (ws / "scripts").symlink_to(ROOT / "scripts")
    shutil.copytree(trained_store.path, ws / "models")
    small_data.to_parquet(ws / "data" / "credit.parquet")
    # drift: its own store, whose version scored the prediction log of the README's window
    make_version(LocalStore(ws / "drift-models"))
    write_log(ws / "data" / "predictions.jsonl", scored_rows(800, seed=5))
    # the model bucket: two versions of the trained model, so promote and rollback have somewhere to go
    model_bucket = gcs_emulator.new_bucket("model")
    bucket = gcs_emulator.client().bucket(model_bucket)
    [trained] = [p for p in (trained_store.path / "credit_default").iterdir() if p.is_dir()]
    for version in ("v20261101-000000", "v20261115-000000"):
        for path in trained.iterdir():
            data = path.read_bytes()
            if path.name == "manifest.json":
                data = json.dumps(dict(json.loads(data), version=version)).encode()
            bucket.blob(f"credit_default/{version}/{path.name}").upload_from_string(data)
    GcsStore(f"gs://{model_bucket}", client=gcs_emulator.client())  # readable as a store
    bucket.blob("credit_default/current.json").upload_from_string(json.dumps(
        {"manifest_sha256": __import__("hashlib").sha256(bucket.blob(
            "credit_default/v20261115-000000/manifest.json").download_as_bytes()).hexdigest(),
         "version": "v20261115-000000"}))
    batch_bucket = gcs_emulator.new_bucket("batch")
    buf = io.BytesIO()
    small_data.head(500).to_parquet(buf)
    gcs_emulator.client().bucket(batch_bucket).blob("incoming/applicants.parquet").upload_from_string(buf.getvalue())
    client = bq_emulator.client()
    for dataset in ("lending", "risk"):
        client.create_dataset(f"{bq_emulator.project}.{dataset}", exists_ok=True)
    df = small_data.head(1000).drop(columns=["application_date"])
    types = {"applicant_id": "STRING", "housing": "STRING", "employment_type": "STRING", "loan_purpose": "STRING",
             "default": "INTEGER"}
    buf = io.BytesIO()
    df.to_parquet(buf)
    buf.seek(0)
    config = bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_TRUNCATE",
                                    schema=[bigquery.SchemaField(c, types.get(c, "FLOAT")) for c in df.columns])
    client.load_table_from_file(buf, f"{bq_emulator.project}.lending.applicants", job_config=config).result()
    assert isinstance(pd, object)
    return {"dir": ws, "model_bucket": model_bucket, "batch_bucket": batch_bucket}


@pytest.fixture(scope="module")
def servers(workspace, bq_emulator, gcs_emulator, tmp_path_factory):
    """The three functions as the README starts them locally, and Cloud Run's front door for the
    "Calling the functions" section (a bearer token or 401)."""
    import functions_framework

    import riskscore.io.bq

    ws = workspace["dir"]
    saved = {k: os.environ.get(k) for k in ("MODEL_STORE", "DRIFT_SOURCE", "GOOGLE_CLOUD_PROJECT", "FUNCTION_TARGET",
                                            "LOCAL_ROOT")}
    saved_bq = (riskscore.io.bq.bigquery_client, riskscore.io.bq.bigquery_read_client)
    riskscore.io.bq.bigquery_client = lambda project=None: bq_emulator.client()
    riskscore.io.bq.bigquery_read_client = bq_emulator.read_client
    source = str(ROOT / "functions" / "main.py")
    running = []
    try:
        # LOCAL_ROOT: the local paths the examples name lie in the workspace.
        os.environ.update(MODEL_STORE=str(ws / "models"), GOOGLE_CLOUD_PROJECT=bq_emulator.project, LOCAL_ROOT=str(ws))
        os.environ.pop("FUNCTION_TARGET", None)
        sys.modules.pop("main", None)
        batch, batch_url = local_server(functions_framework.create_app(target="batch_score", source=source))
        running.append(batch)
        os.environ.update(MODEL_STORE=str(ws / "drift-models"), DRIFT_SOURCE=str(ws / "data" / "predictions.jsonl"))
        sys.modules.pop("main", None)
        drift, drift_url = local_server(functions_framework.create_app(target="drift_check", source=source))
        running.append(drift)
        env = dict(os.environ, MODEL_STORE=str(ws / "models"))
        with function_server("score", env, tmp_path_factory.mktemp("score") / "score.log") as score:
            wire = Wire()
            urls = {"score": wire.run_service(score.url, None, "score"),
                    "batch_score": wire.run_service(batch_url, None, "batch_score"),
                    "drift_check": wire.run_service(drift_url, None, "drift_check")}
            yield {"score": score.url, "batch_score": batch_url, "drift_check": drift_url, "cloud": urls}
            wire.close()
    finally:
        for server in running:
            server.shutdown()
        riskscore.io.bq.bigquery_client, riskscore.io.bq.bigquery_read_client = saved_bq
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sys.modules.pop("main", None)


def localize(example, workspace, servers, bq_emulator) -> str:
    """The command with cloud and placeholder names replaced by local ones."""
    c = example.command
    local = {"The score function": servers["score"], "The batch functions": servers["batch_score"],
             "The drift check": servers["drift_check"]}.get(example.section)
    if local:
        c = c.replace("localhost:8080/", local).replace("localhost:8081/", local)
    # a server's relative paths are its working directory's: here the workspace's
    c = c.replace('"source": "data/', f'"source": "{workspace["dir"]}/data/')
    c = c.replace("my-project", bq_emulator.project)
    c = c.replace("gs://BATCH-BUCKET", f"gs://{workspace['batch_bucket']}")
    c = c.replace("gs://MODEL-BUCKET", f"gs://{workspace['model_bucket']}")
    c = c.replace("vYYYYMMDD-HHMMSS", "v20261101-000000")
    c = c.replace("../.venv/bin/python", sys.executable)
    if c.startswith("python "):
        c = sys.executable + c[len("python"):]
    return c


def stand_ins(bin_dir: Path, servers) -> None:
    urls = json.dumps(servers["cloud"])
    (bin_dir / "terraform").write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'output -json' ] && [ \"$3\" = function_urls ] "
                                       f"&& echo '{urls}' && exit 0\necho \"terraform stand-in: $*\" >&2; exit 1\n")
    (bin_dir / "gcloud").write_text("#!/bin/sh\n[ \"$1 $2\" = 'auth print-identity-token' ] && echo readme-token "
                                    "&& exit 0\necho \"gcloud stand-in: $*\" >&2; exit 1\n")
    for tool in ("terraform", "gcloud"):
        (bin_dir / tool).chmod(0o755)
    python3 = bin_dir / "python3"
    if not python3.exists():
        python3.symlink_to(sys.executable)


def run_section(section: str, workspace, servers, bq_emulator) -> list[tuple[object, subprocess.CompletedProcess]]:
    """Run a section's commands in one bash (variables such as URL carry over), each on its own."""
    ws = workspace["dir"]
    stand_ins(ws / "bin", servers)
    results = []
    env = dict(os.environ, PATH=f"{ws / 'bin'}:{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "functions"), str(ROOT / "tests")]),
               MODEL_STORE=str(ws / ("drift-models" if section == "The drift check" else "models")))
    state = ws / "build" / "state.sh"
    state.write_text("")
    for example in [e for e in EXAMPLES if e.section == section]:
        command = localize(example, workspace, servers, bq_emulator)
        # each command in its own bash, starting from the variables the earlier ones set
        script = f"cd {ws}\n. {state}\nset -eo pipefail\n{command}\nset | grep -E '^(URL)=' > {state} || true\n"
        results.append((example, subprocess.run(["bash", "-c", script], env=env, cwd=ws, capture_output=True,
                                                text=True, timeout=300)))
    return results


def answer_json(stdout: str) -> dict:
    """The JSON a command printed: the whole output, or the indented document after log lines."""
    lines = stdout.splitlines()
    return json.loads("\n".join(lines[lines.index("{"):]) if "{" in lines else stdout)


def shown_json(example) -> dict:
    return json.loads(example.shown)


def test_every_example_of_the_sections_is_one_this_test_runs():
    commands = {(e.section, e.command.split()[0]) for e in EXAMPLES}
    assert commands == {("The score function", "curl"), ("The batch functions", "curl"),
                        ("The batch functions", "cd"), ("The drift check", "curl"), ("The drift check", "python"),
                        ("Calling the functions", "URL=$(terraform"), ("Calling the functions", "curl"),
                        ("Calling the functions", "scripts/smoke_score.sh"),
                        ("Retrain, promote, roll back", "python")}, commands


def test_the_score_example_answers_the_fields_the_readme_shows(workspace, servers, bq_emulator):
    [(example, result)] = run_section("The score function", workspace, servers, bq_emulator)
    assert result.returncode == 0, result.stderr
    answer, shown = json.loads(result.stdout), shown_json(example)
    assert set(answer) == set(shown)
    assert set(answer["segment"]) == set(shown["segment"]) and set(answer["anomaly"]) == set(shown["anomaly"])
    assert set(answer["reasons"][0]) == set(shown["reasons"][0])
    assert answer["applicant_id"] == shown["applicant_id"] and answer["exposure"] == shown["exposure"]


def test_the_batch_examples_score_a_table_and_a_file(workspace, servers, bq_emulator):
    (http_example, http), (cli_example, cli) = run_section("The batch functions", workspace, servers, bq_emulator)
    assert http.returncode == 0, http.stderr
    answer, shown = json.loads(http.stdout), shown_json(http_example)
    assert set(answer) == set(shown), answer
    assert answer["output"] == shown["output"].replace("my-project", bq_emulator.project)
    assert answer["rows_in"] == answer["rows_scored"] + answer["rows_rejected"] == 1000
    assert cli.returncode == 0, cli.stderr
    assert "rows_in" in cli.stdout and "rows_scored" in cli.stdout
    assert (workspace["dir"] / "build" / "scores" / "run_date=2026-11-22" / "scores.parquet").is_file()


def test_the_drift_examples_answer_the_report_the_readme_describes(workspace, servers, bq_emulator):
    results = run_section("The drift check", workspace, servers, bq_emulator)
    for example, result in results:
        assert result.returncode == 0, (example.command, result.stderr)
        report = answer_json(result.stdout)
        assert DRIFT_KEYS <= set(report), DRIFT_KEYS - set(report)
        assert report["rows"] == 800 and report["window"]["start"] == "2026-11-20"


def test_calling_the_functions_as_the_readme_shows(workspace, servers, bq_emulator):
    ws = workspace["dir"]
    score_example = next(e for e in EXAMPLES if e.section == "The score function")
    body = score_example.command.split("-d '", 1)[1].rsplit("'", 1)[0]
    (ws / "applicant.json").write_text(body)  # the README's applicant, which "a decision" posts
    results = run_section("Calling the functions", workspace, servers, bq_emulator)
    outputs = [r.stdout for _, r in results]
    for example, result in results:
        assert result.returncode == 0, (example.command, result.stdout, result.stderr)
    _, info, decision, smoke, _, batch, _, drift = outputs
    assert json.loads(info)["status"] == "ok"
    assert json.loads(decision)["applicant_id"] == "A-1001"
    assert "smoke test passed" in smoke
    batch = json.loads(batch)
    assert batch["rows_in"] == 500 and batch["output"].startswith(f"gs://{workspace['batch_bucket']}/scored/")
    assert DRIFT_KEYS <= set(json.loads(drift))


def test_retrain_promote_roll_back_on_the_model_bucket(workspace, servers, bq_emulator):
    results = run_section("Retrain, promote, roll back", workspace, servers, bq_emulator)
    for example, result in results:
        assert result.returncode == 0, (example.command, result.stdout, result.stderr)
    listing = results[0][1].stdout
    assert "v20261101-000000" in listing and "v20261115-000000" in listing
