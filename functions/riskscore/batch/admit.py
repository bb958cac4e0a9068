"""What a batch job may touch, decided before anything is read, run or written: local paths
confined to LOCAL_ROOT, gs:// to ALLOWED_BUCKETS, a query to one SELECT over
BATCH_QUERY_DATASETS (a BigQuery dry run). Every refusal is a 400 naming the field."""

from __future__ import annotations

from riskscore.batch.queryguard import allowed_datasets, check_query
from riskscore.io import bq
from riskscore.io.confine import check_location

__all__ = ["admit"]


def admit(source, output: str, settings):
    """(source, output) as the run may use them (local paths resolved), or InvalidRequest."""
    if isinstance(source, dict):
        check_query(bq.bigquery_client(settings.google_cloud_project), source["query"],
                    allowed_datasets(settings.batch_query_datasets))
    elif not source.startswith("bq://"):
        source = check_location(source.strip(), settings, "input")
    if not output.startswith("bq://"):
        output = check_location(output.strip(), settings, "output")
    return source, output
