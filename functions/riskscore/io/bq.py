"""The one way this project builds a BigQuery client (training, batch scoring, drift checks).

`google.cloud.bigquery` costs about 0.8 s and 140 MB to import, so it is imported inside
`bigquery_client`, never at module level: importing this module is free, and the `score`
function, which never calls it, never pays for it.

Callers that accept a client (`bq_client=...`) use it as given; otherwise they call
`bigquery_client(project)`. Tests point code at the BigQuery emulator either way: by passing
the emulator's client or by monkeypatching this factory (there is no emulator switch here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["bigquery_client", "bigquery_read_client"]

if TYPE_CHECKING:  # annotations only: no import at run time
    from google.cloud import bigquery


def bigquery_client(project: str | None = None) -> "bigquery.Client":
    """A `google.cloud.bigquery.Client` whose jobs run (and are billed) in `project`.

    `project=None` takes the environment's default project (GOOGLE_CLOUD_PROJECT, or that of
    Application Default Credentials); credentials always come from the environment (ADC).
    """
    from google.cloud import bigquery

    return bigquery.Client(project=project)


def bigquery_read_client():
    """A BigQuery Storage Read client (streams table rows as Arrow record batches), with the
    environment's credentials; tests monkeypatch this factory to reach the emulator."""
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient

    return BigQueryReadClient()
