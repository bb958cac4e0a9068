"""Settings of the functions, read once from the environment Terraform sets.

A plain pydantic model filled from `os.environ` (each field's name in upper case): it
validates exactly like pydantic-settings, without its ~45 ms and ~5 MiB of cold start.
Fields shared by every function that loads a model live in `ModelSettings`.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BatchSettings", "DriftSettings", "EnvSettings", "ModelSettings", "ScoreSettings",
           "StoreSettings"]


class EnvSettings(BaseModel):
    # defer_build: a class's validator is built when it first validates, so an instance builds
    # only its own function's settings, not the bases' or the other functions' (cold start).
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)

    @classmethod
    def from_env(cls, environ=None):
        """Read every field from its upper-case environment variable; empty means unset."""
        env = os.environ if environ is None else environ
        return cls.model_validate({name: env[name.upper()] for name in cls.model_fields
                                   if env.get(name.upper(), "") != ""})


class StoreSettings(EnvSettings):
    """Where the model comes from (every function reads the model store)."""

    model_store: str = Field("models", description="local folder or gs://bucket/prefix")
    model_name: str = "credit_default"
    store_read_timeout_s: float = Field(10.0, gt=0)
    store_read_deadline_s: float = Field(20.0, gt=0)
    # The project of the deployment (Terraform sets it; gen2 Python runtimes do not): it names
    # traces in log lines (`projects/ID/traces/TRACE`) and runs BigQuery jobs. Unset: no trace
    # fields, and BigQuery uses the environment's default project.
    google_cloud_project: str | None = None


class ModelSettings(StoreSettings):
    """Which version serves and how its ONNX sessions run (score and batch_score)."""

    model_version: str | None = Field(None, description="pin a version instead of following current.json")
    # onnxruntime sizes its thread pools from the host's cores, not the container's CPU limit.
    ort_intra_op_threads: int = Field(1, ge=1)
    ort_inter_op_threads: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, gt=0)


class ScoreSettings(ModelSettings):
    """Environment variables of the `score` function (names exactly as in Terraform)."""

    # After a failed load at cold start, wait at least this long before trying the store again.
    load_retry_s: float = Field(5.0, ge=0)
    # Local runs: also append every prediction record to this JSONL file (never set in the cloud).
    prediction_log: str | None = Field(None, json_schema_extra={"local_only": True})
    # Salt for hashing applicant ids in the prediction log (from Secret Manager in the cloud).
    # Unset: a random salt per instance, so ids in the log cannot be linked at all.
    applicant_id_salt: str | None = None


class BatchSettings(ModelSettings):
    """Environment variables of `batch_score` and `batch_score_gcs` (names as in Terraform)."""

    # A batch request body holds a job description or up to max_inline_records records.
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0)
    # Rows per Arrow record batch: memory per in-flight chunk (onnxruntime's buffers grow with
    # it: ~0.5 GB peak at 16k rows and 2 workers, ~1.1 GB at 64k), not a limit on the input.
    batch_chunk_rows: int = Field(16_384, ge=1, le=1_000_000)
    max_inline_records: int = Field(10_000, ge=1)
    # Chunks scored at once (one onnxruntime call per graph each); more than the vCPUs only
    # adds memory.
    batch_workers: int = Field(2, ge=1, le=16)
    # BigQuery outputs: the dataset (project.dataset) of the run's staging tables. Unset: the
    # output table's own dataset (which then needs table create/delete rights).
    batch_staging_dataset: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+\.[A-Za-z0-9_]+$")
    # Inputs of more rows than this (table metadata, or estimated from file sizes) are scored on
    # Dataflow instead (a Flex Template launch; `batch_score` answers with the job id). Unset:
    # every input is scored in the instance. See riskscore.batch.route.
    dataflow_min_rows: int | None = Field(None, ge=1)
    dataflow_template: str | None = Field(None, pattern=r"^gs://.+\.json$", description="the Flex Template spec")
    dataflow_region: str | None = None
    dataflow_service_account: str | None = None  # the workers' identity (email)
    dataflow_temp_location: str | None = Field(None, pattern=r"^gs://")
    dataflow_max_workers: int = Field(50, ge=1, le=4000)
    # Tests point the launch at a local server; the cloud always uses Google's endpoint.
    dataflow_endpoint: str = Field("https://dataflow.googleapis.com", json_schema_extra={"local_only": True})

    @model_validator(mode="after")
    def _dataflow_complete(self):
        if self.dataflow_min_rows is not None:
            missing = [n for n in ("dataflow_template", "dataflow_region", "dataflow_temp_location",
                                   "google_cloud_project") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"DATAFLOW_MIN_ROWS is set but {', '.join(m.upper() for m in missing)} "
                                 "not: a Dataflow launch needs them")
        return self


class DriftSettings(StoreSettings):
    """Environment variables of the `drift_check` function (names exactly as in Terraform).

    Every version's drift baseline is read from the store, so there is no version pin."""

    max_body_bytes: int = Field(16 * 1024, gt=0)
    # The source a POST without "source" checks, e.g. bq://PROJECT.DATASET.predictions.
    drift_source: str | None = None
    # Where reports go (folder or gs://bucket/prefix); unset: <model_store>/<model_name>/reports/drift.
    reports_dir: str | None = None
    # bq://project.dataset.drift_reports; unset: a Parquet file beside the reports.
    drift_reports_table: str | None = None
