"""The body checks both transports share (riskscore.serving.http): declared length, media type and
charset are judged before a byte is read; the ASGI reader stops at the limit."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from riskscore.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from riskscore.serving.http import check_body_headers, read_json_asgi

LIMIT = 100


@pytest.mark.parametrize("content_type, length, error, match", [
    ("application/json", "101", PayloadTooLarge, "101 bytes; the limit is 100"),
    ("application/json", "ten", InvalidRequest, "Content-Length must be a number of bytes; got 'ten'"),
    ("application/json", "-1", InvalidRequest, "Content-Length must be a number"),
    ("application/json", "\u0661\u0662", InvalidRequest, "Content-Length must be a number"),  # Arabic-Indic digits
    ("text/plain", "10", UnsupportedMediaType, "expected Content-Type application/json, got 'text/plain'"),
    (None, None, UnsupportedMediaType, "got 'none'"),
    ("application/json; charset=utf-16", None, UnsupportedMediaType, "expected a UTF-8 body, got charset 'utf-16'"),
], ids=["over the limit", "not a number", "negative", "non-ASCII digits", "text", "no type", "utf-16"])
def test_headers_that_refuse_the_body(content_type, length, error, match):
    with pytest.raises(error, match=match):
        check_body_headers(content_type, length, LIMIT)


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=UTF-8", "application/json;charset=utf8"])
def test_headers_that_accept_the_body(content_type):
    check_body_headers(content_type, "100", LIMIT)


def _request(chunks: list[bytes], headers: dict[str, str]) -> Request:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    return Request(scope, receive)


def test_an_undeclared_body_over_the_limit_is_refused_while_it_streams():
    chunks = [b'{"a": "' + b"x" * 60, b"x" * 60 + b'"}']  # chunked: no Content-Length
    with pytest.raises(PayloadTooLarge, match="over the limit of 100 bytes"):
        asyncio.run(read_json_asgi(_request(chunks, {"Content-Type": "application/json"}), LIMIT))


def test_a_body_in_chunks_is_decoded_whole():
    chunks = [b'{"features": ', b'{"age": 42}}']
    body = asyncio.run(read_json_asgi(_request(chunks, {"Content-Type": "application/json"}), LIMIT))
    assert body == {"features": {"age": 42}}


def test_a_client_that_disconnects_mid_body_gets_a_400_naming_the_body():
    messages = [{"type": "http.request", "body": b'{"a"', "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}
    with pytest.raises(InvalidRequest, match="body: the client disconnected"):
        asyncio.run(read_json_asgi(Request(scope, receive), LIMIT))
