"""Cloud Trace context of an HTTP request, as the fields Cloud Logging uses to group a
request's log lines under it.

A request may carry W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`)
or Google's `X-Cloud-Trace-Context` (`<32 hex trace id>/<decimal span id>;o=<0|1>`); Cloud Run
sets them on requests it traces. `traceparent` wins when both are valid, as in Google's own
logging library. A malformed header is ignored, never an error: it only costs correlation.
"""

from __future__ import annotations

import re

__all__ = ["SAMPLED", "SPAN", "TRACE", "from_cloud_trace_context", "from_traceparent", "log_fields"]

TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
SAMPLED = "logging.googleapis.com/trace_sampled"

# W3C Trace Context: lowercase hex; version ff is invalid; later versions may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?")
_CLOUD = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([0-9]{1,3}))?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def from_traceparent(value: str) -> tuple[str, str, bool] | None:
    m = _TRACEPARENT.fullmatch(value.strip())
    if not m:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


def from_cloud_trace_context(value: str) -> tuple[str, str | None, bool] | None:
    m = _CLOUD.fullmatch(value.strip())
    if not m:
        return None
    trace_id, span, options = m.groups()
    trace_id = trace_id.lower()
    if trace_id == _ZERO_TRACE:
        return None
    span_id = None
    if span is not None:
        number = int(span)
        if number >= 2**64:
            return None
        if number:  # Cloud Logging wants the 8-byte span id as 16 hex digits; 0 means none
            span_id = f"{number:016x}"
    return trace_id, span_id, options is not None and int(options) & 1 == 1


def log_fields(headers, project: str | None) -> dict:
    """The correlation fields for a request's log lines, or {} when the request carries no
    valid trace header or the project is unknown (the trace name needs it)."""
    if not project:
        return {}
    parsed = None
    if value := headers.get("traceparent"):
        parsed = from_traceparent(value)
    if parsed is None and (value := headers.get("X-Cloud-Trace-Context")):
        parsed = from_cloud_trace_context(value)
    if parsed is None:
        return {}
    trace_id, span_id, sampled = parsed
    fields = {TRACE: f"projects/{project}/traces/{trace_id}", SAMPLED: sampled}
    if span_id:
        fields[SPAN] = span_id
    return fields
