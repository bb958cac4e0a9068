"""Structured log lines on stdout in Cloud Logging's JSON format: the one writer of every
line the functions log (errors and predictions alike).

Each line is written with one `write` under one process-wide lock, so concurrent threads
never interleave (or lose) a record. Fields set with `context(...)` for the current request
(the Cloud Trace correlation fields, see riskscore.serving.trace) go into every line emitted while it
is active: a context variable, so each gunicorn thread sees only its own request's fields.
"""

from __future__ import annotations

import json
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

__all__ = ["LOCK", "context", "dumps", "emit"]

LOCK = threading.Lock()
_CONTEXT: ContextVar[dict] = ContextVar("riskscore_log_context", default={})


def dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), default=str) + "\n"


@contextmanager
def context(fields: dict) -> Iterator[None]:
    """Every line emitted (in this thread or task) until the block ends carries `fields`."""
    token = _CONTEXT.set(fields)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def emit(severity: str, message: str, stream=None, copy_to: str | None = None, **fields) -> None:
    """Write one line to `stream` (default: stdout) and, if given, append it to the file
    `copy_to` too (local runs), both under the lock."""
    line = dumps({"severity": severity, "message": message, **_CONTEXT.get(), **fields})
    stream = stream or sys.stdout
    with LOCK:
        stream.write(line)
        stream.flush()
        if copy_to:
            with open(copy_to, "a", encoding="utf-8") as fh:
                fh.write(line)
