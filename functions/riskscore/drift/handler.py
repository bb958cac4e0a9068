"""The body of the `drift_check` function: POST runs a check and answers its report; GET
answers the latest report (`?window=W` the newest of one window, `?report=W/SOURCE` one report as
the index links it, `?index=1` the list, `?format=html` a page)."""

from __future__ import annotations

from riskscore.drift import report as drift_report
from riskscore.errors import MethodNotAllowed
from riskscore.io import deadlines
from riskscore.serving.http import error_response, read_json, respond
from riskscore.settings import DriftSettings

__all__ = ["drift_check"]

HTML = {"Content-Type": "text/html; charset=utf-8"}


def drift_check(request, settings: DriftSettings):
    """A Flask request -> (body, status, headers)."""
    try:
        deadlines.apply(settings)
        if request.method == "GET":
            html = request.args.get("format") == "html"
            window, key = request.args.get("window"), request.args.get("report")
            index = None  # read once per request, by whichever answer needs it
            if request.args.get("index") or not (window or key):
                index = drift_report.Reports(settings).read_json(drift_report.INDEX_JSON, [])
            if request.args.get("index"):
                if html:
                    return drift_report.index_html(settings, index), 200, HTML
                return respond({"reports": index})
            if index is not None and not index:  # before the first check: say so, not 404
                if html:
                    return drift_report.index_html(settings, index), 200, HTML
                return respond({"status": "no_data", "message": "no drift reports yet: the daily check writes "
                                "the first once predictions have been logged", "reports": []})
            report, index = drift_report.latest(settings, window, key, index=index)
            if html:
                return drift_report.render_page(report, index), 200, HTML
            return respond(report)
        if request.method != "POST":
            raise MethodNotAllowed(f"use POST to run a check (or GET for reports); got {request.method}")
        body = read_json(request, settings.max_body_bytes) if request.content_length else {}
        return respond(drift_report.run(settings, body))
    except Exception as exc:  # noqa: BLE001 - every failure leaves as JSON, never a bare 500
        return error_response(exc, retry_after_s=max(settings.store_read_deadline_s, settings.service_deadline_s),
                              allow="GET, POST")
