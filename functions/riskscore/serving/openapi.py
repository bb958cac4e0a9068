"""OpenAPI document of the `score` function, generated from the same pydantic models that
validate requests, plus response models describing what the handler returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from riskscore.contract.request import request_model
from riskscore.contract.schema import FeatureSpec, StrictModel

__all__ = ["Anomaly", "ErrorDetail", "ErrorResponse", "Reason", "ScoreResponse", "Segment",
           "openapi_document"]


class ErrorDetail(StrictModel):
    field: str
    problem: str


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
    lgd_source: Literal["model", "default"] | None = Field(
        None, description="model: the version's LGD model; default: the spec's lgd_default")
    exposure: float | None = Field(None, description="the request's exposure, echoed")
    expected_loss: float | None = Field(None, description="PD x LGD x exposure; null without exposure")
    segment: Segment | None = None
    anomaly: Anomaly | None = None
    reasons: list[Reason] = Field(max_length=4)
    explanation: str
    embedding: list[float] | None = Field(None, description="only with ?include=embedding")
    narrative: str | None = Field(None, description="only with ?include=narrative: a few sentences from the "
                                                    "decision's facts, by Gemini or the template explanation")
    narrative_source: Literal["gemini", "template"] | None = Field(None, description="only with ?include=narrative")
    narrative_reason: str | None = Field(None, description="why the template explanation stands in (with "
                                                           "narrative_source template), e.g. timeout")

    warnings: list[ErrorDetail] = Field(
        default_factory=list, description="what was scored other than as sent: a category never seen in "
                                          "training is scored as missing")


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


def openapi_document(features: list[FeatureSpec], title: str = "credit-risk score function",
                     version: str = "1") -> dict[str, Any]:
    """OpenAPI 3.1 for POST / (score) and GET / (model information), for the version whose
    features are `features` (`score` serves its loaded version's at `GET /?view=openapi`)."""
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
        "info": {"title": title, "version": version},
        "paths": {"/": {
            "post": {
                "operationId": "score",
                "parameters": [{"name": "include", "in": "query", "required": False,
                                "description": "comma-separated: embedding, narrative",
                                "schema": {"type": "string",
                                           "pattern": "^(embedding|narrative)(,(embedding|narrative))*$"}}],
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
                                                   "model-card: the served version's model card; openapi: "
                                                   "this document, for the served version's features",
                                    "schema": {"type": "string", "enum": ["console", "model-card", "openapi"]}}],
                    "responses": {"200": {"description": "health and model information, or a page",
                                          "content": {"application/json": {"schema": {"type": "object"}},
                                                      "text/html": {"schema": {"type": "string"}}}},
                                  "400": {**errors["400"], "description": "unknown view"},
                                  "404": {"description": "the served version has no model card",
                                          "content": {"application/json": {"schema": _ref("ErrorResponse")}}},
                                  "503": errors["503"]}}}},
        "components": {"schemas": schemas},
    }
