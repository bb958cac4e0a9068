"""The body of the `score` function: a Starlette request in, (body, status, headers) out.

GET answers health and model information (JSON) or, for a browser, the console; POST scores
one applicant and writes its prediction log line. Every failure leaves as JSON (never a bare
500), through `riskscore.serving.http.error_response`.
"""

from __future__ import annotations

import time

from riskscore.contract.request import validate
from riskscore.errors import MethodNotAllowed
from riskscore.model.challenger import Challenger
from riskscore.model.scorer import Scorer
from riskscore.serving import console
from riskscore.serving.http import error_response, read_json_asgi, request_id_of, respond
from riskscore.serving.narrative import Narrator
from riskscore.serving.prediction_log import PredictionLog
from riskscore.settings import ScoreSettings

__all__ = ["model_info", "score", "served_openapi"]


def model_info(model, challenger: Challenger | None = None) -> dict:
    m = model.manifest
    info = {"status": "ok", "name": m["name"], "version": m["version"], "created_at": m["created_at"],
            "features": m["features"], "metrics": m["metrics"], "rating_bands": m["rating_bands"],
            "scaling": m["scaling"], "models": sorted(m["models"])}
    if challenger is not None and challenger.enabled:
        info["challenger"] = {"version": challenger.version, "status": challenger.status}
    return info


def served_openapi(model) -> dict:
    """The OpenAPI document of the loaded version, from its manifest's features (built once
    per version: the request schema is the one that validates this version's requests)."""
    doc = getattr(model, "openapi", None)
    if doc is None:
        # Imported here: the response models are built on this rare path, never at cold start.
        from riskscore.serving.openapi import openapi_document

        doc = model.openapi = openapi_document(model.features, title=f"{model.manifest['name']} score function",
                                               version=model.version)
    return doc


async def score(request, scorer: Scorer, predictions: PredictionLog, settings: ScoreSettings, narrator: Narrator,
                challenger: Challenger | None = None):
    """`?include=narrative` adds the narrative (riskscore.serving.narrative), written after the
    prediction is logged; whatever happens to it, the decision is answered. `challenger`:
    MODEL_CHALLENGER_VERSION, scored in shadow; its decision goes to the log line only."""
    started = time.perf_counter()
    request_id = request_id_of(request.headers)
    try:
        if request.method == "GET":  # a browser gets the console page, other clients JSON
            model = scorer.ensure_loaded()
            if request.query_params.get("view") == "openapi" or request.url.path.endswith("/openapi.json"):
                return respond(served_openapi(model))
            page = console.html_response(request.headers.get("Accept"), request.query_params.get("view"), model)
            return page or respond(model_info(model, challenger), headers={"Vary": "Accept"})
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
                          latency_ms=(time.perf_counter() - started) * 1000,
                          challenger=challenger.shadow(features) if challenger is not None else None)
        if "narrative" in include:
            outcome = await narrator.narrate(result, model.features, [b.name for b in model.scaling.bands],
                                             request_id=request_id)
            response.update(outcome.fields())
        return respond(response, headers={"X-Request-Id": request_id})
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=settings.load_retry_s, request_id=request_id,
                              allow="GET, POST")
