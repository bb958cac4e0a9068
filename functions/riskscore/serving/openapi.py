"""OpenAPI document of the `score` function, generated from the same pydantic models that
validate requests, plus response models describing what the handler returns."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from riskscore.contract.request import request_model
from riskscore.contract.schema import FeatureSpec, StrictModel

__all__ = ["Anomaly", "ErrorDetail", "ErrorResponse", "Reason", "ScoreResponse", "Segment",
           "openapi_document"]


class Reason(StrictModel):
    feature: str
    value: float | str | None
    contribution: float = Field(description="log-odds added to the PD by this feature (> 0)")
    text: str


class Segment(StrictModel):
    id: int
    name: str


class Anomaly(StrictModel):
    score: float
    flag: bool


class ScoreResponse(StrictModel):
    request_id: str
    applicant_id: str | None
    model_version: str
    pd: float = Field(ge=0, le=1, description="probability of default within 12 months")
    score: float
    rating: str
    lgd: float | None = Field(None, ge=0, le=1)
    exposure: float | None = None
    expected_loss: float | None = Field(None, description="PD x LGD x exposure; null without exposure")
    segment: Segment | None = None
    anomaly: Anomaly | None = None
    reasons: list[Reason] = Field(max_length=4)
    explanation: str
    embedding: list[float] | None = Field(None, description="only with ?include=embedding")


class ErrorDetail(StrictModel):
    field: str
    problem: str


class ErrorResponse(StrictModel):
    error: str
    message: str
    details: list[ErrorDetail] | None = None
    request_id: str | None = None


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_document(features: list[FeatureSpec], title: str = "credit-risk score function") -> dict[str, Any]:
    """OpenAPI 3.1 for POST / (score) and GET / (model information)."""
    schemas: dict[str, Any] = {}
    for model in (request_model(features), ScoreResponse, ErrorResponse):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    errors = {str(code): {"description": text, "content": {"application/json": {"schema": _ref("ErrorResponse")}}}
              for code, text in ((400, "invalid content: every offending field is named"),
                                 (405, "method not allowed"), (413, "body too large"),
                                 (415, "content type is not application/json"),
                                 (503, "model store unavailable or artifact failed verification; see Retry-After"))}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": {"/": {
            "post": {
                "operationId": "score",
                "parameters": [{"name": "include", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": ["embedding"]}}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("ScoreRequest")}}},
                "responses": {"200": {"description": "the credit decision",
                                      "content": {"application/json": {"schema": _ref("ScoreResponse")}}},
                              **errors}},
            "get": {"operationId": "modelInfo",
                    "description": "JSON model information; a browser (Accept: text/html) gets the scoring "
                                   "console page instead (riskscore/serving/console.py)",
                    "parameters": [{"name": "view", "in": "query", "required": False,
                                    "description": "console: the console page whatever the Accept header; "
                                                   "model-card: the served version's model card",
                                    "schema": {"type": "string", "enum": ["console", "model-card"]}}],
                    "responses": {"200": {"description": "health and model information, or a page",
                                          "content": {"application/json": {"schema": {"type": "object"}},
                                                      "text/html": {"schema": {"type": "string"}}}},
                                  "400": {**errors["400"], "description": "unknown view"},
                                  "404": {"description": "the served version has no model card",
                                          "content": {"application/json": {"schema": _ref("ErrorResponse")}}},
                                  "503": errors["503"]}}}},
        "components": {"schemas": schemas},
    }
