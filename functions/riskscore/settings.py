"""Settings of the score function, read once from the environment Terraform sets.

A plain pydantic model filled from `os.environ` (each field's name in upper case): it
validates exactly like pydantic-settings, without its ~45 ms and ~5 MiB of cold start.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class ScoreSettings(BaseModel):
    """Environment variables of the `score` function (names exactly as in Terraform)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_store: str = Field("models", description="local folder or gs://bucket/prefix")
    model_name: str = "credit_default"
    model_version: str | None = Field(None, description="pin a version instead of following current.json")
    # onnxruntime sizes its thread pools from the host's cores, not the container's CPU limit.
    ort_intra_op_threads: int = Field(1, ge=1)
    ort_inter_op_threads: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, gt=0)
    # After a failed load at cold start, wait at least this long before trying the store again.
    load_retry_s: float = Field(5.0, ge=0)
    store_read_timeout_s: float = Field(10.0, gt=0)
    store_read_deadline_s: float = Field(20.0, gt=0)
    # Local runs: also append every prediction record to this JSONL file.
    prediction_log: str | None = None
    # Salt for hashing applicant ids in the prediction log (from Secret Manager in the cloud).
    # Unset: a random salt per instance, so ids in the log cannot be linked at all.
    applicant_id_salt: str | None = None
    # Names traces in log lines (`projects/ID/traces/TRACE`) so Cloud Logging groups a request's
    # lines under it; Terraform sets it (gen2 Python runtimes do not). Unset: no trace fields.
    google_cloud_project: str | None = None

    @classmethod
    def from_env(cls, environ=None) -> "ScoreSettings":
        """Read every field from its upper-case environment variable; empty means unset."""
        env = os.environ if environ is None else environ
        return cls.model_validate({name: env[name.upper()] for name in cls.model_fields
                                   if env.get(name.upper(), "") != ""})
