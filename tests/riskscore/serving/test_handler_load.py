"""Load on a real local `functions-framework` server (gunicorn threads, one shared model):
20,000 requests at concurrency 16, no errors, and exactly one prediction record each."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from support.server import function_server

REPO = Path(__file__).resolve().parents[3]
REQUESTS = 20_000
CONCURRENCY = 16
FEATURES = {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
            "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
            "dependents": 2}


@pytest.fixture
def server(trained_store, tmp_path):
    log_path = tmp_path / "predictions.jsonl"
    stdout_path = tmp_path / "stdout.log"
    env = dict(os.environ, MODEL_STORE=str(trained_store.path), PREDICTION_LOG=str(log_path),
               THREADS=str(CONCURRENCY), APPLICANT_ID_SALT="test-salt")
    with function_server("score", env, stdout_path) as srv:
        yield srv.url, log_path, stdout_path, srv.proc


@pytest.mark.slow
def test_twenty_thousand_concurrent_requests_all_scored_and_logged(server):
    url, log_path, stdout_path, _ = server
    per_worker = REQUESTS // CONCURRENCY

    def worker(w: int) -> list[tuple[str, int, float | None]]:
        out = []
        with requests.Session() as session:
            for i in range(per_worker):
                rid = f"load-{w}-{i}"
                r = session.post(url, json={"applicant_id": f"A{w}-{i}", "features": FEATURES},
                                 headers={"X-Request-Id": rid}, timeout=30)
                out.append((rid, r.status_code, r.json().get("pd") if r.status_code == 200 else None))
        return out

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = [row for rows in pool.map(worker, range(CONCURRENCY)) for row in rows]

    assert len(results) == REQUESTS
    assert {status for _, status, _ in results} == {200}
    assert len({pd for _, _, pd in results}) == 1  # the shared sessions give every thread the same answer
    sent = {rid for rid, _, _ in results}

    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(records) == REQUESTS
    assert {r["request_id"] for r in records} == sent
    assert all(r["model_version"] and r["outputs"]["pd"] == results[0][2] for r in records)
    # the applicant id is never logged in clear
    assert not any("A0-0" in line for line in log_path.read_text().splitlines()[:100])
    stdout_records = [line for line in stdout_path.read_text().splitlines() if '"log_type":"prediction"' in line]
    assert len(stdout_records) == REQUESTS


def test_server_shuts_down_cleanly_after_serving(server):
    """onnxruntime is loaded in the forked worker, never in gunicorn's master: a fork after it
    is imported makes the worker abort (std::system_error) or hang at exit."""
    url, _, stdout_path, proc = server
    assert requests.post(url, json={"features": FEATURES}, timeout=10).status_code == 200
    proc.terminate()
    assert proc.wait(timeout=15) == 0
    output = stdout_path.read_text()
    assert "terminate called" not in output and "Traceback" not in output
