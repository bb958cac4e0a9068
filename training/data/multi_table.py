"""Several tables joined by one SELECT: the training table as lenders derive it.

A spec's `tables:` maps names to sources, and its `sql:` (one SELECT in BigQuery Standard SQL)
reads those names and yields one row per applicant. `read_tables(tables, sql, ...)` runs it where
the data is:

- every table a local file or folder (Parquet, CSV): DuckDB, embedded, over the files in place;
  the SQL is transpiled from BigQuery's dialect to DuckDB's by sqlglot;
- every table in BigQuery (`bq://project.dataset.table`): BigQuery runs the SQL itself, with the
  names replaced by the tables' full ids, under a job deadline;
- anything else (gs:// objects, Snowflake, a mix): each table is read (Arrow) and loaded into
  DuckDB, which runs the SQL.

Checked before anything runs: the SQL is a single SELECT (riskscore.io.sqlcheck), every table it
reads is declared, and every declared file exists. `tables_dir` points the file tables at the
files of one folder by name (`<name>.parquet|.pq|.csv|.csv.gz`, or a folder `<name>/`), so one
spec serves any copy of the data. Errors are `TablesError` (a SpecError) naming the table or `sql`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskscore.io.snowflake import is_snowflake
from riskscore.io.sqlcheck import SqlRejected, check_select

from training.data.spec import SpecError

EXTENSIONS = (".parquet", ".pq", ".csv.gz", ".csv")  # ".csv.gz" before ".csv"
BQ_JOB_TIMEOUT_S = 600.0
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TablesError(SpecError):
    """A table or the SQL of a multi-table spec is unusable; the message names which."""


@dataclass(frozen=True)
class TableSource:
    name: str
    uri: str

    @property
    def kind(self) -> str:
        if self.uri.startswith("bq://"):
            return "bq"
        if self.uri.startswith("gs://"):
            return "gcs"
        if is_snowflake(self.uri):
            return "snowflake"
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", self.uri):
            return "unknown"
        return "file"


def _file_format(name: str) -> str | None:
    lower = name.lower()
    for ext in EXTENSIONS:
        if lower.endswith(ext):
            return "parquet" if ext in (".parquet", ".pq") else "csv"
    return None


def _files(table: TableSource) -> tuple[str, list[Path]]:
    """(format, files) of a local file table; TablesError naming the table otherwise."""
    path = Path(table.uri)
    if path.is_file():
        fmt = _file_format(path.name)
        if fmt is None:
            raise TablesError(f"tables.{table.name}: {table.uri} is not a Parquet or CSV file "
                              f"(expected a name ending in {', '.join(EXTENSIONS)})")
        return fmt, [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _file_format(p.name)
                       and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
        formats = {_file_format(p.name) for p in files}
        if not files:
            raise TablesError(f"tables.{table.name}: folder {table.uri} holds no Parquet or CSV files")
        if len(formats) > 1:
            raise TablesError(f"tables.{table.name}: folder {table.uri} mixes Parquet and CSV files")
        return formats.pop(), files
    raise TablesError(f"tables.{table.name}: no such file or folder {table.uri}")


def resolve(tables: dict[str, str], tables_dir: str | os.PathLike | None = None) -> list[TableSource]:
    """The declared tables, file tables pointed into `tables_dir` by name when it is given."""
    out = []
    for name, uri in tables.items():
        if not _NAME.match(name):
            raise TablesError(f"tables.{name}: a table name must be a plain SQL identifier")
        source = TableSource(name, str(uri))
        if source.kind == "unknown":
            raise TablesError(f"tables.{name}: unsupported source {uri!r}; use a local file or folder, gs://, "
                              "bq://project.dataset.table or snowflake://DATABASE.SCHEMA.TABLE")
        if tables_dir is not None and source.kind == "file":
            source = TableSource(name, str(_in_dir(Path(tables_dir), name)))
        out.append(source)
    return out


def _in_dir(folder: Path, name: str) -> Path:
    if not folder.is_dir():
        raise TablesError(f"--tables {folder}: no such folder")
    candidates = [folder / f"{name}{ext}" for ext in EXTENSIONS] + [folder / name]
    for path in candidates:
        if path.exists():
            return path
    raise TablesError(f"tables.{name}: no {name}.parquet, {name}.csv, {name}.csv.gz or folder {name}/ "
                      f"in {folder}")


def check(tables: list[TableSource], sql: str) -> None:
    """The SQL is one SELECT reading only declared tables; every file table exists."""
    try:
        info = check_select(sql, field="sql", dialect="bigquery")
    except SqlRejected as exc:
        raise TablesError(f"spec {exc.message}") from None
    declared = {t.name.lower() for t in tables}
    unknown = [name for name in info.tables if name.lower() not in declared]
    if unknown:
        raise TablesError(f"sql reads {', '.join(repr(n) for n in unknown)}, not declared under tables "
                          f"(declared: {', '.join(sorted(declared)) or 'none'})")
    for table in tables:
        if table.kind == "file":
            _files(table)


def _qualified(sql: str, names: dict[str, str], write: str) -> str:
    """`sql` (BigQuery dialect) for `write`, with each declared table name replaced by `names`."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}

    def swap(node):
        if isinstance(node, exp.Table) and not node.db and node.name.lower() in names \
                and node.name.lower() not in ctes:
            # One quoted identifier: `project-id.dataset.table` is how BigQuery names a table
            # whose project holds a dash; DuckDB gets the plain registered view name.
            target = exp.Table(this=exp.to_identifier(names[node.name.lower()], quoted=write == "bigquery"))
            alias = node.alias or node.name
            target.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            return target
        return node

    return tree.transform(swap).sql(dialect=write)


def read_tables(tables: dict[str, str], sql: str, *, tables_dir=None, bq_client=None, gcs_client=None,
                snowflake_settings=None, bq_timeout_s: float = BQ_JOB_TIMEOUT_S,
                order_by: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Run `sql` over `tables` (see the module docstring): (the rows, a description of the run:
    engine and each table's resolved source).

    SQL promises no row order without ORDER BY, and engines differ; the rows are sorted here by
    `order_by` (the spec's id) or else by every column, so the same data gives the same table,
    and the same seeded split, on every engine."""
    sources = resolve(tables, tables_dir)
    check(sources, sql)
    described = {"engine": None, "tables": {t.name: t.uri for t in sources}}
    if all(t.kind == "bq" for t in sources):
        described["engine"] = "bigquery"
        df = _run_bigquery(sources, sql, bq_client, bq_timeout_s)
    else:
        described["engine"] = "duckdb"
        df = _run_duckdb(sources, sql, bq_client, gcs_client, snowflake_settings)
    if order_by is not None and order_by not in df.columns:
        raise TablesError(f"sql: the result has no column {order_by!r} (the spec's id)")
    keys = [order_by] if order_by is not None else list(df.columns)
    return df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True), described


def _run_bigquery(sources: list[TableSource], sql: str, client, timeout_s: float) -> pd.DataFrame:
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    from riskscore.io import bq

    names = {t.name.lower(): t.uri[len("bq://"):].strip("`") for t in sources}
    query = _qualified(sql, names, "bigquery")
    client = client if client is not None else bq.bigquery_client()
    config = bigquery.QueryJobConfig(job_timeout_ms=int(timeout_s * 1000))
    # A dry run first: BigQuery's words about the SQL itself (parse and name errors) quote the
    # spec's query and are passed on; what fails only when the query runs is data (a failed
    # cast), whose message quotes the tables' values: then the reason alone is.
    running = False
    try:
        client.query(query, job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False), timeout=timeout_s)
        running = True
        rows = client.query(query, job_config=config, timeout=timeout_s).result(timeout=timeout_s)
    except gexc.NotFound as exc:
        table = next((t.name for t in sources if t.uri[len("bq://"):] in exc.message), None)
        raise TablesError(f"tables.{table}: {exc.message}" if table else f"sql: {exc.message}") from None
    except gexc.BadRequest as exc:
        if not running:
            raise TablesError(f"sql: BigQuery rejected the query: {exc.message}") from None
        raise TablesError(f"sql: {bq.run_failure(exc)}") from None
    return _to_pandas(rows.to_arrow(create_bqstorage_client=False))


def _to_pandas(table) -> pd.DataFrame:
    """Decimals (DuckDB's HUGEINT sums, BigQuery's NUMERIC) as float64, the rest as Arrow maps
    them: the two engines then give the same dtypes for the same SQL."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
    return table.to_pandas()


def _duckdb_relation(table: TableSource) -> str:
    fmt, files = _files(table)
    paths = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
    return f"read_parquet({paths})" if fmt == "parquet" else f"read_csv({paths}, header = true)"


def _arrow(table: TableSource, bq_client, gcs_client, snowflake_settings):
    import pyarrow as pa

    from riskscore.io import snowflake

    if table.kind == "snowflake":
        return snowflake.read_table(snowflake.parse(table.uri, field=f"tables.{table.name}"), snowflake_settings)
    from training.data.tables import TableNotFoundError, read_table

    try:
        return pa.Table.from_pandas(read_table(table.uri, bq_client=bq_client, gcs_client=gcs_client),
                                    preserve_index=False)
    except TableNotFoundError as exc:
        raise TablesError(f"tables.{table.name}: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "NotFound":
            raise TablesError(f"tables.{table.name}: {table.uri} not found") from None
        raise


def _run_duckdb(sources, sql: str, bq_client, gcs_client, snowflake_settings) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        loaded = {}
        for table in sources:
            if table.kind == "file":
                con.execute(f'CREATE VIEW "{table.name}" AS SELECT * FROM {_duckdb_relation(table)}')
            else:
                loaded[table.name] = _arrow(table, bq_client, gcs_client, snowflake_settings)
                con.register(f"__arrow_{table.name}", loaded[table.name])
                con.execute(f'CREATE VIEW "{table.name}" AS SELECT * FROM "__arrow_{table.name}"')
        query = _qualified(sql, {t.name.lower(): t.name for t in sources}, "duckdb")
        try:
            return _to_pandas(con.sql(query).to_arrow_table())
        except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
            # About the SQL itself: the message quotes the spec's query, not the tables' values.
            raise TablesError(f"sql: DuckDB rejected the query: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:  # a failed cast, a malformed file: its message quotes values
            raise TablesError(f"sql: DuckDB failed running the query ({type(exc).__name__}; its message may "
                              "quote the tables' values: not shown)") from None
    except duckdb.Error as exc:  # opening a file: malformed CSV or Parquet
        raise TablesError(f"tables: a table could not be read ({type(exc).__name__}; DuckDB's message may "
                          "quote the file's values: not shown)") from None
    finally:
        con.close()
