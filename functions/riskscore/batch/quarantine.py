"""Poison files of `batch_score_gcs`: an object under `incoming/` that can never be scored is
moved to `quarantine/` (same name) with `<name>.reason.json` beside it, so the event can be
acknowledged once and the file is kept for a person to look at. `quarantine/` is outside
`incoming/`, so the move triggers nothing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from riskscore.batch.gcs_event import INCOMING

__all__ = ["QUARANTINE", "quarantine"]

QUARANTINE = "quarantine/"


def quarantine(bucket_name: str, name: str, error: str, reason: str) -> str:
    """Move gs://bucket/incoming/… to quarantine/… and write its reason; returns the new URI.
    An outage raises ServiceUnavailable (the event is then redelivered)."""
    from google.api_core import exceptions as gexc

    from riskscore.io.files import storage_client

    bucket = storage_client().bucket(bucket_name)
    target = QUARANTINE + name[len(INCOMING):]
    reason_doc = {"object": f"gs://{bucket_name}/{name}", "error": error, "reason": reason,
                  "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    bucket.blob(f"{target}.reason.json").upload_from_string(json.dumps(reason_doc, indent=1),
                                                            content_type="application/json")
    try:
        bucket.copy_blob(bucket.blob(name), bucket, target)
        bucket.blob(name).delete()
    except gexc.NotFound:  # already moved by an earlier delivery of the same event
        pass
    return f"gs://{bucket_name}/{target}"
