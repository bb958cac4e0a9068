"""The one SELECT-only check for SQL that a user hands us (a training spec's `sql`, a batch query).

`check_select(sql, field=..., dialect=...)` parses with sqlglot and accepts exactly one read-only
query: a SELECT (with or without WITH), or a UNION / INTERSECT / EXCEPT of SELECTs. Anything else
(no statement, several statements, DML, DDL, scripting, a data-modifying CTE) raises `SqlRejected`
naming the field, before anything runs. It returns the tables the query reads (CTE names
excluded), so callers can check them against what they allow or know.

sqlglot is imported on first use: the score path never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidRequest


class SqlRejected(InvalidRequest, ValueError):
    """SQL that is not a single read-only SELECT, or that does not parse (400; a ValueError)."""

    code = "invalid_sql"


@dataclass(frozen=True)
class SelectInfo:
    """What a checked query reads: table references as written (`db.table`, `project.ds.t`)."""

    tables: tuple[str, ...]


def _reject(field: str, problem: str) -> SqlRejected:
    return SqlRejected(f"{field}: expected a single SELECT statement; {problem}",
                       details=[{"field": field, "problem": problem}])


def check_select(sql: str, *, field: str = "sql", dialect: str = "bigquery") -> SelectInfo:
    """Accept one read-only query or raise SqlRejected naming `field` (see the module docstring)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not isinstance(sql, str) or not sql.strip():
        raise _reject(field, "found no SQL")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        where = exc.errors[0] if exc.errors else {}
        raise _reject(field, f"it does not parse as {dialect} SQL: {str(where.get('description', exc)).split(' but got')[0]} "
                             f"(line {where.get('line')}, column {where.get('col')})") from None
    except TokenError as exc:
        raise _reject(field, f"it does not parse as {dialect} SQL: {exc}") from None
    if not statements:
        raise _reject(field, "found no statement")
    if len(statements) > 1:
        raise _reject(field, f"found {len(statements)} statements")
    root = statements[0]
    if not isinstance(root, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
        raise _reject(field, f"found {root.key.upper()}")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
              exp.Command, exp.Into, exp.TruncateTable)
    for node in root.walk():
        if isinstance(node, writes):
            raise _reject(field, f"found {node.key.upper()} inside the query")
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    tables = []
    for table in root.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in ctes):
            continue  # a CTE reference, or a table function such as UNNEST
        name = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        if name not in tables:
            tables.append(name)
    return SelectInfo(tables=tuple(tables))
