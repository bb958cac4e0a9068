"""Importing riskscore before pyarrow gives Arrow the jemalloc pool (batch memory,
docs/benchmarks.md); a deployment's explicit ARROW_DEFAULT_MEMORY_POOL wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
PROBE = "import riskscore, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


@pytest.mark.parametrize("setting, backend", [(None, "jemalloc"), ("system", "system"), ("mimalloc", "mimalloc")])
def test_arrow_memory_pool(setting, backend):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env["PYTHONPATH"] = str(FUNCTIONS)
    if setting:
        env["ARROW_DEFAULT_MEMORY_POOL"] = setting
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == backend
