"""Snowflake's connector and sqlglot stay off every function's cold start: they are imported
only when a snowflake:// input or a SQL check is used."""

from __future__ import annotations

import os
import subprocess
import sys
import pytest

from support.server import REPO_ROOT


@pytest.mark.parametrize("target", ["score", "batch_score", "batch_score_gcs", "drift_check"])
def test_function_modules_do_not_import_snowflake_or_sqlglot(target):
    code = ("import sys; import main; import riskscore.batch.run, riskscore.batch.sources, riskscore.batch.job; "
            "import riskscore.io.snowflake, riskscore.io.sqlcheck, riskscore.contract.quality; "
            "bad = [m for m in ('snowflake.connector', 'sqlglot', 'duckdb') if m in sys.modules]; "
            "assert not bad, bad")
    env = dict(os.environ, FUNCTION_TARGET=target, MODEL_STORE="/nonexistent")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT / "functions", env=env)
