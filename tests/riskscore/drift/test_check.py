"""The drift check end to end: prediction logs and batch outputs in, reports, pages, warehouse
rows and log lines out. The model version is published with a baseline frozen from the
synthetic generator (tests/support/drift_data.py); windows are fresh draws of the same generator."""

from __future__ import annotations

import html as html_lib
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

from support import drift_data as dd
from riskscore.drift.report import run, source_id
from riskscore.settings import DriftSettings
from riskscore.io.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def fresh():
    return dd.scored_rows(6000, seed=2)


@pytest.fixture
def settings(drift_store, tmp_path):
    return DriftSettings(model_store=str(drift_store), reports_dir=str(tmp_path / "reports"), local_root=str(tmp_path))


def check_log(settings, tmp_path, df, name="log.jsonl", **body):
    path = dd.write_log(tmp_path / name, df)
    return run(settings, {"source": str(path), "start": dd.DAY.isoformat(), **body})


def by_name(report, key="features"):
    return {f["name"]: f for f in report[key]}


# --------------------------------------------------------------------------- what it flags


def _shift(df, feature):
    df = df.copy()
    if feature == "age":
        df["age"] = (df["age"] + 15).clip(upper=95)
    elif feature == "monthly_income":
        df["monthly_income"] = df["monthly_income"] * 1.8
    elif feature == "housing":
        rng = np.random.default_rng(0)
        df.loc[rng.random(len(df)) < 0.6, "housing"] = "rent"
    elif feature == "late_90_plus":
        df["late_90_plus"] = df["late_90_plus"] + 1
    return df


@pytest.mark.parametrize("feature", ["age", "monthly_income", "housing", "late_90_plus"])
def test_shifting_one_feature_flags_it_and_no_other(settings, tmp_path, fresh, feature, capsys):
    report = check_log(settings, tmp_path, _shift(fresh, feature))
    features = by_name(report)
    assert features[feature]["status"] in ("warning", "alert"), features[feature]
    assert features[feature]["psi"] >= 0.1
    others = {n: f["status"] for n, f in features.items() if n != feature}
    assert set(others) == set(dd.FEATURES) - {feature}
    assert set(others.values()) == {"stable"}, others
    assert report["drifted_features"] == [feature]
    assert report["status"] in ("warning", "alert")
    p_key = "chi2_p" if features[feature]["type"] == "categorical" else "ks_p"
    assert features[feature][p_key] < 1e-6
    # The structured log line Cloud Monitoring alerts on.
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["severity"] == {"warning": "WARNING", "alert": "ERROR"}[report["status"]]
    assert line["drifted_features"] == [feature] and line["log_type"] == "drift_check"


def test_unshifted_data_is_stable(settings, tmp_path, fresh, capsys):
    report = check_log(settings, tmp_path, fresh)
    assert report["status"] == "stable"
    assert report["rows"] == len(fresh)
    assert {f["status"] for f in report["features"] + report["outputs"]} == {"stable"}
    assert report["rating_mix"]["status"] == "stable"
    assert report["backtest"] is None  # the prediction log carries no outcomes
    age = by_name(report)["age"]
    assert abs(age["z"]) < 5 and age["ks_p"] > 1e-3  # z and KS see noise at this size; PSI decides
    assert age["mean"] == pytest.approx(fresh["age"].mean())
    income = by_name(report)["monthly_income"]
    assert income["missing_rate"] == pytest.approx(fresh["monthly_income"].isna().mean())
    assert abs(income["missing_rate_change"]) < 0.03
    assert set(report) >= {"status", "model_version", "window", "rows", "features", "outputs", "rating_mix",
                           "backtest", "report_url"}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["severity"] == "INFO"


def test_a_tiny_window_is_insufficient_data_not_an_alarm(settings, tmp_path, fresh, capsys):
    report = check_log(settings, tmp_path, _shift(fresh.head(120), "age"))
    assert report["status"] == "insufficient_data"
    assert {f["status"] for f in report["features"]} == {"insufficient_data"}
    assert by_name(report)["age"]["psi"] > 0.25  # computed, but not an alarm
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["severity"] == "INFO"


def test_thresholds_come_from_the_spec(tmp_path, fresh):
    path = tmp_path / "models"
    dd.make_version(LocalStore(path), drift={"min_rows": 50, "psi_warning": 0.001, "psi_alert": 0.002})
    settings = DriftSettings(model_store=str(path), reports_dir=str(tmp_path / "reports"), local_root=str(tmp_path))
    report = check_log(settings, tmp_path, fresh.head(200))
    assert report["status"] == "alert"  # any noise crosses such thresholds


def test_window_keeps_only_its_days(settings, tmp_path, fresh):
    path = tmp_path / "two_days.jsonl"
    dd.write_log(path, fresh.head(800), day=date(2026, 11, 19))
    dd.write_log(path, fresh.tail(1000), day=dd.DAY)
    report = run(settings, {"source": str(path), "start": "2026-11-20", "end": "2026-11-20"})
    assert report["rows"] == 1000
    both = run(settings, {"source": str(path), "start": "2026-11-19", "end": "2026-11-20"})
    assert both["rows"] == 1800
    assert [d["rows"] for d in both["versions"][0]["by_day"]] == [800, 1000]


def test_a_window_mixing_versions_is_reported_per_version(settings, drift_store, tmp_path, fresh):
    dd.make_version(LocalStore(drift_store), version="v20261115-000000", seed=5, make_current=False)
    path = tmp_path / "mixed.jsonl"
    dd.write_log(path, fresh.head(3000))
    dd.write_log(path, _shift(fresh.tail(2000), "age"), version="v20261115-000000")
    report = run(settings, {"source": str(path), "start": dd.DAY.isoformat()})
    versions = {v["model_version"]: v for v in report["versions"]}
    assert set(versions) == {dd.VERSION, "v20261115-000000"}
    assert versions[dd.VERSION]["rows"] == 3000 and versions[dd.VERSION]["status"] == "stable"
    assert versions["v20261115-000000"]["drifted_features"] == ["age"]
    assert report["status"] == "alert" and report["model_version"] == dd.VERSION  # most rows first
    assert report["rows"] == 5000
    page = (Path(settings.reports_dir) / "2026-11-20" / source_id(str(path)) / "report.html").read_text()
    assert "mixes 2 model versions" in page
    assert f'id="v-{dd.VERSION}"' in page and 'id="v-v20261115-000000"' in page


def test_unknown_version_in_the_source_is_named(settings, tmp_path, fresh):
    path = tmp_path / "unknown.jsonl"
    dd.write_log(path, fresh.head(600), version="v19990101-000000")
    report = run(settings, {"source": str(path), "start": dd.DAY.isoformat()})
    assert report["versions"][0]["status"] == "insufficient_data"
    assert "v19990101-000000" in report["versions"][0]["error"]


# --------------------------------------------------------------------------- backtest, batch outputs


def test_backtest_on_a_batch_output_matches_an_independent_computation(settings, tmp_path, fresh):
    dest = tmp_path / "batch"
    dd.write_batch_output(dest, fresh)
    report = run(settings, {"source": str(dest), "start": dd.DAY.isoformat()})
    bt = report["backtest"]
    y, p = fresh["default"].to_numpy(), fresh["pd"].to_numpy()
    assert bt["rows"] == len(fresh) and bt["defaults"] == int(y.sum())
    assert bt["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    assert bt["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert bt["ks"] == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-9)
    assert bt["training"]["auc"] is not None and bt["change"]["auc"] == pytest.approx(bt["auc"] - bt["training"]["auc"])
    expected = fresh.groupby("rating").agg(rows=("default", "size"), observed=("default", "mean"),
                                           mean_pd=("pd", "mean"))
    for band in bt["bands"]:
        assert band["rows"] == expected.loc[band["name"], "rows"]
        assert band["observed_rate"] == pytest.approx(expected.loc[band["name"], "observed"])
        assert band["mean_pd"] == pytest.approx(expected.loc[band["name"], "mean_pd"])
    # Batch outputs carry no features: outputs are checked, features are named as unavailable.
    assert report["features"] == [] and set(report["versions"][0]["unavailable_features"]) == set(dd.FEATURES)
    assert by_name(report, "outputs")["pd"]["status"] == "stable"


def test_a_partition_folder_sets_its_own_window(settings, tmp_path, fresh):
    folder = dd.write_batch_output(tmp_path / "batch", fresh.head(700))
    report = run(settings, {"source": str(folder)})
    assert report["window"] == {"start": "2026-11-20", "end": "2026-11-20"} and report["rows"] == 700


def test_batch_output_in_gcs_and_reports_in_gcs(settings, gcs_emulator, gcs_bucket, tmp_path, fresh):
    folder = dd.write_batch_output(tmp_path / "batch", fresh.head(900))
    bucket = gcs_emulator.client().bucket(gcs_bucket)
    bucket.blob("out/run_date=2026-11-20/scores.parquet").upload_from_filename(str(folder / "scores.parquet"))
    in_gcs = settings.model_copy(update={"reports_dir": f"gs://{gcs_bucket}/reports"})
    report = run(in_gcs, {"source": f"gs://{gcs_bucket}/out/", "start": "2026-11-20"})
    assert report["rows"] == 900 and report["backtest"]["rows"] == 900
    key = f"2026-11-20/{source_id(f'gs://{gcs_bucket}/out/')}"
    assert report["report_url"] == f"gs://{gcs_bucket}/reports/{key}/report.html"
    written = {b.name for b in gcs_emulator.client().list_blobs(gcs_bucket, prefix="reports/")}
    assert written == {f"reports/{key}/report.json", f"reports/{key}/report.html", "reports/index.json",
                       "reports/index.html", "reports/drift_reports.parquet"}
    nothing = run(settings, {"source": f"gs://{gcs_bucket}/out/", "start": "2026-11-21"})
    assert nothing["rows"] == 0 and nothing["status"] == "insufficient_data"


# --------------------------------------------------------------------------- outputs


def test_outputs_reports_index_and_warehouse_rows(settings, tmp_path, fresh):
    reports = Path(settings.reports_dir)
    check_log(settings, tmp_path, fresh.head(1000))
    again = check_log(settings, tmp_path, _shift(fresh.head(1000), "age"), name="again.jsonl")
    other = run(settings, {"source": str(dd.write_log(tmp_path / "x.jsonl", fresh.head(600), day=date(2026, 11, 21))),
                           "start": "2026-11-21"})
    key = f"2026-11-20/{source_id(str(tmp_path / 'again.jsonl'))}"
    assert (reports / key / "report.html").is_file()
    assert json.loads((reports / key / "report.json").read_text())["status"] == again["status"]
    assert again["report_url"].endswith(f"{key}/report.html")
    index = json.loads((reports / "index.json").read_text())
    # Two sources on 2026-11-20: two reports, neither replacing the other.
    assert [e["window_name"] for e in index] == ["2026-11-21", "2026-11-20", "2026-11-20"]
    again_entry = next(e for e in index if e["report_key"] == key)
    assert again_entry["drifted_features"] == ["age"] and index[0]["status"] == other["status"]
    html = (reports / "index.html").read_text()
    assert f'href="{key}/report.html"' in html and "status-alert" in html
    rows = pq.read_table(reports / "drift_reports.parquet").to_pylist()
    assert len(rows) == 3  # two windows; three sources (each log file is its own source)
    row = next(r for r in rows if r["source"].endswith("again.jsonl"))
    assert row["status"] == "alert" and row["drifted_features"] == "age" and row["rows"] == 1000
    assert json.loads(row["report_json"])["model_version"] == dd.VERSION
    # A rerun of the same window and source replaces its row.
    check_log(settings, tmp_path, _shift(fresh.head(1000), "age"), name="again.jsonl")
    assert len(pq.read_table(reports / "drift_reports.parquet")) == 3


def test_schema_names_every_warehouse_column():
    from riskscore.drift import DRIFT_REPORTS_SCHEMA
    from riskscore.drift.report import source_id, arrow_schema

    assert [f["name"] for f in DRIFT_REPORTS_SCHEMA] == arrow_schema().names
    assert all(set(f) == {"name", "type", "mode"} for f in DRIFT_REPORTS_SCHEMA)


# --------------------------------------------------------------------------- the function


def test_function_post_then_get(client, tmp_path, fresh):
    path = dd.write_log(tmp_path / "log.jsonl", _shift(fresh, "housing"))
    resp = client.post("/", json={"source": str(path), "start": "2026-11-20", "end": "2026-11-20"})
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["status"] in ("warning", "alert") and report["drifted_features"] == ["housing"]
    latest = client.get("/")
    assert latest.status_code == 200 and latest.get_json()["report_url"] == report["report_url"]
    index = client.get("/?index=1").get_json()["reports"]
    assert [e["window_name"] for e in index] == ["2026-11-20"]
    page = client.get("/?format=html")
    assert page.status_code == 200 and page.mimetype == "text/html" and "housing" in page.get_data(as_text=True)
    assert client.get("/?window=2026-01-01").status_code == 404


def test_two_sources_of_one_day_are_two_reports_and_the_served_index_opens_each(client, tmp_path, fresh):
    """A check of another source for the same day keeps the first one's report; the index the
    function serves links each report to its own page (never to the latest report's JSON)."""
    shifted = dd.write_log(tmp_path / "shifted.jsonl", _shift(fresh, "housing"))
    plain = dd.write_log(tmp_path / "plain.jsonl", fresh)
    first = client.post("/", json={"source": str(shifted), "start": "2026-11-20"}).get_json()
    second = client.post("/", json={"source": str(plain), "start": "2026-11-20"}).get_json()
    assert first["drifted_features"] == ["housing"] and second["drifted_features"] == []
    index = client.get("/?index=1").get_json()["reports"]
    assert sorted(e["source"] for e in index) == sorted([str(shifted), str(plain)])
    page = client.get("/?index=1&format=html").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)">2026-11-20</a>', page)
    assert len(links) == 2
    for link in links:
        opened = client.get("/" + html_lib.unescape(link))
        assert opened.status_code == 200 and opened.mimetype == "text/html"
        source = next(e["source"] for e in index if e["report_key"] in html_lib.unescape(link).replace("%2F", "/"))
        assert source in opened.get_data(as_text=True)
    assert client.get("/?report=../../etc&format=html").status_code == 404  # only indexed reports are read


def test_get_before_any_report_says_no_data_yet(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.get_json()["status"] == "no_data"
    assert "no drift reports yet" in resp.get_json()["message"]
    assert client.get("/?window=2026-11-20").status_code == 404  # a window asked for by name


def test_before_the_first_prediction_the_daily_check_answers_no_data_and_writes_nothing(
        drift_store, tmp_path, function_app, bq_for_batch, bq_dataset):
    log_table = f"bq://{bq_for_batch.project}.{bq_dataset}.riskscore_prod_score"  # the sink has not created it yet
    client = function_app(drift_store, "drift_check", REPORTS_DIR=tmp_path / "reports", DRIFT_SOURCE=log_table,
                          GOOGLE_CLOUD_PROJECT=bq_for_batch.project)
    resp = client.post("/", json={})
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["status"], report["rows"], report["source"]) == ("no_data", 0, log_table)
    assert "table not found" in report["message"]
    assert not (tmp_path / "reports").exists()
    # a source the caller names is not the configured log: a missing one is still a 404
    assert client.post("/", json={"source": log_table + "x"}).status_code == 404


@pytest.mark.parametrize("body, status, needle", [
    ({"source": "/no/such/predictions.jsonl"}, 400, "outside the folder"),
    ({"source": "NOSUCH"}, 404, "does not exist or cannot be read"),
    ({"source": "bogus://x"}, 422, "bogus://x"),
    ({"source": "GARBAGE", "start": "2026-11-20"}, 422, "GARBAGE"),
    ({"source": "x.jsonl", "start": "20-11-2026"}, 400, "start"),
    ({"source": "x.jsonl", "start": "2026-11-21", "end": "2026-11-20"}, 400, "end"),
    ({"source": "x.jsonl", "window": "today"}, 400, "window"),
    ({}, 400, "source"),
])
def test_bad_requests_are_4xx_naming_the_problem(client, tmp_path, body, status, needle):
    if body.get("source") == "GARBAGE":
        garbage = tmp_path / "garbage.jsonl"
        garbage.write_text("this is not json\n{also not}\n")
        body = dict(body, source=str(garbage))
        needle = str(garbage)
    if body.get("source") == "NOSUCH":
        body = dict(body, source=str(tmp_path / "no-such.jsonl"))
    resp = client.post("/", json=body)
    assert resp.status_code == status, resp.get_json()
    assert needle in resp.get_json()["message"]


def test_method_not_allowed(client):
    resp = client.put("/")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"


def test_command_line(drift_store, tmp_path, fresh):
    path = dd.write_log(tmp_path / "log.jsonl", _shift(fresh, "age"))
    proc = subprocess.run([sys.executable, "-m", "riskscore.drift", "--source", str(path), "--start", "2026-11-20",
                           "--store", str(drift_store), "--reports-dir", str(tmp_path / "cli-reports")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr[-2000:]  # alert
    report = json.loads(proc.stdout[proc.stdout.index("{\n"):])
    assert report["drifted_features"] == ["age"]
    assert (tmp_path / "cli-reports" / "2026-11-20" / source_id(str(path)) / "report.html").is_file()
    missing = subprocess.run([sys.executable, "-m", "riskscore.drift", "--source", str(tmp_path / "nope.jsonl"),
                              "--store", str(drift_store), "--reports-dir", str(tmp_path / "cli-reports")],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr


# --------------------------------------------------------------------------- BigQuery


def test_bigquery_sink_source_and_drift_reports_table(bq_for_batch, bq_dataset, drift_store, tmp_path, fresh,
                                                      monkeypatch):
    """The prediction log's sink table (Cloud Logging's export: timestamp + jsonPayload) as the
    source; the run's row lands in drift_reports. Both through the official client."""
    import io

    import pyarrow as pa
    from google.cloud import bigquery

    import riskscore.io.bq

    # The emulator cannot Storage-Read a query's (anonymous) result table: results page over REST.
    monkeypatch.setattr(riskscore.io.bq, "bigquery_read_client", lambda: None)

    bq_emulator = bq_for_batch  # riskscore.io.bq's client factories point at the emulator
    client = bq_emulator.client()
    df = _shift(fresh.head(1500), "age")
    recs = list(dd.records(df))
    feature_types = {f.name: f.type for f in dd.SPEC.features}
    payload = pa.struct([
        ("log_type", pa.string()), ("model_version", pa.string()), ("applicant_id_hash", pa.string()),
        ("features", pa.struct([(n, pa.float64() if t == "numeric" else pa.string()) for n, t in feature_types.items()])),
        ("outputs", pa.struct([("pd", pa.float64()), ("score", pa.float64()), ("rating", pa.string())]))])
    from datetime import datetime
    table = pa.table({
        "timestamp": pa.array([datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in recs],
                              pa.timestamp("us", tz="UTC")),
        "severity": ["INFO"] * len(recs),
        "jsonPayload": pa.array([{"log_type": r["log_type"], "model_version": r["model_version"],
                                  "applicant_id_hash": r["applicant_id_hash"], "features": r["features"],
                                  "outputs": {k: r["outputs"][k] for k in ("pd", "score", "rating")}}
                                 for r in recs], payload)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    sink = f"{bq_emulator.project}.{bq_dataset}.predictions"
    F = bigquery.SchemaField
    client.create_table(bigquery.Table(sink, schema=[
        F("timestamp", "TIMESTAMP"), F("severity", "STRING"),
        F("jsonPayload", "RECORD", fields=[
            F("log_type", "STRING"), F("model_version", "STRING"), F("applicant_id_hash", "STRING"),
            F("features", "RECORD", fields=[F(n, "FLOAT" if t == "numeric" else "STRING")
                                            for n, t in feature_types.items()]),
            F("outputs", "RECORD", fields=[F("pd", "FLOAT"), F("score", "FLOAT"), F("rating", "STRING")])])]))
    client.load_table_from_file(buf, sink, job_config=bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET)).result()
    settings = DriftSettings(model_store=str(drift_store), reports_dir=str(tmp_path / "reports"), local_root=str(tmp_path),
                             drift_reports_table=f"bq://{bq_emulator.project}.{bq_dataset}.drift_reports")
    report = run(settings, {"source": f"bq://{sink}", "start": "2026-11-20"})
    assert report["rows"] == 1500 and report["drifted_features"] == ["age"]
    ages = by_name(report)["age"]
    assert ages["mean"] == pytest.approx(df["age"].mean())
    run(settings, {"source": f"bq://{sink}", "start": "2026-11-20"})  # a rerun replaces its row
    rows = list(client.query(f"SELECT status, `rows`, drifted_features, window_start FROM "
                             f"`{bq_emulator.project}.{bq_dataset}.drift_reports`").result())
    assert [(r["status"], r["rows"], r["drifted_features"], r["window_start"]) for r in rows] == [
        ("alert", 1500, "age", date(2026, 11, 20))]
    missing = f"bq://{bq_emulator.project}.{bq_dataset}.nope"
    from riskscore.errors import InputNotFound
    with pytest.raises(InputNotFound, match="nope"):
        run(settings, {"source": missing, "start": "2026-11-20"})


# --------------------------------------------------------------------------- the page in a browser


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_monitoring_page_in_headless_chromium(settings, tmp_path, fresh):
    check_log(settings, tmp_path, fresh.head(2000), name="a.jsonl")
    b = dd.write_log(tmp_path / "b.jsonl", _shift(fresh, "monthly_income"), day=date(2026, 11, 21))
    run(settings, {"source": str(b), "start": "2026-11-21"})
    page = Path(settings.reports_dir) / "2026-11-21" / source_id(str(b)) / "report.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html
    # The only <link> is the empty data: favicon (it keeps browsers from requesting /favicon.ico).
    assert not re.findall(r"<link(?![^>]*href=\"data:)", html)
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]
    assert not console, console
    banner = dom[dom.index('id="overall-status"'):][:400]
    assert "alert" in banner and "monthly_income" in banner  # status first, naming the drifted feature
    assert "Distributions of drifted features" in dom and "monthly_income: baseline vs window" in dom
    assert dom.count('<svg class="chart"') >= 6  # PSI, overlay, pd, score, rating mix, by day, trend
    assert "Overall drift over recent reports" in dom  # the trend of the two reports
    assert "Recent predictions" in dom and "hA000" in dom


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("var, value, field, expected", [
    ("MODEL_STORE", "gs://b/models", "model_store", "gs://b/models"),
    ("DRIFT_SOURCE", "bq://p.d.predictions", "drift_source", "bq://p.d.predictions"),
    ("REPORTS_DIR", "gs://b/reports", "reports_dir", "gs://b/reports"),
    ("DRIFT_REPORTS_TABLE", "bq://p.d.drift_reports", "drift_reports_table", "bq://p.d.drift_reports"),
    ("GOOGLE_CLOUD_PROJECT", "p", "google_cloud_project", "p"),
    ("STORE_READ_TIMEOUT_S", "3", "store_read_timeout_s", 3.0),
    ("MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
])
def test_drift_settings_from_the_environment(var, value, field, expected):
    assert getattr(DriftSettings.from_env({var: value}), field) == expected


def test_drift_settings_are_exactly_the_contracts_variables():
    assert {n.upper() for n in DriftSettings.model_fields} == {
        "MODEL_STORE", "MODEL_NAME", "STORE_READ_TIMEOUT_S", "STORE_READ_DEADLINE_S", "GOOGLE_CLOUD_PROJECT",
        "MAX_BODY_BYTES", "DRIFT_SOURCE", "REPORTS_DIR", "DRIFT_REPORTS_TABLE", "MODEL_CHALLENGER_VERSION",
        "SERVICE_TIMEOUT_S", "SERVICE_DEADLINE_S", "ALLOWED_BUCKETS", "LOCAL_ROOT", "APPLICANT_ID_SALT"}
