"""The prediction log: one Cloud Logging JSON line per scored request (routed to BigQuery by
a log sink) and, locally, the same record appended to a JSONL file."""

from __future__ import annotations

import hashlib
import secrets
import sys
from datetime import datetime, timezone

from riskscore.io import logline
from riskscore.settings import ScoreSettings

__all__ = ["PredictionLog"]


class PredictionLog:
    def __init__(self, settings: ScoreSettings, stream=None):
        self._salt = (settings.applicant_id_salt or secrets.token_hex(16)).encode()
        self._path = settings.prediction_log
        self._stream = stream or sys.stdout

    def hash_id(self, applicant_id: str | None) -> str | None:
        if applicant_id is None:
            return None
        return hashlib.sha256(self._salt + applicant_id.encode()).hexdigest()

    def write(self, *, request_id: str, model_version: str, applicant_id: str | None, features: dict,
              outputs: dict, latency_ms: float) -> None:
        # The one writer of log lines: same lock as every other line, the request's trace fields.
        # `time` (ISO 8601 UTC): when the prediction was made, for drift windows over a local
        # log; Cloud Logging takes it as the entry's timestamp.
        logline.emit("INFO", "prediction", stream=self._stream, copy_to=self._path, log_type="prediction",
                     time=datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                     request_id=request_id, model_version=model_version,
                     applicant_id_hash=self.hash_id(applicant_id), features=features, outputs=outputs,
                     latency_ms=round(latency_ms, 3))
