"""Fixtures shared by the batch tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def app(function_app, trained_store):
    """`batch_score` through functions-framework over the trained store."""
    return function_app(trained_store.path, "batch_score")
