"""Cloud Functions entry points. Handlers only parse, call the scorer and serialise.

Imports onnxruntime, numpy, pydantic and the Google clients only: never training code,
xgboost, scikit-learn or pandas (cold start and memory).
"""

from __future__ import annotations

import os
import re
import time
import uuid

import functions_framework

# Cold start: pydantic scans every installed distribution's entry points for plugins when the
# first model class is built (2 ms here, more with more packages); the functions use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from riskscore import logline, trace  # noqa: E402 - after the line above, before any model class
from riskscore.errors import MethodNotAllowed  # noqa: E402
from riskscore.http import error_response, read_json, respond  # noqa: E402
from riskscore.prediction_log import PredictionLog  # noqa: E402
from riskscore.request import validate  # noqa: E402
from riskscore.scorer import Scorer  # noqa: E402
from riskscore.settings import ScoreSettings  # noqa: E402

SETTINGS = ScoreSettings.from_env()
SCORER = Scorer(SETTINGS)
PREDICTIONS = PredictionLog(SETTINGS)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a caller's id is echoed only if it is safe to log

# Cold start: functions-framework imports this file in gunicorn's master and forks the worker
# that serves. The model (and onnxruntime, which is not fork-safe) is loaded once, in the
# worker, right after the fork and in the background; a first request waits for it. Without a
# fork (the test client, `--debug`), the first request loads it.
os.register_at_fork(after_in_child=SCORER.load_in_background)


def model_info(model) -> dict:
    m = model.manifest
    return {"status": "ok", "name": m["name"], "version": m["version"], "created_at": m["created_at"],
            "features": m["features"], "metrics": m["metrics"], "rating_bands": m["rating_bands"],
            "scaling": m["scaling"], "models": sorted(m["models"])}


@functions_framework.http
def score(request):
    """POST a JSON applicant -> the credit decision; GET -> health and model information.

    Every log line of the request (the prediction, any error) carries its Cloud Trace ids."""
    with logline.context(trace.log_fields(request.headers, SETTINGS.google_cloud_project)):
        return _score(request)


def _score(request):
    started = time.perf_counter()
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    try:
        if request.method == "GET":
            return respond(model_info(SCORER.ensure_loaded()))
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body (or GET for model information); got {request.method}")
        body = read_json(request, SETTINGS.max_body_bytes)
        model = SCORER.ensure_loaded()
        req = validate(model.request_model, body)
        features = req.features.model_dump()
        include = {p.strip() for p in request.args.get("include", "").split(",")}
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
