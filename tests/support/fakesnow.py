"""A local Snowflake stand-in for tests: fakesnow's HTTP server, reached by the real connector.

fakesnow needs duckdb ~=2.0 and a newer sqlglot than bqemulator accepts, so it runs in its own
virtualenv (`make fakesnow-setup` makes .venv-fakesnow from requirements-fakesnow.txt; or set
FAKESNOW_VENV). The tests talk to it over loopback with snowflake-connector-python from the
project's .venv: the same login, query and Arrow result protocol the real service speaks.

`fakesnow_server(log_path)` (a context manager) yields a SimpleNamespace with `.env` (the
SNOWFLAKE_* variables that reach it), `.settings()` (a riskscore.io.snowflake.SnowflakeSettings)
and `.execute(*sql)` (run statements, e.g. to create tables); `table_statements(frame, table,
columns)` are the statements that create a table holding a frame's columns.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from support.emulators import stop_process
from support.server import REPO_ROOT, free_port

START_TIMEOUT_S = 60.0


def fakesnow_executable() -> Path | None:
    for venv in (os.environ.get("FAKESNOW_VENV"), REPO_ROOT / ".venv-fakesnow"):
        if venv and (Path(venv) / "bin" / "fakesnow").exists():
            return Path(venv) / "bin" / "fakesnow"
    return None


# The applicant columns the test model reads (what a lender's Snowflake table would hold).
APPLICANT_COLUMNS = ("applicant_id", "revolving_utilization", "age", "late_30_59", "late_60_89", "late_90_plus",
                     "debt_ratio", "monthly_income", "open_credit_lines", "real_estate_loans", "dependents",
                     "housing", "employment_type", "loan_purpose", "loan_amount")


def table_statements(frame, table: str, columns=APPLICANT_COLUMNS) -> list[str]:
    """CREATE DATABASE/SCHEMA/TABLE and one INSERT of `frame`'s `columns` (text as VARCHAR, the
    rest DOUBLE, NaN as NULL) into `table` (DATABASE.SCHEMA.TABLE)."""
    import math

    database, schema, _ = table.split(".")

    def literal(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "NULL"
        return f"'{v}'" if isinstance(v, str) else repr(float(v))

    text = {c for c in columns if frame[c].dtype == object or str(frame[c].dtype) == "str"}
    values = ", ".join("(" + ", ".join(literal(r[c]) for c in columns) + ")" for r in frame.to_dict("records"))
    return [f"CREATE DATABASE IF NOT EXISTS {database}", f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}",
            f"CREATE OR REPLACE TABLE {table} (" + ", ".join(f"{c} {'VARCHAR' if c in text else 'DOUBLE'}" for c in columns) + ")",
            f"INSERT INTO {table} VALUES {values}"]


@contextlib.contextmanager
def fakesnow_server(log_path: Path):
    exe = fakesnow_executable()
    if exe is None:
        raise RuntimeError("fakesnow is not installed: run `make fakesnow-setup` (.venv-fakesnow)")
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen([str(exe), "-s", "--host", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fakesnow did not start; log:\n{Path(log_path).read_text()[-2000:]}")
                time.sleep(0.1)
        env = {"SNOWFLAKE_ACCOUNT": "fakesnow", "SNOWFLAKE_USER": "fake", "SNOWFLAKE_PASSWORD": "snow",
               "SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": str(port), "SNOWFLAKE_PROTOCOL": "http",
               "SNOWFLAKE_TIMEOUT_S": "20"}

        def settings():
            from riskscore.io.snowflake import SnowflakeSettings

            return SnowflakeSettings.from_env(env)

        def execute(*statements: str) -> None:
            import snowflake.connector

            from riskscore.io.snowflake import connect_kwargs

            with snowflake.connector.connect(**connect_kwargs(settings())) as conn:
                cursor = conn.cursor()
                for sql in statements:
                    cursor.execute(sql)

        yield SimpleNamespace(port=port, env=env, settings=settings, execute=execute)
    finally:
        stop_process(process)
