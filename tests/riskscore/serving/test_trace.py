"""Cloud Trace correlation: which headers give which Cloud Logging fields, and that a
malformed header is ignored rather than an error."""

from __future__ import annotations

import io
import json
import threading

import pytest

from riskscore.io import logline
from riskscore.serving.trace import SAMPLED, SPAN, TRACE, log_fields

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
W3C = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.parametrize("headers, expected", [
    ({"traceparent": W3C}, (TRACE_ID, "00f067aa0ba902b7", True)),
    ({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-00"}, (TRACE_ID, "00f067aa0ba902b7", False)),
    ({"traceparent": f"01-{TRACE_ID}-00f067aa0ba902b7-03-future-fields"}, (TRACE_ID, "00f067aa0ba902b7", True)),
    ({"X-Cloud-Trace-Context": f"{TRACE_ID}/12345;o=1"}, (TRACE_ID, "0000000000003039", True)),
    ({"X-Cloud-Trace-Context": f"{TRACE_ID.upper()}/18446744073709551615;o=0"}, (TRACE_ID, "ffffffffffffffff", False)),
    ({"X-Cloud-Trace-Context": f"{TRACE_ID}/1"}, (TRACE_ID, "0000000000000001", False)),
    ({"X-Cloud-Trace-Context": TRACE_ID}, (TRACE_ID, None, False)),
    # both: traceparent wins; a malformed traceparent falls back to the Google header
    ({"traceparent": W3C, "X-Cloud-Trace-Context": f"{'a' * 32}/1;o=1"}, (TRACE_ID, "00f067aa0ba902b7", True)),
    ({"traceparent": "garbage", "X-Cloud-Trace-Context": f"{TRACE_ID}/7;o=1"}, (TRACE_ID, "0000000000000007", True)),
], ids=["w3c sampled", "w3c not sampled", "w3c future version", "google", "google max span, upper case",
        "google without options", "google trace only", "both", "bad w3c, good google"])
def test_trace_headers_give_cloud_logging_fields(headers, expected):
    trace_id, span_id, sampled = expected
    fields = log_fields(headers, "risk-prod")
    assert fields[TRACE] == f"projects/risk-prod/traces/{trace_id}"
    assert fields[SAMPLED] is sampled
    assert fields.get(SPAN) == span_id


@pytest.mark.parametrize("headers", [
    {},
    {"traceparent": ""},
    {"traceparent": f"ff-{TRACE_ID}-00f067aa0ba902b7-01"},           # version ff is invalid
    {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra"},     # version 00 has exactly 4 fields
    {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"},           # all-zero trace id
    {"traceparent": f"00-{TRACE_ID}-{'0' * 16}-01"},                 # all-zero span id
    {"traceparent": f"00-{TRACE_ID.upper()}-00F067AA0BA902B7-01"},   # upper case is invalid in W3C
    {"traceparent": f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01"},
    {"traceparent": "00-" + "\u00e9" * 32 + "-00f067aa0ba902b7-01"},
    {"X-Cloud-Trace-Context": f"{TRACE_ID}/18446744073709551616;o=1"},  # span id over 64 bits
    {"X-Cloud-Trace-Context": f"{TRACE_ID}/abc;o=1"},
    {"X-Cloud-Trace-Context": f"{'0' * 32}/1;o=1"},
    {"X-Cloud-Trace-Context": "not-a-trace"},
    {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1" + "9" * 5000},
], ids=lambda h: repr(h)[:60])
def test_malformed_or_missing_headers_are_ignored(headers):
    assert log_fields(headers, "risk-prod") == {}


def test_no_project_no_trace_fields():
    assert log_fields({"traceparent": W3C}, None) == {}
    assert log_fields({"traceparent": W3C}, "") == {}


def test_context_fields_go_into_every_line_of_their_own_thread_only():
    stream = io.StringIO()
    barrier = threading.Barrier(2)

    def request(name: str) -> None:
        with logline.context({TRACE: f"projects/p/traces/{name}"}):
            barrier.wait()  # both contexts are active at once
            for i in range(50):
                logline.emit("INFO", name, stream=stream, i=i)
        logline.emit("INFO", "after", stream=stream)

    threads = [threading.Thread(target=request, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(records) == 102
    for r in records:
        if r["message"] == "after":
            assert TRACE not in r
        else:
            assert r[TRACE] == f"projects/p/traces/{r['message']}"
