"""Contexts of the model card's sections on the models beside the PD: the default-rate
forecast, LGD, anomaly detection, expected loss, and the export checks (parity, libraries).

Each function takes the card's `CardInputs` and returns plain data for its template under
`riskscore/report/templates/card/` (see `training.evaluation.model_card`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from riskscore.report.format import MISSING, count, number
from riskscore.report.plots import ACCENT, BAD, GOOD, REFERENCE, Chart

from training.evaluation.card_inputs import (CardInputs, array, chart_svg, finite, histogram, mapping, number_or_none,
                                             seq)

__all__ = ["anomaly", "expected_loss", "forecast", "lgd", "libraries", "parity"]

MAX_SCATTER_POINTS = 2_000
MAX_WARNINGS_SHOWN = 5

# Parity figures that training reports but does not gate on: the PD log-odds is a float32 sum
# over hundreds of trees whose last bits depend on summation order; the PD built from it is gated.
REPORTED_ONLY = frozenset({"logit_max_abs_diff"})


def forecast(card: CardInputs) -> dict:
    fc = card.evaluation.get("forecast")
    if not isinstance(fc, Mapping) or not fc:
        return {"missing": "No default-rate forecast: the spec has no date column, or the forecast was not run."}
    history = [h for h in seq(fc.get("history")) if isinstance(h, Mapping)]
    ahead = [f for f in seq(fc.get("forecast")) if isinstance(f, Mapping)]
    order = seq(fc.get("order"))
    backtest = mapping(fc.get("backtest"))
    warnings = [str(w) for w in seq(fc.get("warnings"))]
    return {
        "chart": _forecast_chart(history, ahead) if history or ahead else None,
        "model": f"ARIMA({', '.join(str(o) for o in order)})" if order else None,
        "aic": number_or_none(fc.get("aic")),
        "backtest": _backtest(backtest) if backtest else None,
        "backtest_not_run": not backtest and "backtest" in fc,
        "method": fc["method"] if isinstance(fc.get("method"), str) and fc.get("method") else None,
        "warnings": warnings[:MAX_WARNINGS_SHOWN], "more_warnings": max(0, len(warnings) - MAX_WARNINGS_SHOWN),
        "ahead": [{"month": str(f.get("month", ""))}
                  | {k: number_or_none(f.get(k)) for k in ("rate", "lower_80", "upper_80", "lower_95", "upper_95")}
                  for f in ahead]}


def _backtest(backtest: Mapping) -> dict:
    held_out = len(seq(backtest.get("months")))
    span = f"last {held_out} months" if held_out else "held-out months"
    if finite(backtest.get("train_months")):
        span += f", refitted on the {int(backtest['train_months'])} months before"
    naive = mapping(backtest.get("naive"))
    errors = [{"label": label, "value": number_or_none(backtest.get(key)),
               "naive": [{"name": name, "value": float(mapping(naive.get(name)).get(key))}
                         for name in ("last", "mean") if finite(mapping(naive.get(name)).get(key))]}
              for key, label in (("mae", "MAE"), ("rmse", "RMSE")) if key in backtest]
    coverage = [{"level": level, "value": number_or_none(backtest.get(f"coverage_{level}"))}
                for level in (80, 95) if f"coverage_{level}" in backtest]
    return {"span": span, "errors": errors, "coverage": coverage}


def _forecast_chart(history: list[Mapping], ahead: list[Mapping]) -> str:
    hist_rate = [_history_rate(h) for h in history]
    months = [str(h.get("month", "")) for h in history] + [str(f.get("month", "")) for f in ahead]
    x = np.arange(len(months))
    shown = [r for r in hist_rate if r is not None] + [
        float(f[k]) for f in ahead for k in ("rate", "upper_80", "upper_95") if finite(f.get(k))]
    fig = Chart(900, 420, ylim=(0, 1.1 * max(shown) if shown and max(shown) > 0 else 1.0),
                xlim=(-0.5, len(months) - 0.5), yfmt="pct", ylabel="Default rate",
                title="Monthly default rate: history and forecast")
    hx = [i for i, r in enumerate(hist_rate) if r is not None]
    fig.line(x[hx], [hist_rate[i] for i in hx], GOOD, width=1.8, marker=True, label="observed monthly default rate")
    fx = x[len(history):]
    rate = np.array([_num(f.get("rate")) for f in ahead])
    for lo_key, hi_key, alpha, label in (("lower_95", "upper_95", 0.15, "95% interval"),
                                         ("lower_80", "upper_80", 0.30, "80% interval")):
        lo = np.array([_num(f.get(lo_key)) for f in ahead])
        hi = np.array([_num(f.get(hi_key)) for f in ahead])
        if ahead and np.isfinite(lo).any() and np.isfinite(hi).any():
            fig.band(fx, lo, hi, BAD, alpha=alpha, label=label)
    if ahead:
        if hx:  # join the forecast line to the last observed month
            fig.line([hx[-1], fx[0]], [hist_rate[hx[-1]], rate[0]], BAD, width=1.2, dash=True)
        fig.line(fx, rate, BAD, width=1.8, dash=True, marker=True, label=f"forecast ({len(ahead)} months)")
        fig.vline(len(history) - 0.5, REFERENCE)
    step = max(1, int(math.ceil(len(months) / 16)))
    fig.set_xticklabels(x[::step], months[::step])
    return chart_svg(fig, "Monthly default rate history with a 12-month forecast and 80% and 95% bands")


def _num(value) -> float:
    return float(value) if finite(value) else float("nan")


def _history_rate(row: Mapping) -> float | None:
    if finite(row.get("rate")):
        return float(row["rate"])
    if finite(row.get("defaults")) and finite(row.get("count")) and row["count"]:
        return float(row["defaults"]) / float(row["count"])
    return None


def lgd(card: CardInputs) -> dict:
    lm = mapping(card.metrics.get("lgd"))
    actual, pred = array(card.evaluation.get("lgd_actual")), array(card.evaluation.get("lgd_pred"))
    if not lm and (actual is None or pred is None):
        return {"missing": "No LGD model: the spec names no LGD column."}
    chart = None
    if actual is not None and pred is not None and len(actual) == len(pred):
        ok = np.isfinite(actual) & np.isfinite(pred)
        a, p = actual[ok], pred[ok]
        if a.size:
            fig = Chart(520, 520, xlim=(0, 1), ylim=(0, 1), equal=True, xfmt="pct", yfmt="pct",
                        xlabel="Predicted LGD", ylabel="Actual LGD",
                        title="LGD: predicted vs actual, defaulted test rows")
            rng = np.random.default_rng(0)
            idx = rng.choice(a.size, size=min(MAX_SCATTER_POINTS, a.size), replace=False)
            fig.scatter(p[idx], a[idx], REFERENCE, alpha=0.25, label=f"defaulted test rows ({idx.size:,} shown)")
            bins = min(10, max(1, a.size // 20))
            order = np.argsort(p, kind="stable")
            groups = [g for g in np.array_split(order, bins) if len(g)]
            fig.line([p[g].mean() for g in groups], [a[g].mean() for g in groups], BAD, marker=True,
                     label=f"mean actual per predicted-LGD {'decile' if bins == 10 else 'bin'}")
            fig.line([0, 1], [0, 1], REFERENCE, width=1, dash=True, label="perfect fit")
            chart = chart_svg(fig, "LGD predicted against actual on the defaulted test rows")
    errors = None
    if lm:
        errors = []
        for label, key in (("MAE", "mae"), ("RMSE", "rmse")):
            model, base = number_or_none(lm.get(key)), number_or_none(lm.get(f"baseline_{key}"))
            errors.append({"label": label, "model": model, "baseline": base,
                           "improvement": 1 - model / base if model is not None and base else None})
    lgd_model = mapping(card.models.get("lgd"))
    return {"chart": chart, "errors": errors,
            "rows": number_or_none(lm.get("rows")), "mean_lgd": number_or_none(lm.get("mean_lgd")),
            "mean_predicted": number_or_none(lm.get("mean_predicted")),
            "baseline": str(lm.get("baseline") or "mean LGD of the training defaults"),
            "best_iteration": number_or_none(lgd_model.get("best_iteration")) if lgd_model else None}


def anomaly(card: CardInputs) -> dict:
    am = mapping(card.metrics.get("anomaly"))
    scores = array(card.evaluation.get("anomaly_score_test"))
    if not am and scores is None:
        return {"missing": "No anomaly model."}
    entry = mapping(card.models.get("anomaly"))
    chart = None
    if scores is not None:
        s = scores[np.isfinite(scores)]
        if s.size:
            lo, hi = float(s.min()), float(s.max())
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 61)
            fig = Chart(750, 340, ylog=True, xlabel="Anomaly score", ylabel="Rows (log scale)",
                        title="Anomaly score distribution, test rows")
            fig.stairs(edges, histogram(s, edges, density=False), ACCENT, label=f"test rows ({s.size:,})")
            threshold = entry.get("threshold")
            if isinstance(threshold, Mapping):
                threshold = threshold.get("anomaly_score")
            if finite(threshold):
                fig.vline(float(threshold), BAD, label="flag threshold")
            chart = chart_svg(fig, "Histogram of anomaly scores on the test rows")
    note = "; ".join(str(entry[k]).rstrip(".") for k in ("method", "score") if isinstance(entry.get(k), str))
    rate, contamination = number_or_none(am.get("test_flag_rate")), number_or_none(am.get("contamination"))
    return {"contamination": contamination, "flag_rate": rate, "chart": chart, "note": note,
            "unusual": rate is not None and bool(contamination) and rate > 2 * contamination}


def expected_loss(card: CardInputs) -> dict:
    el = mapping(card.metrics.get("expected_loss"))
    if not el:
        reason = ("the spec has no exposure column" if card.columns.get("lgd") else
                  "it needs both an LGD model and an exposure column")
        return {"missing": f"No expected-loss figures: {reason}."}
    rows = [("Definition", str(el.get("definition") or "PD x LGD x exposure")),
            ("Total expected loss, all rows", _money(el.get("total"))),
            ("Mean expected loss per loan", _money(el.get("mean")))]
    for key, value in el.items():
        if key not in ("definition", "total", "mean") and (finite(value) or isinstance(value, str)):
            rows.append((key.replace("_", " ").capitalize(), _money(value) if finite(value) else value))
    exposure = card.columns.get("exposure")
    return {"rows": rows, "exposure": str(exposure) if exposure else None}


def _money(value) -> str:
    """An amount in whole currency units (rounded, not truncated)."""
    return count(round(float(value))) if finite(value) else MISSING


def parity(card: CardInputs) -> dict:
    results = mapping(card.manifest.get("parity"))
    if not results:
        return {"missing": "No export parity results in the manifest."}
    rows = []
    for model, figures in results.items():
        figures = mapping(figures)
        checks = _parity_checks(figures)
        checked = {c["check"] for c in checks}
        first = {"model": str(model), "rows": number_or_none(figures.get("rows"))}
        if not checks:
            rows.append(first | {"check": None, "value": MISSING, "tolerance": MISSING, "result": "none"})
        for i, check in enumerate(checks):
            rows.append((first if i == 0 else {"model": None}) | check)
        for key, value in figures.items():
            if key in checked or key == "rows" or key.endswith("tolerance") or not finite(value):
                continue
            v = float(value)
            shown = count(v) if v.is_integer() else number(v, 4) if abs(v) >= 1e-3 else _sci(v)
            rows.append({"model": None, "check": key, "value": shown, "tolerance": MISSING, "result": "reported"})
    for row in rows:
        if row.get("check"):
            row["check"] = row["check"].replace("_", " ")
    definitions = [f"{model}: {k.replace('_', ' ')} = {v}" for model, figures in results.items()
                   for k, v in mapping(figures).items() if isinstance(v, str)]
    return {"rows": rows, "definitions": definitions}


def _sci(value) -> str:
    if not finite(value):
        return MISSING
    return "0" if float(value) == 0 else f"{float(value):.2e}"


def _parity_checks(figures: Mapping) -> list[dict]:
    """{check, value, tolerance, result} for each figure that has a pass/fail rule.

    `<x>_max_abs_diff` and `<x>_max_scaled_diff` are compared with `<x>_tolerance`, else (for
    the reason-code checks) `additivity_tolerance`, else `tolerance`; `<x>_mismatches` must be
    0; a boolean `passed`/`ok` is taken as given. Shown without a verdict, as training does not
    gate on them: figures in REPORTED_ONLY, and `<x>_max_abs_diff` when `<x>_max_scaled_diff`
    exists (large outputs are compared relative to their size).
    """
    out = []

    def check(key, value, tolerance, passed):
        out.append({"check": key, "value": value, "tolerance": tolerance, "result": "pass" if passed else "fail"})

    for key, value in figures.items():
        if key in REPORTED_ONLY:
            continue
        if key.endswith("_max_abs_diff") and f"{key[: -len('_max_abs_diff')]}_max_scaled_diff" in figures:
            continue  # the scaled difference of the same output is the gated one
        suffix = next((x for x in ("_max_abs_diff", "_max_scaled_diff") if key.endswith(x)), None)
        if suffix:
            prefix = key[: -len(suffix)]
            tol_key = next((k for k in (f"{prefix}_tolerance",
                                        "additivity_tolerance" if prefix in ("additivity", "contributions") else "",
                                        "tolerance") if k and finite(figures.get(k))), None)
            tol = float(figures[tol_key]) if tol_key else None
            check(key, _sci(value), _sci(tol) if tol is not None else MISSING,
                  finite(value) and (tol is None or float(value) <= tol))
        elif key.endswith("mismatches"):
            check(key, count(value) if finite(value) else MISSING, "0", finite(value) and int(value) == 0)
        elif key in ("passed", "ok") and isinstance(value, bool):
            check(key, str(value), "true", value)
    return out


def libraries(card: CardInputs) -> dict:
    libs = mapping(card.manifest.get("libraries"))
    if not libs:
        return {"missing": "No library versions recorded."}
    return {"libraries": [(str(k), str(v)) for k, v in libs.items()]}
