"""The body of the `score` function: a Starlette request in, (body, status, headers) out.

GET answers health and model information (JSON) or, for a browser, the console; POST scores
one applicant and writes its prediction log line. Every failure leaves as JSON (never a bare
500), through `riskscore.serving.http.error_response`.
"""

from __future__ import annotations

import time

from riskscore.contract.request import validate
from riskscore.errors import MethodNotAllowed
from riskscore.model.scorer import Scorer
from riskscore.serving import console
from riskscore.serving.http import error_response, read_json_asgi, request_id_of, respond
from riskscore.serving.prediction_log import PredictionLog
from riskscore.settings import ScoreSettings

__all__ = ["model_info", "score"]


def model_info(model) -> dict:
    m = model.manifest
    return {"status": "ok", "name": m["name"], "version": m["version"], "created_at": m["created_at"],
            "features": m["features"], "metrics": m["metrics"], "rating_bands": m["rating_bands"],
            "scaling": m["scaling"], "models": sorted(m["models"])}


async def score(request, scorer: Scorer, predictions: PredictionLog, settings: ScoreSettings):
    started = time.perf_counter()
    request_id = request_id_of(request.headers)
    try:
        if request.method == "GET":  # a browser gets the console page, other clients JSON
            model = scorer.ensure_loaded()
            page = console.html_response(request.headers.get("Accept"), request.query_params.get("view"), model)
            return page or respond(model_info(model), headers={"Vary": "Accept"})
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST with a JSON body (or GET for model information); got {request.method}")
        body = await read_json_asgi(request, settings.max_body_bytes)
        model = scorer.ensure_loaded()
        req = validate(model.request_model, body)
        features = req.features.model_dump()
        include = {p.strip() for p in request.query_params.get("include", "").split(",")}
        result = scorer.score(features, req.exposure, include_embedding="embedding" in include)
        response = {"request_id": request_id, "applicant_id": req.applicant_id, **result}
        predictions.write(request_id=request_id, model_version=result["model_version"],
                          applicant_id=req.applicant_id, features=features,
                          outputs={k: v for k, v in result.items() if k not in ("explanation", "model_version")},
                          latency_ms=(time.perf_counter() - started) * 1000)
        return respond(response, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=settings.load_retry_s, request_id=request_id,
                              allow="GET, POST")
