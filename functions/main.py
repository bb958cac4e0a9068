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

from riskscore import console
from riskscore.errors import MethodNotAllowed
from riskscore.http import error_response, read_json, respond
from riskscore.prediction_log import PredictionLog
from riskscore.request import validate
from riskscore.scorer import Scorer
from riskscore.settings import ScoreSettings

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
    """POST a JSON applicant -> the credit decision; GET -> health and model information
    (JSON), or the scoring console for a browser (`Accept: text/html`, riskscore/console.py)."""
    started = time.perf_counter()
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    try:
        if request.method == "GET":  # a browser gets the console page, other clients JSON
            model = SCORER.ensure_loaded()
            page = console.html_response(request, model)
            return page or respond(model_info(model), headers={"Vary": "Accept"})
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
