"""Which Cloud Storage events `batch_score_gcs` scores, and where the output goes.

Only objects under `incoming/` with a Parquet/CSV name are scored: `incoming/a/b.csv` ->
`gs://BUCKET/scored/a/b/run_date=YYYY-MM-DD/{scores,rejects}.parquet`. The run_date is the
object's creation date (UTC), so a redelivered event (same object) rewrites the same output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from riskscore.batch.job import today
from riskscore.io.files import EXTENSIONS

__all__ = ["Target", "describe", "target"]

INCOMING, SCORED = "incoming/", "scored"


@dataclass(frozen=True)
class Target:
    source: str
    output: str
    run_date: date


def describe(data: dict) -> str:
    return f"gs://{data.get('bucket', '?')}/{data.get('name', '?')}"


def target(data: dict) -> Target | None:
    """The run for a finalized object, or None for an object the function ignores."""
    bucket, name = data.get("bucket"), data.get("name") or ""
    if not bucket or not name.startswith(INCOMING) or name.endswith("/"):
        return None
    rest = name[len(INCOMING):]
    if any(part.startswith((".", "_")) for part in rest.split("/")):
        return None
    stem = next((rest[: -len(ext)] for ext in EXTENSIONS if rest.lower().endswith(ext)), None)
    if not stem:
        return None
    created = data.get("timeCreated")
    try:
        run_date = datetime.fromisoformat(created.replace("Z", "+00:00")).date() if created else today()
    except ValueError:
        run_date = today()
    return Target(f"gs://{bucket}/{name}", f"gs://{bucket}/{SCORED}/{stem}", run_date)
