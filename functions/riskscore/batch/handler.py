"""The bodies of the `batch_score` (HTTP) and `batch_score_gcs` (Cloud Storage event) functions.

A run too large for one instance goes to Dataflow (`riskscore.batch.route`); otherwise it runs
here with the version pinned at its start. Every run leaves one log line.
"""

from __future__ import annotations

from riskscore.batch import gcs_event, job, route, run
from riskscore.batch.admit import admit
from riskscore.batch.model import PinnedModels
from riskscore.errors import MethodNotAllowed, RiskScoreError
from riskscore.io import deadlines
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
        deadlines.apply(settings)
        body = read_json(request, settings.max_body_bytes)
        parsed = job.parse(body, settings)
        if isinstance(parsed, list):
            model = models.pin()  # the whole run uses this version
            result = job.score_records(parsed, model)
            summary = {k: v for k, v in result.items() if k != "results"}
        else:
            source = parsed.input.model_dump() if isinstance(parsed.input, job.Query) else parsed.input
            source, output = admit(source, parsed.output, settings)  # before anything runs
            model = models.pin()  # the whole run uses this version
            run_date = parsed.run_date or job.today()
            launched = route.route(source, output, run_date, model.version, settings)
            if launched is not None:  # too large for one instance: a Dataflow job scores it
                emit("INFO", "batch run on dataflow", log_type="batch_dataflow", request_id=request_id, **launched)
                return respond(launched, status=202, headers={"X-Request-Id": request_id})
            result = summary = run.run(source, output, run_date, model, settings,
                                       challenger=models.challenger(), allow=parsed.allow)
        emit("INFO", "batch run", log_type="batch_run", request_id=request_id, **summary)
        return respond(result, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=max(settings.store_read_deadline_s, settings.service_deadline_s), request_id=request_id,
                              allow="POST")


def batch_score_gcs(event, models: PinnedModels, settings: BatchSettings) -> None:
    """A CloudEvent of a finalized object. Objects outside `incoming/`, and malformed events,
    are acknowledged and ignored; a file that cannot be scored is logged once at ERROR, moved
    to `quarantine/` with its reason, and acknowledged; an outage raises (a redelivery)."""
    deadlines.apply(settings)
    data = event.data
    problem = gcs_event.malformed(data)
    if problem:
        emit("WARNING", "batch event malformed", log_type="batch_event", object=gcs_event.describe(data),
             reason=problem)
        return
    target = gcs_event.target(data)
    allowed = settings.bucket_allowlist
    if target is None or (allowed is not None and data["bucket"] not in allowed):
        emit("INFO", "batch event ignored", log_type="batch_event", object=gcs_event.describe(data))
        return
    try:
        model = models.pin()
        launched = route.route(target.source, target.output, target.run_date, model.version, settings)
        if launched is not None:
            emit("INFO", "batch run on dataflow", log_type="batch_dataflow", event_id=event["id"], **launched)
            return
        summary = run.run(target.source, target.output, target.run_date, model, settings,
                          challenger=models.challenger())
    except Exception as exc:  # noqa: BLE001 - an outage is redelivered, anything else quarantined
        if isinstance(exc, RiskScoreError) and exc.status >= 500:
            raise  # worth a redelivery
        _quarantine(data, exc)
        return
    emit("INFO", "batch run", log_type="batch_run", event_id=event["id"], **summary)


def _quarantine(data: dict, exc: Exception) -> None:
    """A bad file stays bad: say so once, keep it aside, acknowledge the event."""
    from riskscore.batch.quarantine import quarantine

    if isinstance(exc, RiskScoreError):
        code, reason, details = exc.code, exc.message, exc.details
    else:  # a bug met on this file: its type only (a message may quote the file)
        code, reason, details = "internal_error", f"unexpected {type(exc).__name__} while scoring the file", []
    moved = quarantine(data["bucket"], data["name"], code, reason)
    emit("ERROR", "batch event failed", log_type="batch_event", object=gcs_event.describe(data), error=code,
         reason=reason, details=details, quarantined=moved)
