"""Snowflake reads through the real connector against a local fakesnow server."""

from __future__ import annotations

import time

import pytest

from support.fakesnow import fakesnow_executable, fakesnow_server
from support.server import free_port
from riskscore.io import snowflake
from riskscore.errors import InputNotFound, InvalidInput, InvalidRequest

pytestmark = pytest.mark.skipif(fakesnow_executable() is None,
                                reason="fakesnow runs in .venv-fakesnow: `make fakesnow-setup`")


@pytest.fixture(scope="module")
def fakesnow(tmp_path_factory):
    with fakesnow_server(tmp_path_factory.mktemp("fakesnow") / "fakesnow.log") as server:
        server.execute("CREATE DATABASE IF NOT EXISTS LENDER", "CREATE SCHEMA IF NOT EXISTS LENDER.CORE",
                       "CREATE OR REPLACE TABLE LENDER.CORE.CUSTOMERS (CUSTOMER_ID VARCHAR, INCOME DOUBLE, "
                       "AGE INTEGER, OPENED DATE)",
                       "INSERT INTO LENDER.CORE.CUSTOMERS VALUES ('c1', 52000.5, 41, '2024-01-02'), "
                       "('c2', NULL, 29, '2024-03-04'), ('c3', 18000, NULL, NULL)")
        yield server


def test_table_is_read_as_arrow_with_lower_case_columns(fakesnow):
    table = snowflake.read_table("snowflake://LENDER.CORE.CUSTOMERS", fakesnow.settings())
    assert table.column_names == ["customer_id", "income", "age", "opened"]
    rows = sorted(table.to_pylist(), key=lambda r: r["customer_id"])
    assert [r["customer_id"] for r in rows] == ["c1", "c2", "c3"]
    assert rows[0]["income"] == 52000.5 and rows[1]["income"] is None
    assert str(rows[0]["opened"]) == "2024-01-02"


def test_query_is_read(fakesnow):
    table = snowflake.read_table("snowflake://SELECT customer_id, income / 1000 AS income_k "
                                 "FROM LENDER.CORE.CUSTOMERS WHERE income IS NOT NULL", fakesnow.settings())
    assert sorted(table.column("income_k").to_pylist()) == [18.0, 52.0005]


@pytest.mark.parametrize("uri, error, match", [
    ("snowflake://LENDER.CORE.NOPE", InputNotFound, r"snowflake://LENDER\.CORE\.NOPE.*(does not exist|NOPE)"),
    ("snowflake://SELECT no_such_column FROM LENDER.CORE.CUSTOMERS", InvalidInput, r"rejected the query"),
    ("snowflake://SELECT 1; DROP TABLE LENDER.CORE.CUSTOMERS", InvalidRequest, r"single SELECT.*2 statements"),
    ("snowflake://LENDER.CUSTOMERS", InvalidRequest, r"DATABASE\.SCHEMA\.TABLE"),
])
def test_errors_name_the_source(fakesnow, uri, error, match):
    with pytest.raises(error, match=match):
        snowflake.read_table(uri, fakesnow.settings())


def test_a_value_in_snowflake_s_error_never_reaches_ours(fakesnow):
    # A failed cast: Snowflake's message quotes the row's value ('c1'); ours gives its codes.
    with pytest.raises(InvalidInput, match=r"rejected the query \(Snowflake error \d+, SQL state 22\d+\)") as info:
        snowflake.read_table("snowflake://SELECT CAST(customer_id AS INTEGER) AS x FROM LENDER.CORE.CUSTOMERS",
                             fakesnow.settings())
    assert "c1" not in info.value.message and "c1" not in str(info.value.details)


def test_unreachable_snowflake_is_503_naming_the_source_within_the_deadline(fakesnow):
    env = dict(fakesnow.env, SNOWFLAKE_PORT=str(free_port()), SNOWFLAKE_TIMEOUT_S="3")
    started = time.monotonic()
    with pytest.raises(snowflake.SourceUnavailable, match=r"snowflake://LENDER\.CORE\.CUSTOMERS.*could not be reached") as info:
        snowflake.read_table("snowflake://LENDER.CORE.CUSTOMERS", snowflake.SnowflakeSettings.from_env(env))
    assert info.value.status == 503
    assert time.monotonic() - started < 20


def test_password_stays_out_of_the_settings_repr(fakesnow):
    settings = fakesnow.settings()
    assert settings.snowflake_password == "snow"
    assert "snowflake_password=" not in repr(settings) and "'snow'" not in repr(settings)


def test_a_snowflake_table_joins_local_files_in_duckdb(fakesnow, tmp_path):
    from training.data.multi_table import read_tables

    (tmp_path / "loans.csv").write_text("loan_id,customer_id,amount\nL1,c1,1000\nL2,c2,500\nL3,c3,900\n")
    tables = {"customers": "snowflake://LENDER.CORE.CUSTOMERS", "loans": str(tmp_path / "loans.csv")}
    df, run = read_tables(tables, "SELECT l.loan_id, l.amount / NULLIF(c.income, 0) AS loan_to_income "
                                  "FROM loans AS l JOIN customers AS c ON c.customer_id = l.customer_id",
                          snowflake_settings=fakesnow.settings())
    assert run["engine"] == "duckdb"
    got = dict(zip(df["loan_id"], df["loan_to_income"]))
    assert got["L1"] == pytest.approx(1000 / 52000.5) and got["L3"] == pytest.approx(900 / 18000)
    assert got["L2"] != got["L2"]  # NULL income -> NaN ratio


def test_password_from_secret_manager_with_a_deadline(monkeypatch):
    """SNOWFLAKE_PASSWORD_SECRET is read through Secret Manager's REST API (a local stand-in
    here: no emulator exists), with the environment's credentials."""
    import base64
    import datetime
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import google.auth
    from google.oauth2.credentials import Credentials

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            found = self.path == "/v1/projects/p/secrets/sf/versions/latest:access"
            body = json.dumps({"payload": {"data": base64.b64encode(b"s3cret").decode()}} if found else {})
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    expiry = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (Credentials(token="tok", expiry=expiry), "p"))
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert snowflake.secret_value("projects/p/secrets/sf/versions/latest", endpoint=endpoint) == "s3cret"
        assert seen[-1] == ("/v1/projects/p/secrets/sf/versions/latest:access", "Bearer tok")
        with pytest.raises(snowflake.SourceUnavailable, match=r"Secret Manager: reading projects/p/secrets/nope.* 404"):
            snowflake.secret_value("projects/p/secrets/nope/versions/latest", endpoint=endpoint)
    finally:
        server.shutdown()
    with pytest.raises(snowflake.SourceUnavailable, match=r"Secret Manager: cannot read"):
        snowflake.secret_value("projects/p/secrets/sf/versions/latest", endpoint=f"http://127.0.0.1:{free_port()}",
                               timeout_s=2)


def test_train_data_reads_a_snowflake_table_with_settings_from_the_environment(fakesnow, monkeypatch):
    from training.data.tables import read_table

    for key, value in fakesnow.env.items():
        monkeypatch.setenv(key, value)
    df = read_table("snowflake://LENDER.CORE.CUSTOMERS")
    assert sorted(df["customer_id"]) == ["c1", "c2", "c3"] and list(df.columns)[:2] == ["customer_id", "income"]
