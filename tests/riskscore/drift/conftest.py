"""Fixtures shared by the drift tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(drift_store, tmp_path, function_app):
    """`drift_check` through functions-framework over drift_store, reports under tmp_path."""
    return function_app(drift_store, "drift_check", REPORTS_DIR=tmp_path / "reports")
