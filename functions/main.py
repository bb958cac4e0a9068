"""Cloud Functions entry points. Handlers only parse, call the scorer and serialise.

Imports onnxruntime, numpy, pydantic and the Google clients only: never training code,
xgboost, scikit-learn or pandas (cold start and memory).
"""

from __future__ import annotations

import gc
import os
import re
import time
import uuid

# Cold start: what this module imports and builds (numpy, pydantic and its schemas, Starlette,
# the settings) lives as long as the process, yet allocating it triggers collections that
# scan the whole growing heap over and over; with the collector off until the end of this
# module, about 20 ms less CPU at start (docs/benchmarks.md). Switched back on below.
gc.disable()

import functions_framework  # noqa: E402
import functions_framework.aio  # noqa: E402
from starlette.responses import Response  # noqa: E402

# Cold start: pydantic scans every installed distribution's entry points for plugins when the
# first model class is built (2 ms here, more with more packages); the functions use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# Cold start: numpy's OpenBLAS starts a thread per host core at import (the host's cores, not
# the instance's CPU limit), and they spin while the rest of the start runs: about 27 ms of CPU
# here (docs/benchmarks.md). The functions never multiply matrices in numpy: onnxruntime does
# the model arithmetic in its own, configured threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from riskscore.serving import console, trace  # noqa: E402 - after the lines above: before numpy, any model class
from riskscore.io import logline  # noqa: E402
from riskscore.errors import MethodNotAllowed, RiskScoreError  # noqa: E402
from riskscore.serving.http import error_response, read_json, read_json_asgi, respond  # noqa: E402
from riskscore.serving.prediction_log import PredictionLog  # noqa: E402
from riskscore.contract.request import validate  # noqa: E402
from riskscore.model.scorer import Scorer  # noqa: E402
from riskscore.settings import BatchSettings, DriftSettings, ScoreSettings  # noqa: E402

# The function this instance serves: the runtime sets FUNCTION_TARGET, and functions-framework
# from its --target; unset when main.py is imported outside functions-framework.
_TARGET = os.environ.get("FUNCTION_TARGET")
SETTINGS = ScoreSettings.from_env()
SCORER = Scorer(SETTINGS)
PREDICTIONS = PredictionLog(SETTINGS)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a caller's id is echoed only if it is safe to log

# Cold start: functions-framework imports this file in gunicorn's master and forks the worker
# that serves. The model (and onnxruntime, which is not fork-safe) is loaded once, in the
# worker, right after the fork and in the background; a first request waits for it. Without a
# fork (the test client, `--debug`), the first request loads it.
# Only where this instance serves `score` (or FUNCTION_TARGET is unset): a batch or drift
# instance never loads the score model.
# Right before the fork, everything the master built moves to the collector's permanent
# generation (gc.freeze): the worker's collections, during the model load and then per
# request, never scan those objects again, nor copy their pages by touching them.
if _TARGET in (None, "score"):
    os.register_at_fork(before=gc.freeze, after_in_child=SCORER.load_in_background)

# Batch functions: pyarrow, the Google clients and the batch modules load on their first call,
# never on `score`'s path. Each instance reads the settings of the function it serves (all of
# them when _TARGET is unset), so a score instance never builds the batch or drift settings
# classes (cold start).
BATCH_SETTINGS = BatchSettings.from_env() if _TARGET in (None, "batch_score", "batch_score_gcs") else None
DRIFT_SETTINGS = DriftSettings.from_env() if _TARGET in (None, "drift_check") else None
gc.enable()
_BATCH_MODELS = None


def _batch_models():
    global _BATCH_MODELS
    if _BATCH_MODELS is None:
        from riskscore.batch.model import PinnedModels

        _BATCH_MODELS = PinnedModels(BATCH_SETTINGS)
    return _BATCH_MODELS


def model_info(model) -> dict:
    m = model.manifest
    return {"status": "ok", "name": m["name"], "version": m["version"], "created_at": m["created_at"],
            "features": m["features"], "metrics": m["metrics"], "rating_bands": m["rating_bands"],
            "scaling": m["scaling"], "models": sorted(m["models"])}


@functions_framework.aio.http
async def score(request):
    """POST a JSON applicant -> the credit decision; GET -> health and model information
    (JSON), or the scoring console for a browser (`Accept: text/html`, riskscore/console.py).

    An ASGI function (a Starlette request; functions-framework serves it with gunicorn's
    uvicorn worker): the scoring itself is a fraction of a millisecond of CPU and runs on the
    event loop, which keeps no thread-pool hand-off per request. Every log line of the request
    (the prediction, any error) carries its Cloud Trace ids."""
    with logline.context(trace.log_fields(request.headers, SETTINGS.google_cloud_project)):
        body, status, headers = await _score(request)
    return Response(body, status, headers)


def _request_id(request) -> str:
    """The caller's X-Request-Id if it is safe to log and echo, else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


async def _score(request):
    started = time.perf_counter()
    request_id = _request_id(request)
    try:
        if request.method == "GET":  # a browser gets the console page, other clients JSON
            model = SCORER.ensure_loaded()
            page = console.html_response(request.headers.get("Accept"), request.query_params.get("view"), model)
            return page or respond(model_info(model), headers={"Vary": "Accept"})
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body (or GET for model information); got {request.method}")
        body = await read_json_asgi(request, SETTINGS.max_body_bytes)
        model = SCORER.ensure_loaded()
        req = validate(model.request_model, body)
        features = req.features.model_dump()
        include = {p.strip() for p in request.query_params.get("include", "").split(",")}
        result = SCORER.score(features, req.exposure, include_embedding="embedding" in include)
        response = {"request_id": request_id, "applicant_id": req.applicant_id, **result}
        PREDICTIONS.write(request_id=request_id, model_version=result["model_version"],
                          applicant_id=req.applicant_id, features=features,
                          outputs={k: v for k, v in result.items() if k not in ("explanation", "model_version")},
                          latency_ms=(time.perf_counter() - started) * 1000)
        return respond(response, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=SETTINGS.load_retry_s, request_id=request_id,
                              allow="GET, POST")


@functions_framework.http
def batch_score(request):
    """POST {"input", "output", "run_date"} -> the run's summary; or {"records": [...]} -> one
    result per record. An input above DATAFLOW_MIN_ROWS -> 202 and the Dataflow job scoring it
    (riskscore.batch.route). Errors: 400 (bad body), 404 (no input), 422 (unusable input or
    output), 503 (model store or Dataflow launch failed)."""
    request_id = _request_id(request)
    try:
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body; got {request.method}")
        from riskscore.batch import job, route, run

        body = read_json(request, BATCH_SETTINGS.max_body_bytes)
        parsed = job.parse(body, BATCH_SETTINGS)
        model = _batch_models().pin()  # the whole run uses this version
        if isinstance(parsed, list):
            result = job.score_records(parsed, model)
            summary = {k: v for k, v in result.items() if k != "results"}
        else:
            source = parsed.input.model_dump() if isinstance(parsed.input, job.Query) else parsed.input
            run_date = parsed.run_date or job.today()
            launched = route.route(source, parsed.output, run_date, model.version, BATCH_SETTINGS)
            if launched is not None:  # too large for one instance: a Dataflow job scores it
                logline.emit("INFO", "batch run on dataflow", log_type="batch_dataflow", request_id=request_id, **launched)
                return respond(launched, status=202, headers={"X-Request-Id": request_id})
            result = summary = run.run(source, parsed.output, run_date, model, BATCH_SETTINGS)
        logline.emit("INFO", "batch run", log_type="batch_run", request_id=request_id, **summary)
        return respond(result, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=BATCH_SETTINGS.store_read_deadline_s, request_id=request_id,
                              allow="POST")


@functions_framework.cloud_event
def batch_score_gcs(event):
    """A Parquet/CSV object finalized under `incoming/` -> `scored/<name>/run_date=…/` in the
    same bucket. Any other object (the function's own outputs included) is acknowledged and
    ignored, so the function never triggers itself; a redelivered event rewrites the same output."""
    from riskscore.batch import gcs_event, route, run

    target = gcs_event.target(event.data or {})
    if target is None:
        logline.emit("INFO", "batch event ignored", log_type="batch_event", object=gcs_event.describe(event.data or {}))
        return
    try:
        model = _batch_models().pin()
        launched = route.route(target.source, target.output, target.run_date, model.version, BATCH_SETTINGS)
        if launched is not None:
            logline.emit("INFO", "batch run on dataflow", log_type="batch_dataflow", event_id=event["id"], **launched)
            return
        summary = run.run(target.source, target.output, target.run_date, model, BATCH_SETTINGS)
    except RiskScoreError as exc:
        if exc.status >= 500:
            raise  # worth a redelivery
        # A bad file stays bad: say so once, and acknowledge the event.
        logline.emit("ERROR", "batch event failed", log_type="batch_event", object=target.source, error=exc.code,
            reason=exc.message, details=exc.details)
        return
    logline.emit("INFO", "batch run", log_type="batch_run", event_id=event["id"], **summary)


@functions_framework.http
def drift_check(request):
    """POST {"source", "start", "end"} -> run a drift check, answer its JSON report.
    GET -> the latest report (`?window=W` one window; `?index=1` the list of reports;
    `?format=html` the page instead of JSON)."""
    from riskscore.drift import report as drift_report  # pyarrow and the report layer: only this function pays

    try:
        if request.method == "GET":
            html = request.args.get("format") == "html"
            if request.args.get("index"):
                if html:
                    return drift_report.index_html(DRIFT_SETTINGS), 200, {"Content-Type": "text/html; charset=utf-8"}
                return respond({"reports": drift_report.Reports(DRIFT_SETTINGS).read_json("index.json", [])})
            report, index = drift_report.latest(DRIFT_SETTINGS, request.args.get("window"))
            if html:
                return (drift_report.render_page(report, index), 200,
                        {"Content-Type": "text/html; charset=utf-8"})
            return respond(report)
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST to run a check (or GET for reports); got {request.method}")
        body = read_json(request, DRIFT_SETTINGS.max_body_bytes) if request.content_length else {}
        return respond(drift_report.run(DRIFT_SETTINGS, body))
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, allow="GET, POST")
