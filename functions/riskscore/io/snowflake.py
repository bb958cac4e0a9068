"""Snowflake as a source of tables: `snowflake://DATABASE.SCHEMA.TABLE` or `snowflake://SELECT ...`.

Rows come as Arrow record batches (`cursor.fetch_arrow_batches`), read with
snowflake-connector-python, which is imported only when a Snowflake source is read (about 2 s
and a large dependency tree: never on the score path, nor at any function's cold start).

Connection settings come from the environment (`SnowflakeSettings`, names as Terraform sets
them): SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_WAREHOUSE, SNOWFLAKE_ROLE, and the password
either as SNOWFLAKE_PASSWORD (local use; in Cloud Functions Terraform mounts the Secret Manager
secret there) or as SNOWFLAKE_PASSWORD_SECRET, a Secret Manager version name
(`projects/P/secrets/S/versions/latest`) read through its REST API with the environment's Google
credentials (training jobs). SNOWFLAKE_HOST / SNOWFLAKE_PORT / SNOWFLAKE_PROTOCOL reach a private
link or a local stand-in (the tests' fakesnow server).

Snowflake folds unquoted identifiers to upper case; columns whose names are entirely upper case
come back lower-cased, so a spec written for BigQuery or DuckDB names the same columns.

Errors name the source: a Snowflake that cannot be reached within `timeout_s` is
`SourceUnavailable` (503), a missing table `InputNotFound` (404), a query Snowflake rejects
`InvalidInput` (422), with Snowflake's own words only where they quote the caller's query, never
the table's values. Only a single SELECT is accepted (riskscore.io.sqlcheck), checked before
connecting.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Iterator

from pydantic import Field

from ..errors import InputNotFound, InvalidInput, InvalidRequest, RiskScoreError
from ..settings import EnvSettings
from .sqlcheck import check_select

SCHEME = "snowflake://"
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$")
_SQL = re.compile(r"\s*(select|with)\s", re.IGNORECASE)
SECRET_TIMEOUT_S = 10.0


class SourceUnavailable(RiskScoreError):
    """An outside source (Snowflake, Secret Manager) could not be reached in time; worth retrying."""

    status = 503
    code = "source_unavailable"


class SnowflakeSettings(EnvSettings):
    """How to reach Snowflake (`SnowflakeSettings.from_env()`, read once by the caller)."""

    snowflake_account: str | None = None
    snowflake_user: str | None = None
    snowflake_password: str | None = Field(None, repr=False)
    snowflake_password_secret: str | None = None
    snowflake_warehouse: str | None = None
    snowflake_role: str | None = None
    snowflake_host: str | None = None
    snowflake_port: int | None = None
    snowflake_protocol: str | None = None
    snowflake_timeout_s: float = Field(60.0, gt=0)


@dataclass(frozen=True)
class SnowflakeSource:
    """A parsed `snowflake://` URI: a table (`DB.SCHEMA.TABLE`) or a query."""

    table: str | None = None
    query: str | None = None

    @property
    def sql(self) -> str:
        return self.query if self.query is not None else f"SELECT * FROM {self.table}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.table}" if self.table else f"{SCHEME}(query)"


def is_snowflake(uri) -> bool:
    return isinstance(uri, str) and uri.startswith(SCHEME)


def parse(uri: str, field: str = "input") -> SnowflakeSource:
    """`snowflake://DB.SCHEMA.TABLE` or `snowflake://SELECT ...`; InvalidRequest naming `field`."""
    rest = uri[len(SCHEME):].strip()
    if _SQL.match(rest):
        check_select(rest, field=field, dialect="snowflake")
        return SnowflakeSource(query=rest)
    if not _TABLE.match(rest):
        raise InvalidRequest(f"{field} {uri!r}: expected snowflake://DATABASE.SCHEMA.TABLE or snowflake://SELECT ...",
                             details=[{"field": field, "problem": "malformed Snowflake table name"}])
    return SnowflakeSource(table=rest)


def secret_value(name: str, timeout_s: float = SECRET_TIMEOUT_S, endpoint: str = "https://secretmanager.googleapis.com") -> str:
    """The payload of Secret Manager version `name`, read with the environment's credentials."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    try:
        reply = AuthorizedSession(credentials).get(f"{endpoint.rstrip('/')}/v1/{name}:access", timeout=timeout_s)
    except Exception as exc:  # transport errors and timeouts: retry later
        raise SourceUnavailable(f"Secret Manager: cannot read {name}: {type(exc).__name__}") from None
    if reply.status_code != 200:
        raise SourceUnavailable(f"Secret Manager: reading {name} answered {reply.status_code}")
    return base64.b64decode(reply.json()["payload"]["data"]).decode()


def connect_kwargs(settings: SnowflakeSettings) -> dict:
    """snowflake.connector.connect arguments, with deadlines and no retries past `timeout_s`."""
    s = settings
    password = s.snowflake_password
    if password is None and s.snowflake_password_secret:
        password = secret_value(s.snowflake_password_secret)
    kwargs = {"account": s.snowflake_account, "user": s.snowflake_user, "password": password,
              "warehouse": s.snowflake_warehouse, "role": s.snowflake_role, "host": s.snowflake_host,
              "port": s.snowflake_port, "protocol": s.snowflake_protocol,
              # Deadlines: the login, each request, and the whole retry loop.
              "login_timeout": s.snowflake_timeout_s, "network_timeout": s.snowflake_timeout_s,
              "socket_timeout": s.snowflake_timeout_s,
              "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
              "client_session_keep_alive": False}
    return {k: v for k, v in kwargs.items() if v is not None}


def _lower(table) -> list:
    """The connector's Arrow table as record batches, upper-case names folded to lower case."""
    names = [n.lower() if n.isupper() else n for n in table.schema.names]
    return table.rename_columns(names).to_batches()


def read_batches(source: SnowflakeSource | str, settings: SnowflakeSettings | None = None) -> Iterator:
    """The rows of `source` as pyarrow RecordBatches (the first fetched before this returns, so
    connection and SQL errors surface here, named by the source)."""
    source = parse(source) if isinstance(source, str) else source
    settings = settings or SnowflakeSettings.from_env()
    timeout_s = settings.snowflake_timeout_s
    import snowflake.connector
    from snowflake.connector import errors as sferrors

    where = str(source)
    try:
        conn = snowflake.connector.connect(**connect_kwargs(settings))
    except (sferrors.OperationalError, sferrors.InterfaceError) as exc:
        raise SourceUnavailable(f"{where}: Snowflake could not be reached within {timeout_s:g}s "
                                f"({type(exc).__name__} {getattr(exc, 'errno', '')})",
                                details=[{"field": "input", "problem": "source unavailable"}]) from None
    except sferrors.DatabaseError as exc:
        raise SourceUnavailable(f"{where}: Snowflake refused the connection: {getattr(exc, 'msg', exc)}",
                                details=[{"field": "input", "problem": "login failed"}]) from None
    try:
        cursor = conn.cursor()
        cursor.execute(source.sql, timeout=int(max(timeout_s, 1)))
        batches = cursor.fetch_arrow_batches()
        first = next(batches, None)
    except sferrors.ProgrammingError as exc:
        conn.close()
        raise _query_error(where, exc) from None
    except (sferrors.OperationalError, sferrors.InterfaceError) as exc:
        conn.close()
        raise SourceUnavailable(f"{where}: Snowflake did not answer within {timeout_s:g}s "
                                f"({type(exc).__name__})",
                                details=[{"field": "input", "problem": "source unavailable"}]) from None

    def stream():
        try:
            if first is not None:
                yield from _lower(first)
                for table in batches:
                    yield from _lower(table)
        except sferrors.Error as exc:  # a later result chunk: the message may quote values
            raise SourceUnavailable(f"{where}: Snowflake failed while the rows were read ({type(exc).__name__} "
                                    f"{getattr(exc, 'errno', '')})",
                                    details=[{"field": "input", "problem": "source unavailable"}]) from None
        finally:
            conn.close()

    return stream()


def _query_error(where: str, exc) -> RiskScoreError:
    """A query Snowflake refused, as InputNotFound (an object that does not exist) or
    InvalidInput. Snowflake's own text is passed on only for SQL state class 42 (syntax, names,
    access): it then quotes the caller's query; a data error (class 22, e.g. a failed cast) quotes
    the table's values, which never reach an error body or a log line."""
    errno, sqlstate = getattr(exc, "errno", None), str(getattr(exc, "sqlstate", "") or "")
    code = f"Snowflake error {errno}, SQL state {sqlstate or 'unknown'}"
    if errno == 2003:
        return InputNotFound(f"{where}: a table it reads does not exist or is not authorized ({code})",
                             details=[{"field": "input", "problem": "not found"}])
    said = f": {getattr(exc, 'msg', '')}" if sqlstate.startswith("42") else " (its message may quote values: not shown)"
    return InvalidInput(f"{where}: Snowflake rejected the query ({code}){said}",
                        details=[{"field": "input", "problem": "query failed"}])


def read_table(source: SnowflakeSource | str, settings: SnowflakeSettings | None = None):
    """The whole of `source` as one pyarrow Table (an empty result keeps no schema: 0 columns)."""
    import pyarrow as pa

    batches = list(read_batches(source, settings))
    return pa.Table.from_batches(batches) if batches else pa.table({})
