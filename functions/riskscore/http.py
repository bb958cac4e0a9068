"""Transport helpers shared by the HTTP functions: body parsing and the one error mapping."""

from __future__ import annotations

import json
import traceback
from typing import Any

from . import jsonbody
from .errors import (
    PayloadTooLarge,
    RiskScoreError,
    UnsupportedMediaType,
)
from .logline import emit

JSON_HEADERS = {"Content-Type": "application/json"}


def read_json(request, max_bytes: int) -> Any:
    """The request's JSON body, or a RiskScoreError (413, 415 or 400) saying what was wrong.

    Decoding is `riskscore.jsonbody.loads`: explicit limits, and every malformed body a 400.
    """
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"body is {length} bytes; the limit is {max_bytes}")
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json":
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {mimetype or 'none'!r}")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"expected a UTF-8 body, got charset {charset[:40]!r}")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body is over the limit of {max_bytes} bytes")
    return jsonbody.loads(raw)


def respond(body: dict, status: int = 200, headers: dict | None = None):
    return json.dumps(body, allow_nan=False), status, {**JSON_HEADERS, **(headers or {})}


def error_response(exc: Exception, retry_after_s: float | None = None, request_id: str | None = None,
                   allow: str | None = None):
    """Map any exception to a JSON error. An unexpected one is a bug: logged with its
    traceback (`stack_trace`, which Error Reporting reads), answered 500 without internals."""
    if not isinstance(exc, RiskScoreError):
        log("ERROR", f"unhandled error: {exc!r}", error=repr(exc), request_id=request_id,
            stack_trace="".join(traceback.format_exception(exc)))
        exc = RiskScoreError("internal error")
    headers = {}
    if exc.status == 503:
        log("ERROR", "service unavailable", error=exc.code, reason=exc.message, request_id=request_id)
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, int(round(retry_after_s))))
    if exc.status == 405 and allow:
        headers["Allow"] = allow
    body = exc.to_dict()
    if request_id:
        body["request_id"] = request_id
        headers["X-Request-Id"] = request_id
    return respond(body, exc.status, headers)


def log(severity: str, message: str, **fields) -> None:
    """One structured line in Cloud Logging's JSON format."""
    emit(severity, message, **fields)
