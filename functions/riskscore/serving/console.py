"""The scoring console: a browser page served by `score` itself, built from the loaded
version's manifest, so its form always matches the model being served.

`html_response(accept, view, model)` is the whole transport side: it answers a GET that asks for
HTML (a browser) with the console, `?view=model-card` with the version's model card, and
returns None for everything else (JSON clients keep getting the model information). The page
is rendered once per loaded version and kept.

The console scores through the same `score` URL it came from (same origin: the page's
Content-Security-Policy allows `connect-src 'self'` and nothing else), one applicant per POST,
so it works through `gcloud run services proxy` and behind IAP. `batch_score` is a separate
authenticated service a browser cannot reach, hence CSV files are scored here row by row.
"""

from __future__ import annotations

import json
import math
import threading

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from riskscore import report
from riskscore.contract.manifest import DRIFT_BASELINE_FILE, MODEL_CARD_FILE, Manifest
from riskscore.errors import ArtifactNotFound, InvalidRequest
from riskscore.report.format import count, number, percent

__all__ = ["CSV_CONCURRENCY", "CSV_MAX_ROWS", "VIEWS", "band_table", "context", "example_applicants",
           "gauge_scale", "html_response", "page", "wants_html"]

# A CSV in the console holds at most as many rows as batch_score's `records` mode takes
# inline (BatchSettings.max_inline_records default): larger files belong in a batch job.
CSV_MAX_ROWS = 10_000
# Parallel POSTs while scoring a CSV: enough to hide round trips, few enough not to crowd
# out other callers of a small instance.
CSV_CONCURRENCY = 4
VIEWS = ("console", "model-card")

_cache_lock = threading.Lock()
_cache: tuple[object, str] | None = None  # (model, rendered page) of the version last served


def wants_html(accept: str | None) -> bool:
    """A browser's Accept prefers text/html; no Accept header, */* or JSON keep the JSON answer.
    (werkzeug's parser: what Flask's `request.accept_mimetypes` is.)"""
    return parse_accept_header(accept, MIMEAccept).best_match(["application/json", "text/html"]) == "text/html"


def html_response(accept: str | None, view: str | None, model):
    """(body, status, headers) for a GET that asks for a page; None when JSON is wanted.
    `accept` is the request's Accept header, `view` its `?view=` parameter.

    `?view=console` forces the console (e.g. from a client that sends no Accept header),
    `?view=model-card` serves the version's model card from the verified bundle bytes.
    """
    if view is None and not wants_html(accept):
        return None
    if view not in (None, *VIEWS):
        raise InvalidRequest(f"unknown view {view!r}; use one of {', '.join(VIEWS)}",
                             details=[{"field": "view", "problem": f"must be one of {', '.join(VIEWS)}"}])
    if view == "model-card":
        card = model.documents.get(MODEL_CARD_FILE)
        if card is None:
            raise ArtifactNotFound(f"version {model.version} has no {MODEL_CARD_FILE} in its bundle")
        return card, 200, _html_headers()
    return page(model), 200, _html_headers()


def _html_headers() -> dict:
    # The header repeats the page's CSP meta tag: only a header can forbid framing, and it
    # covers pages (such as an older model card) that carry no meta tag of their own.
    return {"Content-Type": "text/html; charset=utf-8", "Vary": "Accept",
            "Content-Security-Policy": report.CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def page(model) -> str:
    """The console of `model`, rendered on first request and then reused."""
    global _cache
    cached = _cache
    if cached is not None and cached[0] is model:
        return cached[1]
    html = report.render("console.html", **context(model.manifest, model.documents))
    with _cache_lock:
        _cache = (model, html)
    return html


def context(manifest: Manifest | dict, documents: dict[str, bytes]) -> dict:
    """Everything the console template shows, from a version's manifest and bundle files."""
    m = Manifest.of(manifest)
    # The feature and scaling objects as published: the page's script reads them as JSON.
    features = m.raw["features"]
    baseline = _baseline(documents)
    bands = band_table(m.raw["scaling"], m.rating_bands)
    gauge = gauge_scale(m.raw["scaling"], bands)
    has_lgd = "lgd" in m.models
    config = {
        "features": [{k: f.get(k) for k in ("name", "type", "min", "max", "nullable", "categories")}
                     for f in features],
        "examples": example_applicants(features, baseline),
        "gauge": gauge,
        "has_lgd": has_lgd,
        "id_column": m.id_column or "applicant_id",
        "exposure_column": m.exposure_column or "exposure",
        "csv_max_rows": CSV_MAX_ROWS,
        "csv_concurrency": CSV_CONCURRENCY,
        "max_reasons": 4,
    }
    return {
        "title": f"{m.name} {m.version}: scoring console",
        "model": {"name": m.name, "version": m.version, "created_at": m.created_at, "description": m.description},
        "fields": [_field(f) for f in features],
        "exposure_column": m.exposure_column,
        "id_column": m.id_column,
        "has_lgd": has_lgd,
        "bands": bands,
        "gauge": gauge,
        "metrics": _metrics(m.metrics),
        "data": _data_facts(m.data),
        "has_model_card": MODEL_CARD_FILE in documents,
        "csv_max_rows": CSV_MAX_ROWS,
        "csv_concurrency": CSV_CONCURRENCY,
        "config": config,
    }


def _baseline(documents: dict[str, bytes]) -> dict:
    try:
        return json.loads(documents[DRIFT_BASELINE_FILE]).get("features", {})
    except (KeyError, ValueError):
        return {}


def _number(v: float | None) -> str:
    """A bound as an underwriter reads it: 10000000.0 -> 10,000,000; 0.5 -> 0.5."""
    if v is None:
        return ""
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.6g}"


def _field(f: dict) -> dict:
    """One form field: input attributes and the help text shown under it."""
    numeric = f["type"] == "numeric"
    if numeric and f.get("min") is not None and f.get("max") is not None:
        rule = f"a number from {_number(f['min'])} to {_number(f['max'])}"
    elif numeric and f.get("min") is not None:
        rule = f"a number of at least {_number(f['min'])}"
    elif numeric and f.get("max") is not None:
        rule = f"a number of at most {_number(f['max'])}"
    elif numeric:
        rule = "a number"
    else:
        rule = "one of the listed categories"
    help_text = "; ".join(part for part in (
        f.get("description") or "", rule,
        "optional (leave empty if unknown)" if f.get("nullable") else "required") if part)
    return {"name": f["name"], "label": f["name"].replace("_", " "), "type": f["type"],
            "min": f.get("min"), "max": f.get("max"), "nullable": bool(f.get("nullable")),
            "categories": f.get("categories") or [], "help": help_text[:1].upper() + help_text[1:]}


def _round(v: float) -> float:
    """Example values with at most three significant decimals, as a person would type them."""
    v = float(v)
    return float(f"{v:.3g}") if abs(v) < 10 else float(round(v))


def example_applicants(features: list[dict], baseline: dict) -> dict:
    """A low-risk ("good") and a high-risk ("bad") applicant, derived from the manifest.

    A feature with a monotone direction takes the low-risk or the high-risk end of its
    training distribution: the 10th or the 90th percentile (first and last decile edges of
    the version's drift baseline), whichever way risk rises; other numeric features take
    their median, a categorical feature its most frequent training category. Without a
    baseline the training range or the feature's bounds stand in (0 for an unbounded
    feature). Values stay within the feature's bounds.
    """
    good, bad = {}, {}
    for f in features:
        name, b = f["name"], baseline.get(f["name"]) or {}
        if f["type"] == "categorical":
            cats = [c for c in (b.get("categories") or []) if c in (f.get("categories") or [])]
            props = b.get("proportions") or []
            if cats and props:
                common = max(cats, key=lambda c: props[b["categories"].index(c)])
            else:
                common = (f.get("categories") or [None])[0]
            good[name] = bad[name] = common
            continue
        edges = b.get("edges") or []
        low = edges[0] if edges else b.get("min", f.get("min"))
        high = edges[-1] if edges else b.get("max", f.get("max"))
        middle = edges[len(edges) // 2] if edges else (low if low is not None else high)
        low, high, middle = (0.0 if v is None else v for v in (low, high, middle))
        if f.get("monotone") == "increasing":
            g, w = low, high
        elif f.get("monotone") == "decreasing":
            g, w = high, low
        else:
            g = w = middle
        good[name], bad[name] = (_clip(_round(v), f) for v in (g, w))
    return {"good": good, "bad": bad}


def _clip(v: float, f: dict) -> float:
    if f.get("min") is not None:
        v = max(v, f["min"])
    if f.get("max") is not None:
        v = min(v, f["max"])
    return v


def band_table(scaling: dict, rating_bands: list[dict]) -> list[dict]:
    """Rating bands of `scaling`, lowest first, with their score range and the test-set
    figures of the manifest's `rating_bands`."""
    stats = {b["name"]: b for b in rating_bands}
    bands = scaling["bands"]
    out = []
    for i, band in enumerate(bands):
        upper = bands[i + 1]["min_score"] if i + 1 < len(bands) else None
        s = stats.get(band["name"], {})
        rate = s.get("observed_default_rate")
        out.append({"name": band["name"], "min_score": band["min_score"], "max_score": upper,
                    "range": (f"below {_number(upper)}" if band["min_score"] is None
                              else f"{_number(band['min_score'])} and above" if upper is None
                              else f"{_number(band['min_score'])} to {_number(upper)}"),
                    "test_count": count(s["test_count"]) if "test_count" in s else "",
                    "observed_default_rate": "" if rate is None else percent(rate, 2)})
    return out


def _score_at(scaling: dict, pd_: float) -> float:
    if scaling.get("method", "linear") == "linear":
        return scaling["linear_base"] + (1 - pd_) * scaling["linear_span"]
    factor = scaling["pdo"] / math.log(2.0)
    offset = scaling["base_score"] - factor * math.log(scaling["base_odds"])
    return offset + factor * math.log((1 - pd_) / pd_)


def gauge_scale(scaling: dict, bands: list[dict]) -> dict:
    """The gauge's score range (the scores of PD 99.9 % and 0.1 %, widened to every band
    edge) and each band's share of it, for the template's band strip and the JS marker."""
    edges = [b["min_score"] for b in bands if b["min_score"] is not None]
    lo = min([_score_at(scaling, 0.999), *edges])
    hi = max([_score_at(scaling, 0.001), *edges])
    lo, hi = math.floor(lo / 10) * 10, math.ceil(hi / 10) * 10
    segments = []
    for b in bands:
        start = lo if b["min_score"] is None else b["min_score"]
        end = hi if b["max_score"] is None else b["max_score"]
        segments.append({"name": b["name"], "start": start,
                         "width_pct": round(100 * (end - start) / (hi - lo), 3)})
    return {"lo": lo, "hi": hi, "segments": segments}


_METRICS = (  # (key in metrics["test"], label, format)
    ("auc", "AUC", number), ("gini", "Gini", number), ("ks", "KS", number),
    ("brier", "Brier score", lambda v: number(v, 4)), ("pr_auc", "PR AUC", number),
    ("default_rate", "Observed default rate", lambda v: percent(v, 2)), ("mean_pd", "Mean PD", lambda v: percent(v, 2)),
    ("rows", "Rows", count),
)


def _metrics(metrics: dict) -> list[dict]:
    """Test and validation metrics side by side, formatted; absent values are blank."""
    test, valid = metrics.get("test") or {}, metrics.get("valid") or {}
    rows = [{"label": label, "test": fmt(test[key]) if test.get(key) is not None else "",
             "valid": fmt(valid[key]) if valid.get(key) is not None else ""}
            for key, label, fmt in _METRICS if key in test or key in valid]
    lgd = metrics.get("lgd") or {}
    if lgd.get("mae") is not None:
        rows.append({"label": "LGD mean absolute error", "test": number(lgd["mae"]), "valid": ""})
    anomaly = metrics.get("anomaly") or {}
    if anomaly.get("test_flag_rate") is not None:
        rows.append({"label": "Anomaly flag rate", "test": percent(anomaly["test_flag_rate"], 2), "valid": ""})
    return rows


def _data_facts(data: dict) -> list[tuple[str, str]]:
    facts = []
    if data.get("rows") is not None:
        facts.append(("Training rows", count(data["rows"])))
    if data.get("split"):
        facts.append(("Split", data["split"]))
    if data.get("default_rate") is not None:
        facts.append(("Default rate", percent(data["default_rate"], 2)))
    return facts
