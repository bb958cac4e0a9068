"""The one way this project builds a BigQuery client (training, batch scoring, drift checks).

`google.cloud.bigquery` costs about 0.8 s and 140 MB to import, so it is imported inside
`bigquery_client`, never at module level: importing this module is free, and the `score`
function, which never calls it, never pays for it.

Callers that accept a client (`bq_client=...`) use it as given; otherwise they call
`bigquery_client(project)`. Tests point code at the BigQuery emulator either way: by passing
the emulator's client or by monkeypatching this factory (there is no emulator switch here).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

__all__ = ["TABLE_ID", "bigquery_client", "bigquery_read_client", "run_failure"]

# A table to read, `project.dataset.table` (a partition decorator `$…` allowed), in the
# characters a table id can have: callers put it into SQL between backticks (use `fullmatch`).
TABLE_ID = re.compile(r"[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+")

if TYPE_CHECKING:  # annotations only: no import at run time
    from google.cloud import bigquery


def bigquery_client(project: str | None = None, *, credentials=None, client_options=None) -> "bigquery.Client":
    """A `google.cloud.bigquery.Client` whose jobs run (and are billed) in `project`, its every
    call bounded by the current deadlines (riskscore.io.deadlines).

    `project=None` takes the environment's default project (GOOGLE_CLOUD_PROJECT, or that of
    Application Default Credentials); credentials come from the environment (ADC) unless given
    (tests: anonymous credentials and an emulator's `client_options`).
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from riskscore.io import deadlines

    if credentials is None:
        import os

        credentials, default_project = deadlines.default_credentials(_SCOPES)
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or default_project
    http = deadlines.session(None if isinstance(credentials, AnonymousCredentials) else credentials)
    return bigquery.Client(project=project, credentials=credentials, _http=http, client_options=client_options)


_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def bigquery_read_client():
    """A BigQuery Storage Read client (streams table rows as Arrow record batches), with the
    environment's credentials; tests monkeypatch this factory to reach the emulator."""
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient

    return BigQueryReadClient()


def run_failure(exc) -> str:
    """What to say of a query that failed while it ran (a google.api_core BadRequest): its
    reason code only. By then the SQL was parsed (a dry run), so what fails is data, and
    BigQuery's message quotes the table's values (a failed cast), which no error body or log
    line may hold."""
    reason = next((e.get("reason") for e in getattr(exc, "errors", None) or []
                   if isinstance(e, dict) and e.get("reason")), "unknown")
    return f"BigQuery failed running the query (reason {reason}; its message may quote values: not shown)"

