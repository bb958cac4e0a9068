"""Cloud Functions entry points. Handlers only parse, call the scorer and serialise.

Imports onnxruntime, numpy, pydantic and the Google clients only: never training code,
xgboost, scikit-learn or pandas (cold start and memory).
"""

from __future__ import annotations

import functions_framework

from riskscore.errors import MethodNotAllowed, RiskScoreError
from riskscore.http import error_response, log, read_json, respond
from riskscore.request import request_model, validate
from riskscore.scorer import Scorer
from riskscore.settings import ScoreSettings

SETTINGS = ScoreSettings()
SCORER = Scorer(SETTINGS)
_request_models: dict[str, type] = {}

try:  # cold start: load and verify the current version once per instance
    SCORER.ensure_loaded()
except RiskScoreError as exc:
    log("ERROR", "model not loaded at cold start; will retry on requests", error=exc.message)


def _request_model(model):
    if model.version not in _request_models:
        _request_models[model.version] = request_model(model.features)
    return _request_models[model.version]


@functions_framework.http
def score(request):
    """POST {"applicant_id", "features": {...}} -> PD, score, rating and model version."""
    try:
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body; got {request.method}")
        body = read_json(request, SETTINGS.max_body_bytes)
        model = SCORER.ensure_loaded()
        req = validate(_request_model(model), body)
        result = SCORER.score(req.features.model_dump())
        return respond({"applicant_id": req.applicant_id, **result})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=SETTINGS.load_retry_s)
