"""The bodies of the `batch_score` (HTTP) and `batch_score_gcs` (Cloud Storage event) functions.

A run too large for one instance goes to Dataflow (`riskscore.batch.route`); otherwise it runs
here with the version pinned at its start. Every run leaves one log line.
"""

from __future__ import annotations

from riskscore.batch import gcs_event, job, route, run
from riskscore.batch.model import PinnedModels
from riskscore.errors import MethodNotAllowed, RiskScoreError
from riskscore.io.logline import emit
from riskscore.serving.http import error_response, read_json, request_id_of, respond
from riskscore.settings import BatchSettings

__all__ = ["batch_score", "batch_score_gcs"]


def batch_score(request, models: PinnedModels, settings: BatchSettings):
    """A Flask request -> (body, status, headers): the run's summary, one result per record, or
    202 and the Dataflow job. Errors: 400, 404, 422, 503 (see README)."""
    request_id = request_id_of(request.headers)
    try:
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body; got {request.method}")
        body = read_json(request, settings.max_body_bytes)
        parsed = job.parse(body, settings)
        model = models.pin()  # the whole run uses this version
        if isinstance(parsed, list):
            result = job.score_records(parsed, model)
            summary = {k: v for k, v in result.items() if k != "results"}
        else:
            source = parsed.input.model_dump() if isinstance(parsed.input, job.Query) else parsed.input
            run_date = parsed.run_date or job.today()
            launched = route.route(source, parsed.output, run_date, model.version, settings)
            if launched is not None:  # too large for one instance: a Dataflow job scores it
                emit("INFO", "batch run on dataflow", log_type="batch_dataflow", request_id=request_id, **launched)
                return respond(launched, status=202, headers={"X-Request-Id": request_id})
            result = summary = run.run(source, parsed.output, run_date, model, settings)
        emit("INFO", "batch run", log_type="batch_run", request_id=request_id, **summary)
        return respond(result, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=settings.store_read_deadline_s, request_id=request_id,
                              allow="POST")


def batch_score_gcs(event, models: PinnedModels, settings: BatchSettings) -> None:
    """A CloudEvent of a finalized object. Objects outside `incoming/` are acknowledged and
    ignored; a bad file is logged once and acknowledged; an outage raises (a redelivery)."""
    target = gcs_event.target(event.data or {})
    if target is None:
        emit("INFO", "batch event ignored", log_type="batch_event", object=gcs_event.describe(event.data or {}))
        return
    try:
        model = models.pin()
        launched = route.route(target.source, target.output, target.run_date, model.version, settings)
        if launched is not None:
            emit("INFO", "batch run on dataflow", log_type="batch_dataflow", event_id=event["id"], **launched)
            return
        summary = run.run(target.source, target.output, target.run_date, model, settings)
    except RiskScoreError as exc:
        if exc.status >= 500:
            raise  # worth a redelivery
        # A bad file stays bad: say so once, and acknowledge the event.
        emit("ERROR", "batch event failed", log_type="batch_event", object=target.source, error=exc.code,
             reason=exc.message, details=exc.details)
        return
    emit("INFO", "batch run", log_type="batch_run", event_id=event["id"], **summary)
