"""Request models built from a version's feature schema (pydantic), and their error format."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from riskscore.errors import InvalidRequest
from riskscore.contract.schema import FeatureSpec, category_code

__all__ = ["features_model", "request_model", "validate"]


def _code_to_string(value: Any) -> Any:
    """A JSON integer sent for an integer-coded category is that category's string ("2")."""
    return category_code(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _feature_type(f: FeatureSpec) -> Any:
    if f.type == "numeric":
        # strict: "42" or true is a wrong type, not a number to guess at.
        kind = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=f.min, le=f.max,
                                      description=f.description)]
    elif f.unknown == "error" and f.categories:
        kind = Annotated[Literal[tuple(f.categories)], Field(description=f.description)]
    else:
        kind = Annotated[str, Field(strict=True, max_length=200, description=f.description)]
    if f.accepts_integer_codes:
        # The spec's codes may arrive as strings ("2") or JSON integers (2); both mean "2".
        closed = f.unknown == "error" and f.categories
        as_text = {"type": "string", **({"enum": list(f.categories)} if closed else {"maxLength": 200})}
        as_int = {"type": "integer", **({"enum": [int(c) for c in f.categories]} if closed else {})}
        kind = Annotated[kind, BeforeValidator(_code_to_string),
                         WithJsonSchema({"anyOf": [as_text, as_int], "description": f.description})]
    return (kind | None, None) if f.nullable else (kind, ...)


def features_model(features: list[FeatureSpec]) -> type[BaseModel]:
    return create_model("Features", __config__=ConfigDict(extra="forbid"),
                        **{f.name: _feature_type(f) for f in features})


def request_model(features: list[FeatureSpec]) -> type[BaseModel]:
    """POST body of `score`: applicant id, optional exposure and the features."""
    return create_model(
        "ScoreRequest", __config__=ConfigDict(extra="forbid"),
        applicant_id=(Annotated[str, Field(strict=True, min_length=1, max_length=128)] | None, None),
        exposure=(Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None, None),
        features=(features_model(features), ...))


def validate(model: type[BaseModel], body: Any) -> BaseModel:
    """Validate or raise InvalidRequest listing every offending field.

    Anything else validation may raise on odd input (pydantic wraps validator errors, but a
    value can still overflow or exhaust the stack) is a 400 naming the body, never a 500.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "body",
                    "problem": _problem(e)} for e in exc.errors(include_url=False)]
        fields = ", ".join(d["field"] for d in details)
        raise InvalidRequest(f"invalid request: {fields}", details=details) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        problem = f"cannot be validated: {type(exc).__name__}: {str(exc)[:200]}"
        raise InvalidRequest(f"invalid request body: {problem}",
                             details=[{"field": "body", "problem": problem}]) from None


def _problem(e: dict) -> str:
    if e["type"] == "missing":
        return "required field is missing"
    if e["type"] == "extra_forbidden":
        return "unknown field"
    given = e.get("input")
    shown = repr(given) if isinstance(given, (str, int, float, bool, type(None))) else type(given).__name__
    return f"{e['msg']}; got {shown[:80]}"
