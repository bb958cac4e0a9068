"""Where a batch run goes: this instance, or a Dataflow Flex Template job for a large input.

`route(source, output, run_date, model_version, settings)` returns None (score here) unless
DATAFLOW_MIN_ROWS is set and the input holds more rows than that, judged before reading a row:

  - a BigQuery table: its metadata (`num_rows`);
  - Parquet files: their footers (`num_rows`, exact);
  - CSV files: their sizes over the bytes per line of their first 64 KiB (gzip: times
    GZIP_RATIO, an assumed compression ratio);
  - a query: never routed (its size is unknown until it has run), nor a local input or output
    (only this instance can see them).

A routed run is launched through the Dataflow REST API (`flexTemplates:launch`, an OAuth token
of the function's identity) with the version pinned now, and answered with the job id. The job
name is derived from the run (input, output, run_date), so a retried request while the job
runs is refused by Dataflow as a duplicate (409) and answered with the same name, never a
second job; a later rerun replaces the run_date's output, like batch_score's.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from riskscore.errors import RiskScoreError
from riskscore.settings import BatchSettings
from riskscore.batch.sources import parse_source
from riskscore.io.files import file_kind, files_at

__all__ = ["GZIP_RATIO", "LAUNCH_TIMEOUT_S", "LaunchFailed", "SAMPLE_BYTES", "estimate_rows", "job_name",
           "launch", "launch_body", "route"]

GZIP_RATIO = 4.0  # assumed: credit tables compress about 4:1 with gzip
SAMPLE_BYTES = 64 * 1024
LAUNCH_TIMEOUT_S = 60.0


class LaunchFailed(RiskScoreError):
    """Dataflow refused or did not answer the launch; worth retrying."""

    status = 503
    code = "dataflow_launch_failed"


def estimate_rows(source, project: str | None = None) -> int | None:
    """Rows of `source` from metadata and sizes (see the module docstring); None: unknown."""
    parsed = parse_source(source)
    if parsed.kind == "bq_query":
        return None
    if parsed.kind == "bq_table":
        from google.api_core import exceptions as gexc

        from riskscore.io import bq

        try:
            return int(bq.bigquery_client(project).get_table(parsed.location).num_rows or 0)
        except gexc.NotFound:
            return None  # the run itself reports the missing table
    return sum(_file_rows(name, opener) for name, opener in files_at(parsed.location))


def _file_rows(name: str, opener) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = file_kind(name)
    with opener() as fh:
        if kind == "parquet":
            return pq.ParquetFile(fh).metadata.num_rows
        blob = getattr(opener, "blob", None)  # GCS: the size from the listing
        size = blob.size if blob is not None and blob.size is not None else fh.size()
        stream = pa.CompressedInputStream(fh, "gzip") if kind == "csv.gz" else fh
        sample = stream.read(SAMPLE_BYTES)
    if not sample:
        return 0
    lines = max(sample.count(b"\n"), 1)
    if kind == "csv.gz":
        size *= GZIP_RATIO
    return int(size / (len(sample) / lines)) - 1  # less the header


def job_name(source, output: str, run_date: date) -> str:
    """The Dataflow job name of a run: the same run always gets the same name."""
    digest = hashlib.sha256(repr((source, output, run_date.isoformat())).encode()).hexdigest()[:10]
    return f"riskscore-{run_date.isoformat()}-{digest}"


def launch_body(source, output: str, run_date: date, model_version: str, settings: BatchSettings) -> dict:
    """The flexTemplates:launch request (parameters as in dataflow/metadata.json)."""
    parameters = {"input": source, "output": output, "run_date": run_date.isoformat(),
                  "model_store": settings.model_store, "model_name": settings.model_name,
                  "model_version": model_version}
    if settings.batch_staging_dataset:
        parameters["staging_dataset"] = settings.batch_staging_dataset
    environment = {"tempLocation": settings.dataflow_temp_location, "maxWorkers": settings.dataflow_max_workers,
                   "ipConfiguration": "WORKER_IP_PRIVATE",
                   "additionalUserLabels": {"app": "riskscore", "run_date": run_date.isoformat()}}
    if settings.dataflow_service_account:
        environment["serviceAccountEmail"] = settings.dataflow_service_account
    return {"launchParameter": {"jobName": job_name(source, output, run_date),
                                "containerSpecGcsPath": settings.dataflow_template,
                                "parameters": parameters, "environment": environment}}


def _session():
    """An AuthorizedSession with the environment's credentials (the function's identity)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return AuthorizedSession(credentials)


def launch(source, output: str, run_date: date, model_version: str, settings: BatchSettings,
           rows_estimated: int) -> dict:
    """POST the launch; the answer batch_score gives: the job id (or the running job's name)."""
    s = settings
    url = (f"{s.dataflow_endpoint.rstrip('/')}/v1b3/projects/{s.google_cloud_project}/locations/"
           f"{s.dataflow_region}/flexTemplates:launch")
    body = launch_body(source, output, run_date, model_version, s)
    name = body["launchParameter"]["jobName"]
    try:
        reply = _session().post(url, json=body, timeout=LAUNCH_TIMEOUT_S)
    except Exception as exc:  # transport errors, credentials: the caller may retry
        raise LaunchFailed(f"Dataflow launch of {name} failed: {exc}") from exc
    answer = {"status": "launched", "runner": "dataflow", "job_name": name, "rows_estimated": rows_estimated,
              "model_version": model_version, "run_date": run_date.isoformat(), "output": output}
    if reply.status_code == 409:  # the same run is running already: no second job
        return dict(answer, status="already_running", job_id=None)
    if reply.status_code != 200:
        message = reply.text[:500]
        try:
            message = reply.json()["error"]["message"]
        except Exception:  # noqa: BLE001 - not Google's error JSON: keep the text
            pass
        raise LaunchFailed(f"Dataflow refused the launch of {name}: {reply.status_code} {message}")
    job = reply.json().get("job", {})
    job_id = job.get("id")
    return dict(answer, job_id=job_id, console_url=(
        f"https://console.cloud.google.com/dataflow/jobs/{s.dataflow_region}/{job_id}?project={s.google_cloud_project}"
        if job_id else None))


def route(source, output: str, run_date: date, model_version: str, settings: BatchSettings) -> dict | None:
    """None: score in this instance; else the launched Dataflow job (see the module docstring)."""
    if settings.dataflow_min_rows is None or not re.match(r"^(gs|bq)://", output) \
            or not (isinstance(source, str) and re.match(r"^(gs|bq)://", source)):
        return None
    try:
        rows = estimate_rows(source, settings.google_cloud_project)
    except RiskScoreError:
        return None  # a missing or unreadable input: the run reports it, with its usual error
    if rows is None or rows <= settings.dataflow_min_rows:
        return None
    return launch(source, output, run_date, model_version, settings, rows)
