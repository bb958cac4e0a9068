"""The prediction log: Cloud Logging JSON lines, a local JSONL copy, salted applicant ids."""

from __future__ import annotations

import hashlib
import io
import json
import threading

from riskscore.serving.prediction_log import PredictionLog
from riskscore.settings import ScoreSettings


def _log(tmp_path, salt="pepper", stream=None):
    settings = ScoreSettings(prediction_log=str(tmp_path / "p.jsonl"), applicant_id_salt=salt)
    return PredictionLog(settings, stream=stream or io.StringIO())


def _write(log, applicant_id="A-42", request_id="r1"):
    log.write(request_id=request_id, model_version="v1", applicant_id=applicant_id, features={"age": 42.0},
              outputs={"pd": 0.1}, latency_ms=1.23456)


def test_record_is_cloud_logging_json_and_copied_to_the_file(tmp_path):
    stream = io.StringIO()
    log = _log(tmp_path, stream=stream)
    _write(log)
    line = stream.getvalue()
    assert line == (tmp_path / "p.jsonl").read_text()
    record = json.loads(line)
    assert record["severity"] == "INFO" and record["message"] == "prediction"
    assert record | {"features": {"age": 42.0}, "outputs": {"pd": 0.1}, "latency_ms": 1.235} == record
    assert "A-42" not in line


def test_applicant_id_is_a_salted_hash(tmp_path):
    a, b = _log(tmp_path, "salt-a"), _log(tmp_path, "salt-b")
    assert a.hash_id("A-42") == hashlib.sha256(b"salt-aA-42").hexdigest()
    assert a.hash_id("A-42") == a.hash_id("A-42") != b.hash_id("A-42")
    assert a.hash_id(None) is None
    unsalted = PredictionLog(ScoreSettings(), stream=io.StringIO())  # random per-instance salt
    assert unsalted.hash_id("A-42") != hashlib.sha256(b"A-42").hexdigest()


def test_concurrent_writers_never_interleave_lines(tmp_path):
    stream = io.StringIO()
    log = _log(tmp_path, stream=stream)
    threads = [threading.Thread(target=lambda t=t: [_write(log, request_id=f"{t}-{i}") for i in range(200)])
               for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert len(lines) == 1600 and len({json.loads(line)["request_id"] for line in lines}) == 1600
    assert stream.getvalue().splitlines() == lines


def test_error_logs_and_predictions_share_stdout_without_interleaving(tmp_path, capsys):
    import sys

    from riskscore.io.logline import emit as error_log

    predictions = PredictionLog(ScoreSettings(), stream=sys.stdout)
    workers = [threading.Thread(target=lambda: [_write(predictions) for _ in range(300)]),
               threading.Thread(target=lambda: [error_log("ERROR", "boom", detail="x" * 500) for _ in range(300)])]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 600
    assert sorted({json.loads(line)["message"] for line in lines}) == ["boom", "prediction"]
