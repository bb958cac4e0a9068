"""The model card: one self-contained HTML page for a bank's risk committee.

`render_model_card(manifest, evaluation)` is called by `training.train.train` and stored as
`model_card.html` in the model version. The page is the report layer's template
`model_card.html` (extending `base.html`, which inlines the one stylesheet and the
Content-Security-Policy); each section is a template `card/<section>.html`, autoescaped,
rendered from the plain data (numbers, strings, lists, dicts) its context function returns.
Numbers are written by the report filters (`percent`, `points`, `number`, `count`); charts
are inline SVG from `riskscore.report.plots`, so the page opens from a bucket or a mail
attachment with no network access.

To add a section: a template under `riskscore/report/templates/card/`, a context function
`(CardInputs) -> dict` (in a module of its own), and one `Section` in `SECTIONS`. A context
`{"missing": sentence}` shows that sentence instead of the template (an optional part that is
absent). A section whose context function or template raises becomes a visible warning (and
an entry in the list at the top) rather than failing the training run; `strict=True` raises
instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from riskscore.report import environment, render
from riskscore.report.plots import ACCENT, BAD, GOOD, REFERENCE, Chart

from training.evaluation import fairness
from training.evaluation import master_scale
from training.evaluation import data_quality_card
from training.evaluation import model_card_models as models
from training.evaluation import model_card_pd as pd_family
from training.evaluation.card_inputs import (CardInputs, chart_svg, finite, histogram, mapping, number_or_none,
                                             seq)

MAX_CATEGORIES_SHOWN = 12
CALIBRATION_WARNING = 0.10  # |observed / mean PD - 1| above this gets a callout
ALGORITHMS = {  # the PD families of training/models/pd, as the card names them
    "logistic": "L2-regularised logistic regression on imputed, one-hot, standardised columns, exported to ONNX",
    "scorecard": "scorecard: optimal monotone binning (optbinning), weight of evidence, logistic regression, "
                 "exported to ONNX",
    "xgboost": "gradient-boosted trees (XGBoost, binary:logistic), exported to ONNX",
    "lightgbm": "gradient-boosted trees (LightGBM, binary), exported to ONNX",
    "blend": "blend: the mean log-odds of the logistic regression and the best boosted family, exported to ONNX",
}


class Section(NamedTuple):
    id: str                                   # the HTML anchor
    title: str                                # the <h2> and the contents entry
    template: str                             # under riskscore/report/templates/
    context: Callable[[CardInputs], dict]     # plain data for the template, seen there as `c`


def render_model_card(manifest: dict, evaluation: dict, *, strict: bool = False) -> str:
    """The model card of one trained version as a self-contained HTML page.

    `manifest` is the version manifest as built by `training.train.train` (before publish,
    so `name`/`version` may be absent: the name falls back to `spec.name`). `evaluation`
    holds the test-set arrays (see `CardInputs`). A section whose context function or template
    raises is replaced by a warning box unless `strict`.
    """
    card = CardInputs(manifest or {}, evaluation or {})
    sections, failed = [], []
    for section in SECTIONS:
        try:
            context = section.context(card)
            # Rendered once alone too, so that a template the context does not fit fails
            # its own section, not the page (a section renders in milliseconds: its charts
            # are already drawn).
            if "missing" not in context:
                environment().get_template(section.template).render(c=context)
        except Exception as exc:  # noqa: BLE001 - a broken section must not sink the training run
            if strict:
                raise
            failed.append(section.title)
            context = {"error": f"{type(exc).__name__}: {exc}"}
        sections.append({"id": section.id, "title": section.title, "template": section.template,
                         "context": context})
    return render("model_card.html", title=f"Model card: {card.name}", name=card.name, header=header(card),
                  failed=failed, sections=sections)


def header(card: CardInputs) -> dict:
    m = card.manifest
    meta = []
    if m.get("version"):
        meta.append({"version": str(m["version"])})
    if m.get("created_at"):
        meta.append({"text": f"Trained {m['created_at']}"})
    promotion = mapping(m.get("promotion"))
    if "promoted" in promotion:
        meta.append({"text": "promoted to current" if promotion["promoted"] else "published, not promoted"})
    test = mapping(card.metrics.get("test"))
    # Small tables: every row is fitted, so the reported figures are out of fold (no test split).
    return {"meta": meta, "description": str(m.get("description") or card.spec.get("description") or ""),
            "test_label": "Out-of-fold" if test.get("out_of_fold") else "Test",
            "test": _figures(test), "valid": _figures(card.metrics.get("valid"))}


def _figures(metrics) -> dict:
    """The PD metrics of one split, every key present (None when absent or not a number)."""
    m = mapping(metrics)
    return {key: number_or_none(m.get(key))
            for key in ("rows", "default_rate", "mean_pd", "auc", "gini", "ks", "brier", "pr_auc")}


# --------------------------------------------------------------------------- sections


def use(card: CardInputs) -> dict:
    split = str(card.data.get("split") or "")
    test_range = seq(mapping(card.data.get("date_ranges")).get("test"))
    pd_model = mapping(card.models.get("pd"))
    model = None
    if pd_model:
        scaling = mapping(card.manifest.get("scaling"))
        if scaling.get("method") == "linear":
            scaling_text = (f"linear: score = {scaling.get('linear_base', '')} + (1 - PD) "
                            f"x {scaling.get('linear_span', '')}")
        elif scaling.get("method") == "pdo":
            scaling_text = (f"points to double the odds: base score {scaling.get('base_score', '')} at odds "
                            f"{scaling.get('base_odds', '')}:1, PDO {scaling.get('pdo', '')}")
        else:
            scaling_text = None
        model = {"algorithm": ALGORITHMS.get(str(pd_model.get("family") or "xgboost"),
                                             f"{pd_model.get('family')}, exported to ONNX"),
                 "best_iteration": number_or_none(pd_model.get("best_iteration")),
                 "contribution_bias": number_or_none(pd_model.get("contribution_bias")),
                 "params": ", ".join(f"{k}={v}" for k, v in mapping(pd_model.get("params")).items()),
                 "scaling": scaling_text}
    return {"target": str(card.columns.get("target") or card.spec.get("target") or "the target"),
            "name": card.name, "out_of_time": "out-of-time" in split, "split": split or "unspecified",
            "test_range": [str(d) for d in test_range] if len(test_range) == 2 else None, "model": model,
            "proxy": _proxy_target(card)}


def _proxy_target(card: CardInputs) -> dict | None:
    """The target is a behavioural proxy (`python -m training proxy-target`), not observed defaults."""
    proxy = mapping(card.manifest.get("target_proxy"))
    if not proxy:
        return None
    return {"rule": str(proxy.get("rule") or ""), "customers": number_or_none(proxy.get("customers")),
            "label_rate": number_or_none(proxy.get("label_rate")), "as_of": str(proxy.get("as_of") or "—")}


def data(card: CardInputs) -> dict:
    d = card.data
    split_rows = mapping(d.get("split_rows"))
    ranges = mapping(d.get("date_ranges"))
    total = number_or_none(d.get("rows"))
    rates = {name: mapping(card.metrics.get(name)).get("default_rate") for name in ("valid", "test")}
    rates["train"] = _remaining_rate(d.get("default_rate"), total, split_rows, rates)
    splits = []
    for name in list(split_rows) or ["train", "valid", "test"]:
        n = number_or_none(split_rows.get(name))
        span = seq(ranges.get(name))
        splits.append({"name": str(name), "rows": n, "share": n / total if n is not None and total else None,
                       "range": f"{span[0]} to {span[1]}" if len(span) == 2 else "—",
                       "rate": number_or_none(rates.get(name))})
    return {"rows": total, "default_rate": number_or_none(d.get("default_rate")),
            "split": str(d.get("split") or "—"),
            "columns": ", ".join(f"{k}: {v}" for k, v in card.columns.items() if v) or "—",
            "fingerprint": str(d.get("fingerprint_sha256") or "—"), "splits": splits,
            "features": [_feature(f) for f in seq(card.manifest.get("features")) if isinstance(f, Mapping)],
            # computed inside every exported graph from the raw columns: callers never send them
            "derived": [{"name": str(d.get("name", "")), "expression": str(d.get("expression", "")),
                         "description": str(d.get("description") or ""), "monotone": str(d.get("monotone") or "—")}
                        for d in seq(card.manifest.get("derived")) if isinstance(d, Mapping)]}


def _feature(f: Mapping) -> dict:
    unknown = None
    if f.get("type") == "categorical":
        cats = [str(c) for c in seq(f.get("categories"))]
        shown = ", ".join(cats[:MAX_CATEGORIES_SHOWN])
        if len(cats) > MAX_CATEGORIES_SHOWN:
            shown += f", … ({len(cats) - MAX_CATEGORIES_SHOWN} more)"
        bounds = f"categories: {shown}" if cats else "—"
        if f.get("unknown"):
            unknown = {"as_missing": "scored as missing", "error": "rejected"}.get(str(f["unknown"]),
                                                                                  str(f["unknown"]))
    else:
        lo, hi = _bound(f.get("min")), _bound(f.get("max"))
        bounds = f"{lo} to {hi}" if (lo != "—" or hi != "—") else "—"
    return {"name": str(f.get("name")), "type": str(f.get("type") or "—"),
            "description": str(f.get("description") or ""), "bounds": bounds, "unknown": unknown,
            "monotone": str(f.get("monotone") or "—"), "nullable": bool(f.get("nullable"))}


def performance(card: CardInputs) -> dict:
    test, valid = mapping(card.metrics.get("test")), mapping(card.metrics.get("valid"))
    if not test and not valid:
        return {"missing": "No PD metrics in the manifest."}
    return {"test": _figures(test), "valid": _figures(valid)}


def roc(card: CardInputs) -> dict:
    if card.y is None or card.pd is None or len(card.y) != len(card.pd):
        return {"missing": "No test predictions to draw the ROC curve."}
    ok = np.isfinite(card.pd)
    y, p = card.y[ok], card.pd[ok]
    if len(np.unique(y)) < 2:
        return {"missing": "The test rows hold a single outcome class: no ROC curve."}
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    auc = float(roc_auc_score(y, p))
    k = int(np.argmax(tpr - fpr))
    fig = Chart(520, 520, xlim=(0, 1), ylim=(0, 1.01), equal=True, title="ROC curve, test rows",
                xlabel="False positive rate (non-defaulters flagged)",
                ylabel="True positive rate (defaulters flagged)")
    step = max(1, fpr.size // 1000)  # a few hundred points draw the same curve
    fig.line(np.r_[fpr[::step], fpr[-1]], np.r_[tpr[::step], tpr[-1]], GOOD, width=2,
             label=f"PD model (AUC {auc:.4f})")
    fig.line([0, 1], [0, 1], REFERENCE, width=1, dash=True, label="no skill (AUC 0.5)")
    fig.line([fpr[k], fpr[k]], [fpr[k], tpr[k]], BAD, width=1.5, label=f"KS {tpr[k] - fpr[k]:.4f}")
    return {"chart": chart_svg(fig, "ROC curve of the PD model on the test rows"),
            "rows": len(y), "defaults": int(y.sum())}


def calibration(card: CardInputs) -> dict:
    test_cal = [r for r in seq(mapping(card.metrics.get("test")).get("calibration")) if isinstance(r, Mapping)]
    valid_cal = [r for r in seq(mapping(card.metrics.get("valid")).get("calibration")) if isinstance(r, Mapping)]
    if not test_cal and card.y is not None and card.pd is not None and len(card.y) == len(card.pd):
        test_cal = _calibration_table(card.y, card.pd)
    if not test_cal:
        return {"missing": "No calibration table in the manifest and no test predictions."}
    curves, top = [], 0.0
    for rows, color, label in ((test_cal, GOOD, "test"), (valid_cal, ACCENT, "validation")):
        pts = [(r.get("mean_pd"), r.get("observed_rate")) for r in rows]
        pts = [(float(x), float(y)) for x, y in pts if finite(x) and finite(y)]
        if pts:
            x, y = map(np.array, zip(*pts))
            top = max(top, float(x.max()), float(y.max()))
            curves.append((x, y, color, f"{label} deciles"))
    top = min(1.0, top * 1.08) or 1.0
    fig = Chart(520, 520, xlim=(0, top), ylim=(0, top), equal=True, xfmt="pct", yfmt="pct",
                xlabel="Mean predicted PD", ylabel="Observed default rate", title="Calibration by PD decile")
    for x, y, color, label in curves:
        fig.line(x, y, color, width=1.5, marker=True, label=label)
    fig.line([0, top], [0, top], REFERENCE, width=1, dash=True, label="perfect calibration")
    deciles = []
    for r in test_cal:
        mean_pd, observed = number_or_none(r.get("mean_pd")), number_or_none(r.get("observed_rate"))
        deciles.append({"decile": str(r.get("decile", "")), "rows": number_or_none(r.get("count")),
                        "pd_min": number_or_none(r.get("pd_min")), "pd_max": number_or_none(r.get("pd_max")),
                        "mean_pd": mean_pd, "observed": observed, "defaults": number_or_none(r.get("defaults")),
                        "ratio": observed / mean_pd if observed is not None and mean_pd else None})
    overall = []
    for name, label in (("test", "Test"), ("valid", "Validation")):
        m = mapping(card.metrics.get(name))
        mean_pd, observed = number_or_none(m.get("mean_pd")), number_or_none(m.get("default_rate"))
        if mean_pd is None or observed is None:
            continue
        ratio = observed / mean_pd if mean_pd else None
        warn = ratio is not None and abs(ratio - 1) > CALIBRATION_WARNING
        overall.append({"split": label, "mean_pd": mean_pd, "observed": observed, "ratio": ratio,
                        "warning": ("overestimates" if ratio < 1 else "underestimates") if warn else None})
    return {"chart": chart_svg(fig, "Calibration plot: mean predicted PD against observed default rate by decile"),
            "deciles": deciles, "overall": overall, "threshold": CALIBRATION_WARNING}


def scores(card: CardInputs) -> dict:
    if card.y is None or card.score is None or len(card.y) != len(card.score):
        return {"missing": "No test scores to draw the score distribution."}
    ok = np.isfinite(card.score)
    s, y = card.score[ok], card.y[ok]
    if not s.size:
        return {"missing": "No finite test scores."}
    lo, hi = float(s.min()), float(s.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 51)
    fig = Chart(800, 380, xlabel="Score (higher = lower risk)", ylabel="Density",
                title="Score distribution by outcome, test rows")
    fig.stairs(edges, histogram(s[y == 0], edges), GOOD, label=f"non-defaulters ({int((y == 0).sum()):,})")
    fig.stairs(edges, histogram(s[y == 1], edges), BAD, label=f"defaulters ({int((y == 1).sum()):,})")
    for band in seq(card.manifest.get("rating_bands")):
        cut = mapping(band).get("min_score")
        if finite(cut) and lo <= float(cut) <= edges[-1]:
            fig.vline(float(cut), REFERENCE, text=str(band.get("name", "")))
    return {"chart": chart_svg(fig, "Histograms of the score for defaulters and non-defaulters")}


def ratings(card: CardInputs) -> dict:
    bands = [b for b in seq(card.manifest.get("rating_bands")) if isinstance(b, Mapping)]
    if not bands:
        return {"missing": "No rating bands in the manifest."}
    # Best band first, with PD ranges and observed against predicted default rates: the cells are
    # plain text written by the one formatting module.
    headers, rows, note = master_scale.card_rows(bands)
    return {"headers": headers, "rows": rows, "note": note, "numeric": [3, 4, 5, 6]}


def importance(card: CardInputs) -> dict:
    imp = {str(k): float(v) for k, v in mapping(card.evaluation.get("importance")).items() if finite(v)}
    if not imp:
        return {"missing": "No feature importance in the evaluation."}
    items = sorted(imp.items(), key=lambda kv: kv[1])[::-1]  # largest first, at the top
    fig = Chart(750, int(min(120 + 24 * len(items), 1200)), title="Feature importance",
                xlabel="Mean |contribution| to the log-odds of default, test rows")
    fig.hbars([k for k, _ in items], [v for _, v in items], GOOD)
    contributions = mapping(card.models.get("pd")).get("contributions")
    return {"chart": chart_svg(fig, "Bar chart of mean absolute log-odds contribution per feature"),
            "contributions": str(contributions) if contributions else None}


def segments(card: CardInputs) -> dict:
    seg = mapping(card.models.get("segment"))
    profiles = [p for p in seq(seg.get("profiles")) if isinstance(p, Mapping)]
    if not profiles:
        return {"missing": "No segment profiles in the manifest."}
    keys = ("size", "share", "observed_default_rate", "mean_pd", "mean_lgd")
    return {"profiles": [{"id": str(p.get("id", "")), "name": str(p.get("name", ""))}
                         | {k: number_or_none(p.get(k)) for k in keys} for p in profiles],
            "order": _sentence(seg.get("order") or "")}


# --------------------------------------------------------------------------- helpers


def _sentence(text) -> str:
    text = str(text).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""


def _bound(value) -> str:
    """A score or feature bound: a whole number with separators, else the shortest form."""
    if not finite(value):
        return "—"
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:g}"


def _remaining_rate(overall, total, split_rows: Mapping, rates: Mapping) -> float | None:
    """The train default rate, from the overall rate and those of the other splits."""
    train_rows = split_rows.get("train")
    others = [(split_rows.get(k), rates.get(k)) for k in split_rows if k != "train"]
    if not (finite(overall) and finite(total) and finite(train_rows) and train_rows
            and all(finite(n) and finite(r) for n, r in others)):
        return None
    defaults = float(overall) * float(total) - sum(float(n) * float(r) for n, r in others)
    return min(1.0, max(0.0, defaults / float(train_rows)))


def _calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    order = np.argsort(p, kind="stable")
    return [{"decile": i, "count": int(len(idx)), "pd_min": float(p[idx].min()), "pd_max": float(p[idx].max()),
             "mean_pd": float(p[idx].mean()), "observed_rate": float(y[idx].mean()), "defaults": int(y[idx].sum())}
            for i, idx in enumerate(np.array_split(order, bins), start=1) if len(idx)]


# --------------------------------------------------------------------------- the sections, in page order

SECTIONS: list[Section] = [
    Section("use", "Intended use and limitations", "card/use.html", use),
    Section("data", "Data summary", "card/data.html", data),
    Section("data-quality", "Data quality", "card/data_quality.html", data_quality_card.data_quality),
    Section("collinearity", "Multicollinearity", "card/collinearity.html", data_quality_card.collinearity),
    Section("performance", "PD performance", "card/performance.html", performance),
    Section("pd-family", "PD model family and champion", "card/pd_family.html", pd_family.context),
    Section("roc", "ROC curve", "card/roc.html", roc),
    Section("calibration", "Calibration", "card/calibration.html", calibration),
    Section("scores", "Score distribution", "card/scores.html", scores),
    Section("ratings", "Rating bands", "card/ratings.html", ratings),
    Section("fairness", "Fairness by protected group", "card/fairness.html", fairness.context),
    Section("importance", "Feature importance", "card/importance.html", importance),
    Section("segments", "Segment profiles", "card/segments.html", segments),
    Section("forecast", "Default-rate history and forecast", "card/forecast.html", models.forecast),
    Section("lgd", "Loss given default (LGD)", "card/lgd.html", models.lgd),
    Section("anomaly", "Anomaly detection", "card/anomaly.html", models.anomaly),
    Section("expected-loss", "Expected loss", "card/expected_loss.html", models.expected_loss),
    Section("parity", "ONNX export parity", "card/parity.html", models.parity),
    Section("libraries", "Library versions", "card/libraries.html", models.libraries),
]
SECTION_TITLES = [section.title for section in SECTIONS]
