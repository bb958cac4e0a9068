"""The `score` function as tests call it: functions-framework's app for the target (a
Starlette app, since `score` is an ASGI function) behind Starlette's test client."""

from __future__ import annotations

import sys
from pathlib import Path

import functions_framework
from starlette.testclient import TestClient

SOURCE = str(Path(__file__).resolve().parents[1] / "functions" / "main.py")


def score_client() -> TestClient:
    """A client of a freshly executed functions/main.py (it reads the environment as set now)."""
    sys.modules.pop("main", None)
    return TestClient(functions_framework.create_app(target="score", source=SOURCE))


def mimetype(response) -> str:
    """The media type of a reply, without parameters (`text/html; charset=utf-8` -> `text/html`)."""
    return response.headers.get("content-type", "").split(";")[0].strip().lower()
