"""What a drift check leaves behind: the JSON report, the monitoring page, the index of
reports, a warehouse row and a structured log line.

Layout under the reports folder (REPORTS_DIR, default `<store>/<model>/reports/drift/`):

    <window>/<source>/report.json   the JSON report (as answered by drift_check)
    <window>/<source>/report.html   the self-contained monitoring page
    index.json, index.html          every report with its status, newest first
    drift_reports.parquet           the warehouse rows (when DRIFT_REPORTS_TABLE is unset)

`<window>` is `YYYY-MM-DD` for one day, else `START_END`; `<source>` names the source read
(`source_id`), so checks of two sources for one day are two reports. A rerun of a window on
the same source replaces its files and its warehouse row (idempotent under Cloud Scheduler
retries). The index file links each report by its relative path; the index the function
serves (`GET ?index=1&format=html`) links each by `?report=<window>/<source>&format=html`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from datetime import date, datetime
from urllib.parse import urlencode

from markupsafe import Markup

from riskscore import report as pages
from riskscore.contract.bundle import json_safe
from riskscore.drift.check import (DRIFT_REPORTS_SCHEMA, SEVERITY, Versions, check, check_window_name, parse_window,
                                   window_name)
from riskscore.errors import ArtifactNotFound, InputNotFound, IntegrityError, InvalidRequest
from riskscore.io.confine import check_location
from riskscore.io.logline import emit
from riskscore.report.format import number, percent
from riskscore.report.plots import BAD, GOOD, REFERENCE, STATUS_COLORS, Chart
from riskscore.io.store import open_store

__all__ = ["INDEX_JSON", "Reports", "TREND_REPORTS", "WAREHOUSE_FILE", "arrow_schema", "index_html",
           "latest", "log_run", "render_index", "render_page", "report_key", "run", "source_id", "summary",
           "update_index", "warehouse_row", "write_warehouse_row"]

INDEX_JSON = "index.json"
WAREHOUSE_FILE = "drift_reports.parquet"
TREND_REPORTS = 30


class Reports:
    """The reports folder: a store and a key prefix."""

    def __init__(self, settings):
        kwargs = {"read_timeout_s": settings.store_read_timeout_s, "read_deadline_s": settings.store_read_deadline_s}
        if settings.reports_dir:
            self.store, self.prefix = open_store(settings.reports_dir, **kwargs), ""
        else:
            self.store = open_store(settings.model_store, **kwargs)
            self.prefix = f"{settings.model_name}/reports/drift/"

    def key(self, name: str) -> str:
        return self.prefix + name

    def url(self, name: str) -> str:
        return f"{self.store.uri.rstrip('/')}/{self.key(name)}"

    def read_json(self, name: str, default=None):
        """The JSON at `name`, `default` if absent; a file that is not JSON is an
        IntegrityError (503): the reports folder is this function's own."""
        try:
            data = self.store.read(self.key(name))
        except ArtifactNotFound:
            return default
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError(f"the drift report file {name!r} is not JSON", where=self.url(name)) from None

    def write(self, name: str, data: bytes | str) -> None:
        self.store.write(self.key(name), data.encode() if isinstance(data, str) else data)


def run(settings, body: dict | None) -> dict:
    """Parse a request body, check, write every output; returns the report with report_url."""
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object", details=[{"field": "body", "problem": "not an object"}])
    unknown = sorted(set(body) - {"source", "start", "end"})
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}; allowed: source, start, end",
                             details=[{"field": k, "problem": "unknown field"} for k in unknown])
    source = body.get("source") or settings.drift_source
    if not source or not isinstance(source, str):
        raise InvalidRequest("source is required (or set DRIFT_SOURCE)",
                             details=[{"field": "source", "problem": "missing"}])
    start, end = parse_window(source, body.get("start"), body.get("end"))
    if body.get("source"):  # a caller's location, confined; DRIFT_SOURCE is the deployment's own
        source = check_location(source, settings, "source")
    kwargs = {"project": settings.google_cloud_project, "id_salt": settings.applicant_id_salt}
    store = open_store(settings.model_store, read_timeout_s=settings.store_read_timeout_s,
                       read_deadline_s=settings.store_read_deadline_s)
    try:
        report = check(source, start, end, Versions(store, settings.model_name), **kwargs)
    except InputNotFound as exc:
        if source != settings.drift_source:
            raise  # a source the caller named: a typo is a 404
        # The configured log: its sink creates the table with the first prediction.
        return no_data(settings, source, start, end, exc.message)
    # The challenger the functions are set to shadow-score with: the page says when no row of
    # the window carries its decision yet.
    report["challenger_version"] = settings.model_challenger_version
    reports = Reports(settings)
    name = window_name(start, end)
    key = f"{name}/{source_id(source)}"
    report["report_url"] = reports.url(f"{key}/report.html")
    report = json_safe(report)
    index = update_index(reports, report, name, key)
    reports.write(f"{key}/report.json", json.dumps(report, indent=1, allow_nan=False))
    reports.write(f"{key}/report.html", render_page(report, index))
    reports.write("index.html", render_index(index, settings.model_name))
    write_warehouse_row(settings, reports, report)
    log_run(report)
    return report


def no_data(settings, source: str, start: date, end: date, why: str) -> dict:
    """The answer before anything was scored: a report with status `no_data`, nothing written."""
    report = {"status": "no_data", "message": f"no predictions yet to check ({why})", "source": source,
              "model_name": settings.model_name, "model_version": None,
              "window": {"start": start.isoformat(), "end": end.isoformat()}, "rows": 0, "features": [],
              "outputs": [], "rating_mix": [], "backtest": None, "drifted_features": [], "versions": [],
              "report_url": None}
    emit("INFO", f"drift check no_data: {settings.model_name} {start}..{end}", log_type="drift_check",
         status="no_data", model_name=settings.model_name, window=report["window"], rows=0, reason=why)
    return report


def source_id(source: str) -> str:
    """The folder name of a source's reports: readable, and unique by a hash of the source."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", source.rsplit("/", 1)[-1] or source).strip("-.")[:40]
    return f"{readable or 'source'}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def report_key(entry: dict) -> str:
    """An index entry's report folder (entries written before reports were kept per source
    have the window's folder)."""
    return entry.get("report_key") or entry["window_name"]


def latest(settings, window: str | None = None, report: str | None = None, *,
           index: list[dict] | None = None) -> tuple[dict, list[dict]]:
    """(the report named `report` (`<window>/<source>`, as the index links it), else the newest
    of `window`, else the newest of all; and the index, read here unless given). ArtifactNotFound
    if there is none. Only reports in the index are read: a request never names a path."""
    if window is not None:
        check_window_name(window)
    reports = Reports(settings)
    if index is None:
        index = reports.read_json(INDEX_JSON, [])
    if not index:
        raise ArtifactNotFound("no drift reports yet", where=reports.url(""))
    if report is not None:
        entries = [e for e in index if report_key(e) == report]
        wanted = f"report {report!r}"
    elif window is not None:
        entries = sorted((e for e in index if e["window_name"] == window),
                         key=lambda e: e.get("created_at") or "", reverse=True)
        wanted = f"window {window!r}"
    else:
        entries, wanted = index, "the latest report"
    found = reports.read_json(f"{report_key(entries[0])}/report.json") if entries else None
    if found is None:
        raise ArtifactNotFound(f"no drift report for {wanted}", where=reports.url(""))
    return found, index


def index_html(settings, index: list[dict] | None = None) -> str:
    """The index page as the function serves it (of `index`, read here unless given): each link
    opens that report's page."""
    if index is None:
        index = Reports(settings).read_json(INDEX_JSON, [])
    return render_index(index, settings.model_name, served=True)


# --------------------------------------------------------------------------- index and trend


def summary(report: dict, name: str, key: str | None = None) -> dict:
    """One line of the index (and the trend of overall drift)."""
    feature_psi = [f["psi"] for f in report["features"] if f.get("psi") is not None]
    outputs = {o["name"]: o.get("psi") for o in report["outputs"]}
    return {"window_name": name, "report_key": key or name, "start": report["window"]["start"], "end": report["window"]["end"],
            "status": report["status"], "model_version": report["model_version"], "rows": report["rows"],
            "max_feature_psi": max(feature_psi) if feature_psi else None,
            "pd_psi": outputs.get("pd"), "score_psi": outputs.get("score"),
            "drifted_features": report["drifted_features"], "source": report["source"],
            "created_at": report["created_at"]}


def update_index(reports: Reports, report: dict, name: str, key: str | None = None) -> list[dict]:
    """The index with this report's line added (replacing the same window and source's)."""
    key = key or name
    index = [e for e in reports.read_json(INDEX_JSON, []) if report_key(e) != key]
    index.append(summary(report, name, key))
    index.sort(key=lambda e: (e["end"], e["start"]), reverse=True)
    reports.write(INDEX_JSON, json.dumps(index, indent=1, allow_nan=False))
    return index


# --------------------------------------------------------------------------- warehouse and log


def warehouse_row(report: dict) -> dict:
    outputs = {o["name"]: o.get("psi") for o in report["outputs"]}
    feature_psi = [f["psi"] for f in report["features"] if f.get("psi") is not None]
    mix = report.get("rating_mix") or {}
    backtest = report.get("backtest") or {}
    return {"run_id": uuid.uuid4().hex, "created_at": datetime.fromisoformat(report["created_at"]),
            "model_name": report["model_name"], "model_version": report["model_version"],
            "window_start": date.fromisoformat(report["window"]["start"]),
            "window_end": date.fromisoformat(report["window"]["end"]), "source": report["source"],
            "status": report["status"], "rows": int(report["rows"]),
            "max_feature_psi": max(feature_psi) if feature_psi else None,
            "pd_psi": outputs.get("pd"), "score_psi": outputs.get("score"), "rating_mix_psi": mix.get("psi"),
            "drifted_features": ",".join(report["drifted_features"]), "backtest_auc": backtest.get("auc"),
            "report_url": report.get("report_url"), "report_json": json.dumps(report, allow_nan=False)}


def arrow_schema():
    import pyarrow as pa

    types = {"STRING": pa.string(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "DATE": pa.date32(),
             "INTEGER": pa.int64(), "FLOAT": pa.float64()}
    return pa.schema([pa.field(f["name"], types[f["type"]], nullable=f["mode"] != "REQUIRED")
                      for f in DRIFT_REPORTS_SCHEMA])


def write_warehouse_row(settings, reports: Reports, report: dict) -> None:
    """One row per run: BigQuery `drift_reports` when DRIFT_REPORTS_TABLE is set, else the
    Parquet file beside the reports. A rerun of the same model, window and source replaces
    its row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = warehouse_row(report)
    table = pa.Table.from_pylist([row], schema=arrow_schema())
    if settings.drift_reports_table:
        _write_bigquery(settings, table, row)
        return
    try:
        old = pq.read_table(io.BytesIO(reports.store.read(reports.key(WAREHOUSE_FILE))))
        keep = [r for r in old.to_pylist() if (r["model_name"], r["window_start"], r["window_end"], r["source"])
                != (row["model_name"], row["window_start"], row["window_end"], row["source"])]
        table = pa.concat_tables([pa.Table.from_pylist(keep, schema=arrow_schema()), table])
    except ArtifactNotFound:
        pass
    buf = io.BytesIO()
    pq.write_table(table, buf)
    reports.write(WAREHOUSE_FILE, buf.getvalue())


def _write_bigquery(settings, table, row: dict) -> None:
    import pyarrow.parquet as pq
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    from riskscore.io import bq

    uri = settings.drift_reports_table
    if not uri.startswith("bq://") or uri[5:].count(".") != 2:
        raise InvalidRequest(f"DRIFT_REPORTS_TABLE must be bq://project.dataset.table, got {uri!r}")
    table_id = uri[5:]
    client = bq.bigquery_client(settings.google_cloud_project)
    schema = [bigquery.SchemaField(f["name"], f["type"], mode=f["mode"]) for f in DRIFT_REPORTS_SCHEMA]
    try:
        client.get_table(table_id)
    except gexc.NotFound:  # Terraform creates it in the cloud; local runs get it on first use
        client.create_table(bigquery.Table(table_id, schema=schema), exists_ok=True)
    client.query(
        f"DELETE FROM `{table_id}` WHERE model_name = @m AND window_start = @s AND window_end = @e "
        "AND source = @src",
        job_config=bigquery.QueryJobConfig(query_parameters=[
            bigquery.ScalarQueryParameter("m", "STRING", row["model_name"]),
            bigquery.ScalarQueryParameter("s", "DATE", row["window_start"]),
            bigquery.ScalarQueryParameter("e", "DATE", row["window_end"]),
            bigquery.ScalarQueryParameter("src", "STRING", row["source"])])).result()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    client.load_table_from_file(buf, table_id, job_config=bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=schema,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND)).result()


def log_run(report: dict, stream=None) -> None:
    """INFO / WARNING / ERROR for stable / warning / alert: log-based alert policies match on
    severity and `drifted_features`."""
    emit(SEVERITY[report["status"]], f"drift check {report['status']}: {report['model_name']} "
         f"{report['window']['start']}..{report['window']['end']}", stream=stream, log_type="drift_check",
         status=report["status"], model_name=report["model_name"], model_version=report["model_version"],
         window=report["window"], rows=report["rows"], drifted_features=report["drifted_features"],
         report_url=report.get("report_url"))
    # One WARNING line per group below the four-fifths line, per model version: figures of a
    # group, never an applicant's values.
    for v in report["versions"]:
        fairness = v.get("fairness") or {}
        for table in fairness.get("columns", []):
            for g in table["groups"]:
                if g["four_fifths"] == "fails":
                    emit("WARNING", f"fairness: adverse impact ratio {g['air']:.2f} below {fairness['four_fifths']} "
                         f"for {table['column']} = {g['group']}", stream=stream, log_type="drift_fairness",
                         model_name=report["model_name"], model_version=v["model_version"], window=report["window"],
                         column=table["column"], group=g["group"], air=g["air"], approval_rate=g["approval_rate"],
                         reference_group=table["reference_group"], rows=g["rows"], rule=fairness["rule"],
                         report_url=report.get("report_url"))


# --------------------------------------------------------------------------- the pages


def render_index(index: list[dict], model_name: str, served: bool = False) -> str:
    """The index page: as a file beside the reports (links are relative paths) or as the
    function serves it (`served`: links are the function's own `?report=…&format=html`)."""
    links = [f"?{urlencode({'report': report_key(e), 'format': 'html'})}" if served
             else f"{report_key(e)}/report.html" for e in index]
    return pages.render("drift_index.html", title=f"Drift reports: {model_name}", model_name=model_name,
                        index=index, links=links, trend=_trend_chart(index))


def render_page(report: dict, index: list[dict]) -> str:
    from riskscore.drift.compare_charts import comparison_charts

    versions = [dict(v, charts=_version_charts(v)) for v in report["versions"]]
    comparisons = [(c, comparison_charts(c)) for c in report.get("comparisons") or []]
    return pages.render("drift_report.html", comparisons=comparisons, title=f"Drift: {report['model_name']} {report['window']['start']}"
                        + ("" if report["window"]["start"] == report["window"]["end"]
                           else f" to {report['window']['end']}"),
                        report=report, versions=versions, trend=_trend_chart(index), fmt=number, pct=percent)


def _overlay(entry: dict, title: str) -> Markup:
    chart = Chart(720, 300, title=title, yfmt="pct", ylabel="Share of non-missing rows")
    chart.bars(entry["bins"], [(entry["baseline"], REFERENCE, "training baseline"),
                               (entry["window"], BAD if entry["status"] in ("warning", "alert") else GOOD,
                                "window")], rotate=len(entry["bins"]) > 6)
    return chart.figure(f"{title}: baseline and window shares per bin",
                        f"PSI {number(entry.get('psi'))}; bins frozen at training time.")


def _version_charts(v: dict) -> dict:
    charts: dict = {"overlays": [], "outputs": []}
    feats = [f for f in v["features"] if f.get("psi") is not None]
    if feats:
        th = v["thresholds"]
        chart = Chart(720, 110 + 24 * len(feats), title="PSI per feature", xlabel="PSI")
        chart.hbars([f["name"] for f in feats], [f["psi"] for f in feats],
                    [STATUS_COLORS.get(f["status"], REFERENCE) for f in feats])
        chart.vline(th["psi_warning"], STATUS_COLORS["warning"], label=f"warning ({th['psi_warning']})")
        chart.vline(th["psi_alert"], STATUS_COLORS["alert"], label=f"alert ({th['psi_alert']})")
        charts["psi"] = chart.figure("Population stability index of each input feature",
                                     "Bars coloured by status; dotted lines are the thresholds.")
    for f in v["features"]:
        if f["status"] in ("warning", "alert") and f.get("window") and f.get("baseline"):
            charts["overlays"].append((f["name"], _overlay(f, f"{f['name']}: baseline vs window")))
    for o in v["outputs"]:
        if o.get("window") and o.get("baseline"):
            charts["outputs"].append((o["name"], _overlay(o, f"{o['name']} distribution: baseline vs window")))
    mix = v.get("rating_mix")
    if mix:
        chart = Chart(720, 300, title="Rating mix", yfmt="pct", ylabel="Share of rows")
        chart.bars([b["name"] for b in mix["bands"]], [([b["baseline"] for b in mix["bands"]], REFERENCE,
                                                        "training (test rows)"),
                                                       ([b["window"] for b in mix["bands"]], GOOD, "window")])
        charts["rating_mix"] = chart.figure("Share of rows per rating band, baseline and window",
                                            f"PSI of the rating mix {number(mix['psi'])}.")
    days = v.get("by_day") or []
    if days:
        x = list(range(len(days)))
        step = max(1, len(days) // 12)
        for key, title, fmt in (("mean_pd", "Mean PD by day", "pct"), ("mean_score", "Mean score by day", None),
                                ("rows", "Volume by day (rows scored)", None)):
            chart = Chart(720, 260, title=title, yfmt=fmt, xlim=(-0.5, len(days) - 0.5))
            ys = [d[key] if d[key] is not None else float("nan") for d in days]
            chart.line(x, ys, GOOD, marker=True)
            chart.set_xticklabels(x[::step], [d["date"] for d in days][::step])
            charts.setdefault("by_day", []).append(chart.figure(title, ""))
    return charts


def _trend_chart(index: list[dict]) -> Markup | None:
    entries = [e for e in reversed(index[:TREND_REPORTS]) if e.get("max_feature_psi") is not None]
    if len(entries) < 2:
        return None
    x = list(range(len(entries)))
    chart = Chart(720, 280, title="Overall drift over recent reports", ylabel="PSI")
    chart.line(x, [e["max_feature_psi"] for e in entries], BAD, marker=True, label="largest feature PSI")
    chart.line(x, [e["score_psi"] if e.get("score_psi") is not None else float("nan") for e in entries],
               GOOD, marker=True, label="score PSI")
    step = max(1, len(entries) // 12)
    chart.set_xticklabels(x[::step], [e["window_name"] for e in entries][::step])
    return chart.figure("Largest feature PSI and score PSI of each recent report", "")
