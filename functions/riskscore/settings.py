"""Settings of the score function, read once from the environment Terraform sets.

A plain pydantic model filled from `os.environ` (each field's name in upper case): it
validates exactly like pydantic-settings, without its ~45 ms and ~5 MiB of cold start.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class ModelSettings(BaseModel):
    """Fields every function shares (the model store it reads) and `from_env`."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_store: str = Field("models", description="local folder or gs://bucket/prefix")
    model_name: str = "credit_default"
    store_read_timeout_s: float = Field(10.0, gt=0)
    store_read_deadline_s: float = Field(20.0, gt=0)

    @classmethod
    def from_env(cls, environ=None):
        """Read every field from its upper-case environment variable; empty means unset."""
        env = os.environ if environ is None else environ
        return cls.model_validate({name: env[name.upper()] for name in cls.model_fields
                                   if env.get(name.upper(), "") != ""})


class ScoreSettings(ModelSettings):
    """Environment variables of the `score` function (names exactly as in Terraform)."""

    model_version: str | None = Field(None, description="pin a version instead of following current.json")
    # onnxruntime sizes its thread pools from the host's cores, not the container's CPU limit.
    ort_intra_op_threads: int = Field(1, ge=1)
    ort_inter_op_threads: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, gt=0)
    # After a failed load at cold start, wait at least this long before trying the store again.
    load_retry_s: float = Field(5.0, ge=0)
    # Local runs: also append every prediction record to this JSONL file.
    prediction_log: str | None = Field(None, json_schema_extra={"local_only": True})
    # Salt for hashing applicant ids in the prediction log (from Secret Manager in the cloud).
    # Unset: a random salt per instance, so ids in the log cannot be linked at all.
    applicant_id_salt: str | None = None


class DriftSettings(ModelSettings):
    """Environment variables of the `drift_check` function (names exactly as in Terraform)."""

    # BigQuery jobs (reading the prediction log or batch scores, writing drift_reports) run here.
    google_cloud_project: str | None = None
    max_body_bytes: int = Field(16 * 1024, gt=0)
    # The source a POST without "source" checks, e.g. bq://PROJECT.DATASET.predictions.
    drift_source: str | None = None
    # Where reports go (folder or gs://bucket/prefix); unset: <model_store>/<model_name>/reports/drift.
    reports_dir: str | None = None
    # bq://project.dataset.drift_reports; unset: a Parquet file beside the reports.
    drift_reports_table: str | None = None
