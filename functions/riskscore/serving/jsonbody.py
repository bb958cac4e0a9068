"""A request body decoded as JSON under explicit limits.

`loads` either returns the decoded value or raises InvalidRequest (400) naming `body` and the
problem; no body, whatever its bytes, makes it raise anything else. Python's own decoder has
two ways to fail that are not `JSONDecodeError` (a RecursionError past the interpreter's depth
limit, a ValueError from int() past 4,300 digits), and accepts things a scoring API should
not: the limits below make every such case an explicit, documented rejection.

The policy (RFC 8259 where it speaks):

- Encoding: UTF-8 only (RFC 8259 section 8.1). A leading UTF-8 byte-order mark is ignored, as
  8.1 allows; a UTF-16 or UTF-32 body (recognised by its byte-order mark or its NUL bytes) is
  rejected, naming the encoding; any invalid UTF-8 sequence is rejected with its byte offset.
- Nesting: at most MAX_DEPTH arrays/objects inside each other (a valid request needs 2),
  checked by a scan before decoding, so the recursive decoder never gets near its limit.
- Numbers: a literal of at most MAX_NUMBER_CHARS characters (digits, sign, point, exponent).
  Exponents of any size decode (1e999 is infinity); validation then rejects a non-finite value
  naming the field, as it does the NaN/Infinity literals Python's decoder accepts.
- Strings and keys: at most MAX_STRING_CHARS characters, and none of U+0000-U+001F, U+007F
  (raw or escaped: they have no place in an identifier or a category, and break log readers)
  or a lone surrogate such as "\\ud800" (it cannot be encoded as UTF-8, so it could be neither
  hashed nor logged).
- Duplicate keys: rejected. RFC 8259 section 4 leaves their meaning open (Python keeps the
  last, other parsers the first), so a body two systems could read differently is ambiguous.

Limits are module constants: they describe what a JSON body may look like, not a deployment.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from riskscore.errors import InvalidRequest

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "MAX_STRING_CHARS", "loads"]

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 100
MAX_STRING_CHARS = 1000

_SHOWN = 40  # characters of an offending key shown in a message

# A JSON string token (unrolled loop: no backtracking) or a bracket; used for the depth scan.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_FORBIDDEN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_WIDE = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),  # before UTF-16: same prefix
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")]


class _Rejected(ValueError):
    """Raised inside the decoder's hooks; `loads` turns it into InvalidRequest."""


def loads(raw: bytes) -> Any:
    """The JSON value of `raw`, or InvalidRequest(details=[{"field": "body", ...}])."""
    try:
        text = _text(raw)
        _check_depth(text)
        value = _DECODER.decode(text)
        _check_value(value, "the body")
        return value
    except _Rejected as exc:
        problem = str(exc)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:  # unreachable after _check_depth; kept so no input can be a 500
        problem = f"nested more than {MAX_DEPTH} levels deep"
    except ValueError as exc:  # any other refusal of a hook or of the decoder
        problem = f"not acceptable JSON: {exc}"
    raise InvalidRequest(f"invalid request body: {problem}", details=[{"field": "body", "problem": problem}])


def _text(raw: bytes) -> str:
    for bom, name in _WIDE:
        if raw.startswith(bom):
            raise _Rejected(f"encoded as {name} (byte-order mark); send UTF-8")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    elif len(raw) >= 2 and (raw[0] == 0 or raw[1] == 0):  # JSON starts with ASCII: NULs mean UTF-16/32
        raise _Rejected("encoded as UTF-16 or UTF-32 (NUL bytes); send UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Rejected(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the common case: no scan needed
        return
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Rejected(f"nested more than {MAX_DEPTH} levels deep (at character {match.start()})")
        elif token in ("]", "}"):
            depth -= 1


def _number(parse):
    def hook(literal: str):
        if len(literal) > MAX_NUMBER_CHARS:
            raise _Rejected(f"a number literal is {len(literal)} characters long; "
                            f"at most {MAX_NUMBER_CHARS} are accepted")
        return parse(literal)
    return hook


def _string_problem(s: str, where: str) -> _Rejected:
    if len(s) > MAX_STRING_CHARS:
        return _Rejected(f"{where} is a string of {len(s)} characters; at most {MAX_STRING_CHARS} are accepted")
    bad = _FORBIDDEN.search(s).group()
    kind = "a lone surrogate" if "\ud800" <= bad <= "\udfff" else "a control character"
    return _Rejected(f"{where} contains {kind} (U+{ord(bad):04X})")


def _check_value(value: Any, where: str) -> None:
    """Strings directly in `value` (or in its arrays); objects were checked by _object."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS or _FORBIDDEN.search(value):
            raise _string_problem(value, where)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, where)


def _object(pairs: list[tuple[str, Any]]) -> dict:
    # Runs for every object of every body: the common case is kept to a few cheap checks.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Rejected(f"duplicate key {duplicate[:_SHOWN]!r} in an object")
    for key, value in pairs:
        if len(key) > MAX_STRING_CHARS or _FORBIDDEN.search(key):
            raise _string_problem(key, f"key {key[:_SHOWN]!r}")
        if value.__class__ is str:
            if len(value) > MAX_STRING_CHARS or _FORBIDDEN.search(value):
                raise _string_problem(value, f"the value of {key[:_SHOWN]!r}")
        elif value.__class__ is list:
            _check_value(value, f"the value of {key[:_SHOWN]!r}")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_number(int), parse_float=_number(float))
