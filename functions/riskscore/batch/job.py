"""The `batch_score` request: a job over a source, or inline records; both answered with the
run's summary (inline: plus one result per record, in order)."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from riskscore.errors import InvalidRequest
from riskscore.contract.request import validate
from riskscore.settings import BatchSettings
from riskscore.batch.sinks import parse_destination
from riskscore.batch.sources import parse_source

__all__ = ["Job", "Query", "parse", "score_records", "today"]


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: StrictStr = Field(min_length=1)


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: StrictStr | Query
    output: StrictStr = Field(min_length=1)
    run_date: date | None = None


def today() -> date:
    return datetime.now(timezone.utc).date()


def parse(body: Any, settings: BatchSettings) -> Job | list:
    """A Job, or the list of inline records; InvalidRequest naming the offending field."""
    if isinstance(body, dict) and "records" in body:
        extra = sorted(set(body) - {"records"})
        records = body["records"]
        if extra:
            raise InvalidRequest(f"invalid request: {', '.join(extra)}",
                                 details=[{"field": k, "problem": "unknown field"} for k in extra])
        if not isinstance(records, list) or not records:
            raise InvalidRequest("invalid request: records", details=[{"field": "records", "problem": "expected a non-empty list"}])
        if len(records) > settings.max_inline_records:
            raise InvalidRequest(f"invalid request: records holds {len(records)}; at most {settings.max_inline_records}",
                                 details=[{"field": "records", "problem": f"more than {settings.max_inline_records} records"}])
        return records
    job = validate(Job, body)
    parse_source(job.input.model_dump() if isinstance(job.input, Query) else job.input)
    parse_destination(job.output)
    return job


def score_records(records: list, model) -> dict:
    """Inline records -> one result per record, in order: `score`'s response body (without
    request_id), or `score`'s 400 body for a record that does not validate."""
    started = time.perf_counter()
    results: list[dict | None] = [None] * len(records)
    valid = []
    for i, record in enumerate(records):
        try:
            valid.append((i, validate(model.request_model, record)))
        except InvalidRequest as exc:
            results[i] = exc.to_dict()
    if valid:
        rows = [req.features.model_dump() for _, req in valid]
        scored = model.score_rows(rows, [req.exposure for _, req in valid])
        for (i, req), result in zip(valid, scored):
            results[i] = {"applicant_id": req.applicant_id, **result, "model_version": model.version}
    seconds = time.perf_counter() - started
    return {"rows_in": len(records), "rows_scored": len(valid), "rows_rejected": len(records) - len(valid),
            "output": None, "rejects": None, "model_version": model.version, "run_date": today().isoformat(),
            "seconds": round(seconds, 3), "rows_per_second": round(len(records) / seconds, 1) if seconds else None,
            "results": results}
