"""Fixtures shared by the riskscore tests."""

from __future__ import annotations

import pytest

from riskscore.io.store import LocalStore
from support import drift_data as dd


@pytest.fixture(scope="module")
def drift_store(tmp_path_factory):
    """A local model store with drift_data's version published (its drift baseline frozen from the
    generator). Per module: a test may publish more versions into it."""
    path = tmp_path_factory.mktemp("drift_store") / "models"
    dd.make_version(LocalStore(path))
    return path
