"""Structured log lines on stdout in Cloud Logging's JSON format, one `write` per line under
one process-wide lock, so concurrent threads never interleave (or lose) a record."""

from __future__ import annotations

import json
import sys
import threading

LOCK = threading.Lock()


def dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), default=str) + "\n"


def emit(severity: str, message: str, stream=None, **fields) -> None:
    line = dumps({"severity": severity, "message": message, **fields})
    stream = stream or sys.stdout
    with LOCK:
        stream.write(line)
        stream.flush()
