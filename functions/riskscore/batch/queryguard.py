"""The one gate of `{"input": {"query": …}}`: BigQuery's own dry run decides what a query is.

Before any job runs, the query is dry-run: BigQuery parses it and reports its statement type
and every table it reads (views resolved to what they read is BigQuery's business: a view in
an allowed dataset is allowed). Accepted: a single SELECT whose every referenced table lies in
one of the deployment's datasets (BATCH_QUERY_DATASETS). Anything else, including a query
BigQuery refuses to parse, is a 400 naming `input.query`; nothing has run.
"""

from __future__ import annotations

from riskscore.errors import InvalidRequest

__all__ = ["FIELD", "allowed_datasets", "check_query", "judge"]

FIELD = "input.query"


def _refuse(problem: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{FIELD}: {message}", details=[{"field": FIELD, "problem": problem}])


def allowed_datasets(setting: str | None) -> frozenset[str]:
    return frozenset(d.strip() for d in (setting or "").split(",") if d.strip())


def check_query(client, sql: str, allowed: frozenset[str]) -> None:
    """InvalidRequest unless `sql` is one SELECT over `allowed` datasets (project.dataset)."""
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    if not allowed:
        raise _refuse("queries not accepted", "this deployment accepts no queries; name a table (bq://…) instead")
    try:
        job = client.query(sql, job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False))
    except gexc.BadRequest as exc:
        # BigQuery's message names the parse error's position; it never holds table data.
        raise _refuse("not a valid query", f"BigQuery refused the query: {getattr(exc, 'message', exc)}") from None
    except (gexc.Forbidden, gexc.NotFound):
        raise _refuse("table not readable", "the query reads a table that does not exist or is not readable") from None
    judge(job.statement_type, [f"{t.project}.{t.dataset_id}" for t in job.referenced_tables or []], allowed)


def judge(statement_type: str | None, datasets: list[str], allowed: frozenset[str]) -> None:
    """The rule on what a dry run reports: a SELECT (one statement: a script is `SCRIPT`)
    reading only `allowed` datasets (none at all: literals only, which reads nothing)."""
    if statement_type != "SELECT":
        raise _refuse("not a single SELECT", f"only a single SELECT statement is accepted; got {statement_type or 'unknown'}")
    outside = sorted(set(datasets) - allowed)
    if outside:
        raise _refuse("dataset not allowed", f"the query reads datasets this deployment does not allow: "
                      f"{', '.join(outside)}; allowed: {', '.join(sorted(allowed))}")
