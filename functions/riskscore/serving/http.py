"""Transport helpers shared by the HTTP functions: body parsing and the one error mapping.

`score` runs on functions-framework's ASGI stack (Starlette under gunicorn's uvicorn worker:
0.34–0.42 of the server CPU per request of its Flask/gthread stack, docs/benchmarks.md);
the batch and drift functions stay on Flask. Both read bodies through `check_body_headers`
and `decode_body`, and answer `(body, status, headers)` from `respond`/`error_response`.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from typing import Any

from riskscore.serving import jsonbody
from riskscore.errors import (
    InvalidRequest,
    PayloadTooLarge,
    RiskScoreError,
    UnsupportedMediaType,
)
from riskscore.io.logline import emit

__all__ = ["JSON_HEADERS", "check_body_headers", "decode_body", "error_response", "read_json",
           "read_json_asgi", "request_id_of", "respond"]

JSON_HEADERS = {"Content-Type": "application/json"}


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a caller's id is echoed only if it is safe to log


def request_id_of(headers) -> str:
    """The caller's X-Request-Id if it is safe to log and echo, else a new one."""
    given = headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def read_json(request, max_bytes: int) -> Any:
    """The JSON body of a Flask (WSGI) request, or a RiskScoreError (413, 415 or 400) saying
    what was wrong. Decoding is `riskscore.serving.jsonbody.loads`: explicit limits, and every
    malformed body a 400."""
    check_body_headers(request.headers.get("Content-Type"), request.headers.get("Content-Length"), max_bytes)
    return decode_body(request.stream.read(max_bytes + 1), max_bytes)


async def read_json_asgi(request, max_bytes: int) -> Any:
    """The same for a Starlette (ASGI) request: the body is read in chunks and refused as soon
    as it passes `max_bytes`, so a caller cannot make the instance buffer more than that."""
    # Imported here, like werkzeug below: the module imports without functions-framework's HTTP stacks
    # installed.
    from starlette.requests import ClientDisconnect

    check_body_headers(request.headers.get("Content-Type"), request.headers.get("Content-Length"), max_bytes)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"body is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequest("body: the client disconnected before sending all of it",
                             details=[{"field": "body", "problem": "incomplete"}]) from None
    return decode_body(b"".join(chunks), max_bytes)


def check_body_headers(content_type: str | None, content_length: str | None, max_bytes: int) -> None:
    """413 for a declared length over the limit, 415 for anything but UTF-8 JSON (werkzeug's
    header parser: the one Flask uses, so both transports read headers alike)."""
    from werkzeug.http import parse_options_header

    if content_length is not None:
        length = content_length.strip()
        if not length.isdigit() or not length.isascii():
            raise InvalidRequest(f"Content-Length must be a number of bytes; got {content_length[:40]!r}",
                                 details=[{"field": "Content-Length", "problem": "not a number"}])
        if int(length) > max_bytes:
            raise PayloadTooLarge(f"body is {int(length)} bytes; the limit is {max_bytes}")
    mimetype, params = parse_options_header(content_type or "")
    mimetype = mimetype.lower()
    if mimetype != "application/json":
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {mimetype[:80] or 'none'!r}")
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"expected a UTF-8 body, got charset {charset[:40]!r}")


def decode_body(raw: bytes, max_bytes: int) -> Any:
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
        emit("ERROR", f"unhandled error: {exc!r}", error=repr(exc), request_id=request_id,
            stack_trace="".join(traceback.format_exception(exc)))
        exc = RiskScoreError("internal error")
    headers = {}
    if exc.status == 503:
        emit("ERROR", "service unavailable", error=exc.code, reason=exc.message, request_id=request_id)
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, int(round(retry_after_s))))
    if exc.status == 405 and allow:
        headers["Allow"] = allow
    body = exc.to_dict()
    if request_id:
        body["request_id"] = request_id
        headers["X-Request-Id"] = request_id
    return respond(body, exc.status, headers)
