"""Hostile requests and files to `drift_check`: 4xx naming the argument, 503 naming the version
for anything tampered, ids never hashed without the salt, no row value in answers or logs."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from support import drift_data as dd
from riskscore.contract import bundle
from riskscore.io.store import LocalStore


@pytest.fixture(scope="module")
def fresh():
    return dd.scored_rows(800, seed=3)


def problem_of(resp) -> tuple[int, list]:
    assert resp.status_code != 500, resp.get_data(as_text=True)
    return resp.status_code, resp.get_json().get("details", [])


@pytest.mark.parametrize("body, field", [
    ({"start": "9999-12-31"}, "start"),
    ({"start": "2026-11-20", "end": "9999-12-31"}, "end"),
    ({"start": ["2026-11-20"]}, "start"),
    ({"source": "x/" + "y" * 256 + ".jsonl"}, "source"),
    ({"source": "/etc/passwd"}, "source"),
    ({"source": "../../../../etc/passwd"}, "source"),
    ({"source": "gs://someone-elses-bucket/out/"}, "source"),
    ({"source": "bq://p.d.t` WHERE FALSE; DROP TABLE `p.d.t"}, "source"),
])
def test_bad_windows_and_sources_are_4xx_naming_the_argument(drift_store, tmp_path, function_app, fresh, body, field):
    client = function_app(drift_store, "drift_check", REPORTS_DIR=tmp_path / "reports", ALLOWED_BUCKETS="mine")
    log = dd.write_log(tmp_path / "log.jsonl", fresh)
    status, details = problem_of(client.post("/", json={"source": str(log), **body}))
    assert 400 <= status < 500 and field in json.dumps(details), (status, details)


@pytest.mark.parametrize("window", ["../x", "/etc", "%00", "..%2F..%2Fetc", "2026-11-20/../../x", "a" * 300])
def test_a_window_that_is_not_a_window_name_is_a_400(client, window):
    status, details = problem_of(client.get(f"/?window={window}"))
    assert status == 400 and details == [{"field": "window", "problem": "not a window name"}]


@pytest.mark.parametrize("version", ["..", "../..", "a/b", "x" * 300, ""])
def test_a_prediction_log_line_naming_no_valid_version_is_reported_not_a_500(client, tmp_path, fresh, version):
    log = dd.write_log(tmp_path / "log.jsonl", fresh.head(50), version=version)
    dd.write_log(log, fresh)
    resp = client.post("/", json={"source": str(log), "start": dd.DAY.isoformat()})
    assert resp.status_code == 200, resp.get_json()
    if version:
        weird = [v for v in resp.get_json()["versions"] if v["model_version"] == version]
        assert weird and "error" in weird[0]


def test_a_batch_output_naming_a_column_twice_is_a_422(client, tmp_path, fresh):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = dd.write_batch_output(tmp_path / "out", fresh)
    table = pq.read_table(folder / "scores.parquet")
    pq.write_table(table.append_column("pd", table.column("pd")), folder / "scores.parquet")
    status, details = problem_of(client.post("/", json={"source": str(tmp_path / "out"), "start": dd.DAY.isoformat()}))
    assert status == 422 and details == [{"field": "source", "problem": "duplicate column names"}]
    assert pa is not None


@pytest.fixture
def own_store(drift_store, tmp_path):
    path = tmp_path / "store"
    shutil.copytree(drift_store, path)
    return LocalStore(path)


def _tamper_baseline(store):
    key = f"{dd.MODEL}/{dd.VERSION}/drift_baseline.json"
    baseline = json.loads(store.read(key))
    name = next(iter(baseline["features"]))
    baseline["features"][name]["proportions"] = [1.0] + [0.0] * (len(baseline["features"][name]["proportions"]) - 1)
    store.write(key, bundle.dumps(baseline))


@pytest.mark.parametrize("damage", [
    _tamper_baseline,
    lambda s: s.write(f"{dd.MODEL}/{dd.VERSION}/drift_baseline.json", b"not json"),
    lambda s: s.write(f"{dd.MODEL}/current.json", b"{not json"),
    lambda s: s.write(f"{dd.MODEL}/{dd.VERSION}/manifest.json", b"\xff\xfe"),
])
def test_a_tampered_or_unparsable_baseline_manifest_or_pointer_is_a_503(own_store, tmp_path, function_app, fresh,
                                                                        damage, capsys):
    damage(own_store)
    client = function_app(own_store.root, "drift_check", REPORTS_DIR=tmp_path / "reports")
    log = dd.write_log(tmp_path / "log.jsonl", fresh)
    resp = client.post("/", json={"source": str(log), "start": dd.DAY.isoformat()})
    assert resp.status_code == 503 and resp.headers["Retry-After"], resp.get_json()
    body = resp.get_json()
    assert body["error"] == "artifact_integrity_failed"
    assert str(own_store.root) not in json.dumps(body)
    assert not (tmp_path / "reports" / "index.json").exists()


def test_ids_of_batch_outputs_are_never_hashed_without_the_salt(drift_store, tmp_path, function_app, fresh):
    dest = tmp_path / "out"
    dd.write_batch_output(dest, fresh)
    unsalted = {hashlib.sha256(str(a).encode()).hexdigest() for a in fresh["applicant_id"]}
    for env, expect_hashes in (({}, False), ({"APPLICANT_ID_SALT": "pepper"}, True)):
        reports = tmp_path / f"reports{len(env)}"
        client = function_app(drift_store, "drift_check", REPORTS_DIR=reports, **env)
        resp = client.post("/", json={"source": str(dest), "start": dd.DAY.isoformat()})
        assert resp.status_code == 200, resp.get_json()
        written = "".join(p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()
                          and p.suffix in (".json", ".html"))
        everything = resp.get_data(as_text=True) + written
        assert not any(h in everything or h[:16] in everything for h in unsalted)
        salted = {hashlib.sha256(b"pepper" + str(a).encode()).hexdigest()[:16] for a in fresh["applicant_id"]}
        assert any(h in everything for h in salted) == expect_hashes or not expect_hashes
