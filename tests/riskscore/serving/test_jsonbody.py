"""The request-body decoder: its explicit limits and its policy, case by case. Every refusal
is an InvalidRequest (400) naming `body`; nothing else ever leaves `loads`."""

from __future__ import annotations

import codecs
import json

import pytest

from riskscore.errors import InvalidRequest
from riskscore.serving.jsonbody import MAX_DEPTH, MAX_NUMBER_CHARS, MAX_STRING_CHARS, loads

GOOD = {"applicant_id": "A-1", "features": {"age": 42, "housing": "own"}}
GOOD_TEXT = json.dumps(GOOD)


def nested(depth: int, open_="[", close="]") -> bytes:
    return ('{"features": {"age": ' + open_ * depth + close * depth + "}}").encode()


def number(literal: str) -> bytes:
    return ('{"features": {"age": ' + literal + "}}").encode()


REJECTED = {
    # nesting: the decoder recurses; the first 500 (a few thousand `[`)
    "3000 nested arrays": (nested(3000), "nested more than 32 levels"),
    "unbalanced 3000 [": (b'{"a": ' + b"[" * 3000, "nested more than 32 levels"),
    "nested objects": (nested(MAX_DEPTH, '{"k":', "}").replace(b"}}}", b"1}}}", 1), "nested more than"),
    # numbers: int() refuses more than 4,300 digits; the second 500
    "5000-digit integer": (number("9" * 5000), "5000 characters long"),
    "4300-digit integer": (number("1" * 4300), "4300 characters long"),
    "long fraction": (number("0." + "1" * MAX_NUMBER_CHARS), "characters long"),
    "long exponent": (number("1e" + "9" * MAX_NUMBER_CHARS), "characters long"),
    "negative long integer in a list": (b'{"x": [-' + b"7" * 500 + b"]}", "501 characters long"),
    # encodings
    "UTF-16 with BOM": (GOOD_TEXT.encode("utf-16"), "UTF-16"),
    "UTF-16-LE without BOM": (GOOD_TEXT.encode("utf-16-le"), "UTF-16 or UTF-32"),
    "UTF-16-BE without BOM": (GOOD_TEXT.encode("utf-16-be"), "UTF-16 or UTF-32"),
    "UTF-32 with BOM": (GOOD_TEXT.encode("utf-32"), "UTF-32"),
    "UTF-32-BE without BOM": (GOOD_TEXT.encode("utf-32-be"), "UTF-16 or UTF-32"),
    "Latin-1 byte in a string": ('{"features": {"housing": "caf\u00e9"}}'.encode("latin-1"), "not valid UTF-8"),
    "overlong UTF-8": (b'{"a": "\xc0\xaf"}', "not valid UTF-8"),
    "UTF-8-encoded surrogate": (b'{"a": "\xed\xa0\x80"}', "not valid UTF-8"),
    "truncated UTF-8": (b'{"a": "\xe2\x82"}', "not valid UTF-8"),
    # strings
    "escaped NUL in a value": (b'{"applicant_id": "A\\u0000"}', "control character (U+0000)"),
    "escaped NUL in a key": (b'{"a\\u0000b": 1}', "key 'a\\x00b' contains a control character"),
    "escaped DEL": (b'{"applicant_id": "\\u007f"}', "U+007F"),
    "raw control character": (b'{"applicant_id": "A\x01"}', "Invalid control character"),
    "raw tab in a string": (b'{"applicant_id": "A\tB"}', "Invalid control character"),
    "lone surrogate": (b'{"applicant_id": "\\ud800"}', "lone surrogate (U+D800)"),
    "lone low surrogate in a list": (b'{"x": ["ok", "\\udfff"]}', "lone surrogate (U+DFFF)"),
    "control character at top level": (b'"\\u0007"', "the body contains a control character"),
    "long string value": (json.dumps({"applicant_id": "x" * (MAX_STRING_CHARS + 1)}).encode(), "1001 characters"),
    "long key": (json.dumps({"k" * 5000: 1}).encode(), "5000 characters"),
    # duplicate keys: ambiguous
    "duplicate top-level key": (b'{"features": {}, "features": {"age": 42}}', "duplicate key 'features'"),
    "duplicate feature, same value": (b'{"features": {"age": 42, "age": 42}}', "duplicate key 'age'"),
    # plain syntax errors
    "empty": (b"", "not valid JSON"),
    "trailing data": (GOOD_TEXT.encode() + b" {}", "Extra data"),
    "single quotes": (b"{'a': 1}", "not valid JSON"),
    "NUL byte after valid JSON": (GOOD_TEXT.encode() + b"\x00", "not valid JSON"),
}


@pytest.mark.parametrize("raw, problem", REJECTED.values(), ids=REJECTED.keys())
def test_rejected_bodies_are_a_400_naming_the_body(raw, problem):
    with pytest.raises(InvalidRequest) as info:
        loads(raw)
    assert info.value.status == 400
    assert info.value.details[0]["field"] == "body"
    assert problem in info.value.details[0]["problem"], info.value.details
    assert info.value.message.startswith("invalid request body: ")


ACCEPTED = {
    "plain": (GOOD_TEXT.encode(), GOOD),
    "UTF-8 byte-order mark is ignored": (codecs.BOM_UTF8 + GOOD_TEXT.encode(), GOOD),
    "non-ASCII UTF-8": ('{"a": "caf\u00e9 \u20ac \U0001f600"}'.encode(), {"a": "caf\u00e9 \u20ac \U0001f600"}),
    "escaped surrogate pair": (b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),
    "depth at the limit": (nested(MAX_DEPTH - 2), {"features": {"age": json.loads("[" * 30 + "]" * 30)}}),
    "brackets inside strings do not count": (('{"a": "' + "[" * 500 + '"}').encode(), {"a": "[" * 500}),
    "escaped quote then brackets in a string": (b'{"a": "\\"[[[[", "b": 1}', {"a": '"[[[[', "b": 1}),
    "number at the length limit": (number("1" * MAX_NUMBER_CHARS), {"features": {"age": int("1" * MAX_NUMBER_CHARS)}}),
    "huge exponent decodes to infinity (validation rejects it)": (number("1e999999"),
                                                                  {"features": {"age": float("inf")}}),
    "tiny exponent decodes to zero": (number("1e-999999"), {"features": {"age": 0.0}}),
    "NaN literal decodes (validation rejects it)": (number("NaN"), None),
    "string at the length limit": (json.dumps({"a": "x" * MAX_STRING_CHARS}).encode(), {"a": "x" * MAX_STRING_CHARS}),
    "a long flat array": (("[" + ",".join(["0"] * 20_000) + "]").encode(), [0] * 20_000),
    "same key in different objects": (b'{"a": {"a": 1}}', {"a": {"a": 1}}),
    "whitespace around": (b" \r\n\t" + GOOD_TEXT.encode() + b"\n", GOOD),
}


@pytest.mark.parametrize("raw, expected", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_bodies_decode_like_json(raw, expected):
    value = loads(raw)
    if expected is None:
        assert value["features"]["age"] != value["features"]["age"]  # NaN
    else:
        assert value == expected
