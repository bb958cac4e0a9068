"""The body of the `drift_check` function: POST runs a check and answers its report; GET
answers the latest report (`?window=W` one window, `?index=1` the list, `?format=html` a page)."""

from __future__ import annotations

from riskscore.drift import report as drift_report
from riskscore.errors import MethodNotAllowed
from riskscore.serving.http import error_response, read_json, respond
from riskscore.settings import DriftSettings

__all__ = ["drift_check"]

HTML = {"Content-Type": "text/html; charset=utf-8"}


def drift_check(request, settings: DriftSettings):
    """A Flask request -> (body, status, headers)."""
    try:
        if request.method == "GET":
            html = request.args.get("format") == "html"
            if request.args.get("index"):
                if html:
                    return drift_report.index_html(settings), 200, HTML
                return respond({"reports": drift_report.Reports(settings).read_json(drift_report.INDEX_JSON, [])})
            report, index = drift_report.latest(settings, request.args.get("window"))
            if html:
                return drift_report.render_page(report, index), 200, HTML
            return respond(report)
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST to run a check (or GET for reports); got {request.method}")
        body = read_json(request, settings.max_body_bytes) if request.content_length else {}
        return respond(drift_report.run(settings, body))
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, allow="GET, POST")
