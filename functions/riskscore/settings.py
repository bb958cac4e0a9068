"""Settings of the score function, read once from the environment Terraform sets."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScoreSettings(BaseSettings):
    """Environment variables of the `score` function (names exactly as in Terraform)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

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
