"""The model card: one self-contained HTML page for a bank's risk committee.

`render_model_card(manifest, evaluation)` is called by `training.train.train` and stored as
`model_card.html` in the model version. It is rendered by the project's one report layer
(`riskscore.report`: template `model_card.html` extending `base.html`, which inlines the one
stylesheet and the Content-Security-Policy) and every plot is inline SVG from the one
plotting module (`riskscore.report.plots`): it opens from a bucket or a mail attachment with
no network access. Histograms are binned with numpy, so the full test set is used and the
page size does not grow with the row count.

Each section is built by a `_Card` method returning an HTML fragment in which every value
taken from the manifest is escaped (`_e`); the template places the fragments.

Every text taken from the manifest is HTML-escaped. Optional parts (LGD, forecast, anomaly
scores, expected loss) may be missing; their sections then say so instead of plotting.
A section that fails to render becomes a visible warning in the page (and in the list at the
top) rather than failing the training run; pass `strict=True` to raise instead.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping

import numpy as np
from markupsafe import Markup

from riskscore.report import render
from riskscore.report.format import MISSING, count, number, percent
from riskscore.report.format import points as percentage_points
from riskscore.report.plots import ACCENT, BAD, GOOD, REFERENCE, Chart

from training.evaluation import model_card_pd as pd_tables

MAX_SCATTER_POINTS = 2_000
MAX_CATEGORIES_SHOWN = 12
MAX_WARNINGS_SHOWN = 5
CALIBRATION_WARNING = 0.10  # |observed / mean PD - 1| above this gets a callout

SECTIONS = [
    ("use", "Intended use and limitations"),
    ("data", "Data summary"),
    ("performance", "PD performance"),
    ("pd-family", "PD model family and champion"),
    ("roc", "ROC curve"),
    ("calibration", "Calibration"),
    ("scores", "Score distribution"),
    ("ratings", "Rating bands"),
    ("importance", "Feature importance"),
    ("segments", "Segment profiles"),
    ("forecast", "Default-rate history and forecast"),
    ("lgd", "Loss given default (LGD)"),
    ("anomaly", "Anomaly detection"),
    ("expected-loss", "Expected loss"),
    ("parity", "ONNX export parity"),
    ("libraries", "Library versions"),
]
SECTION_TITLES = [title for _, title in SECTIONS]


# Parity figures that training reports but does not gate on: the PD log-odds is a float32 sum
# over hundreds of trees whose last bits depend on summation order; the PD built from it is gated.
REPORTED_ONLY = frozenset({"logit_max_abs_diff"})


def render_model_card(manifest: dict, evaluation: dict, *, strict: bool = False) -> str:
    """The model card of one trained version as a self-contained HTML page.

    `manifest` is the version manifest as built by `training.train.train` (before publish,
    so `name`/`version` may be absent: the name falls back to `spec.name`). `evaluation`
    holds the test-set arrays: y_test, pd_test, score_test, importance, lgd_actual, lgd_pred,
    anomaly_score_test, forecast (any of the optional ones may be None or absent).
    A section that raises is replaced by a warning box unless `strict`.
    """
    manifest = manifest or {}
    evaluation = evaluation or {}
    card = _Card(manifest, evaluation)
    builders: dict[str, Callable[[], str]] = {
        "use": card.use, "data": card.data, "performance": card.performance, "pd-family": card.pd_family,
        "roc": card.roc,
        "calibration": card.calibration, "scores": card.scores, "ratings": card.ratings,
        "importance": card.importance, "segments": card.segments, "forecast": card.forecast,
        "lgd": card.lgd, "anomaly": card.anomaly, "expected-loss": card.expected_loss,
        "parity": card.parity, "libraries": card.libraries}
    sections, failed = [], []
    for anchor, title in SECTIONS:
        try:
            body = builders[anchor]()
        except Exception as exc:  # noqa: BLE001 - a broken section must not sink the training run
            if strict:
                raise
            failed.append(title)
            body = (f'<div class="error">This section could not be rendered: '
                    f"{_e(type(exc).__name__)}: {_e(exc)}</div>")
        sections.append(body)

    return render("model_card.html", title=f"Model card: {card.name}", header=Markup(card.header()),
                  failed=failed, sections=[(anchor, title, Markup(body)) for (anchor, title), body
                                           in zip(SECTIONS, sections)])


# --------------------------------------------------------------------------- formatting


def _e(value) -> str:
    """HTML-escape any value's text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _f(value, digits: int = 4) -> str:
    return number(value, digits) if _finite(value) else MISSING


def _pct(value, digits: int = 2) -> str:
    return percent(value, digits) if _finite(value) else MISSING


def _int(value) -> str:
    return count(value) if _finite(value) else MISSING


def _sci(value) -> str:
    if not _finite(value):
        return "—"
    return "0" if float(value) == 0 else f"{float(value):.2e}"


def _pp(value) -> str:
    """A difference of rates in percentage points."""
    return percentage_points(value) if _finite(value) else MISSING


def _money(value) -> str:
    return f"{float(value):,.0f}" if _finite(value) else "—"


def _mapping(value) -> dict:
    return value if isinstance(value, Mapping) else {}


def _seq(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _array(value) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None  # not numbers: the sections that need the array say it is missing
    return arr if arr.size else None


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), cls: str = "") -> str:
    """Cells are already-escaped HTML; column indexes in `numeric` are right-aligned."""
    def cell(tag: str, i: int, content: str) -> str:
        return f'<{tag} class="num">{content}</{tag}>' if i in numeric else f"<{tag}>{content}</{tag}>"
    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(rows: list[tuple[str, str]]) -> str:
    """A two-column key/value table; values are already-escaped HTML."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


# --------------------------------------------------------------------------- plotting


def _img(chart: Chart, alt: str, caption: str) -> str:
    """The chart as an inline-SVG <figure>; `caption` is already-escaped HTML."""
    return str(chart.figure(alt, Markup(caption)))


def _histogram(values: np.ndarray, edges: np.ndarray, density: bool = True) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)
    return counts / (counts.sum() * np.diff(edges)) if density and counts.sum() else counts.astype(float)


# --------------------------------------------------------------------------- the card


class _Card:
    def __init__(self, manifest: dict, evaluation: dict):
        self.m = manifest
        self.ev = evaluation
        self.spec = _mapping(manifest.get("spec"))
        self.metrics = _mapping(manifest.get("metrics"))
        self.models = _mapping(manifest.get("models"))
        self.columns = _mapping(manifest.get("columns"))
        self.data_info = _mapping(manifest.get("data"))
        self.name = str(manifest.get("name") or self.spec.get("name") or "model")
        self.y = _array(evaluation.get("y_test"))
        self.pd = _array(evaluation.get("pd_test"))
        self.score = _array(evaluation.get("score_test"))

    # -- header -------------------------------------------------------------------------

    def header(self) -> str:
        meta = []
        if self.m.get("version"):
            meta.append(f"Version <strong>{_e(self.m['version'])}</strong>")
        if self.m.get("created_at"):
            meta.append(f"Trained {_e(self.m['created_at'])}")
        promotion = _mapping(self.m.get("promotion"))
        if "promoted" in promotion:
            state = "promoted to current" if promotion["promoted"] else "published, not promoted"
            meta.append(_e(state))
        test, valid = _mapping(self.metrics.get("test")), _mapping(self.metrics.get("valid"))
        # small tables: every row is fitted, the figures are out of fold (no test split)
        t = "Out-of-fold" if test.get("out_of_fold") else "Test"
        cards = [(f"{t} AUC", _f(test.get("auc"))), (f"{t} Gini", _f(test.get("gini"))),
                 (f"{t} KS", _f(test.get("ks"))), (f"{t} rows", _int(test.get("rows"))),
                 (f"{t} default rate", _pct(test.get("default_rate"))),
                 ("Validation AUC", _f(valid.get("auc")))]
        cards_html = "".join(f'<div class="card"><div class="label">{_e(k)}</div>'
                             f'<div class="value">{v}</div></div>' for k, v in cards)
        description = self.m.get("description") or self.spec.get("description") or ""
        return (f"<header><h1>Model card: {_e(self.name)}</h1>"
                f'<p class="meta">{" · ".join(meta)}</p>'
                + (f'<p class="subtitle">{_e(description)}</p>' if description else "")
                + f'<div class="cards">{cards_html}</div></header>')

    # -- sections -----------------------------------------------------------------------

    def proxy_target(self) -> str:
        """The target is a behavioural proxy (`python -m training proxy-target`), not observed defaults."""
        proxy = _mapping(self.m.get("target_proxy"))
        if not proxy:
            return ""
        return ("<p><strong>The target is a proxy, not an observed default.</strong> "
                f"{_e(proxy.get('rule', ''))} {_int(proxy.get('customers'))} customers, "
                f"{_pct(proxy.get('label_rate'))} labelled high risk, as of {_e(proxy.get('as_of', ''))}. "
                "Every figure below measures how well the model reproduces that label; whether the label "
                "tracks real credit losses must be checked separately before the score drives decisions.</p>")

    def use(self) -> str:
        target = self.columns.get("target") or self.spec.get("target") or "the target"
        split = self.data_info.get("split") or ""
        out_of_time = "out-of-time" in str(split)
        ranges = _mapping(self.data_info.get("date_ranges"))
        test_range = _seq(ranges.get("test"))
        parts = [
            "<h3>Intended use</h3>",
            "<p>Estimates the <strong>probability of default (PD) within 12 months</strong> of a consumer "
            f"loan application (target column <code>{_e(target)}</code>), for credit decisions: approve or "
            "decline, pricing, limit setting and portfolio monitoring. The PD is also mapped to a score and a "
            "rating band, and each score comes with reason codes from the model's own per-feature "
            "contributions. It is meant to support, not replace, credit policy rules and human review.</p>",
            f"<p>The model was trained end-to-end from the declarative spec <code>{_e(self.name)}</code>: "
            "features, bounds, monotone constraints, split and score scaling below come from that spec, and "
            "every exported ONNX model was checked against its native model before publishing.</p>",
            self.proxy_target(),
            "<h3>Limitations</h3>",
            "<ul>",
            "<li><strong>Training population.</strong> Every figure describes the population of the training "
            "table only. When that table is synthetic (as for the default spec and "
            "<code>python -m training generate</code>), the figures describe synthetic applicants and say "
            "nothing about a real portfolio. Applicants unlike the training population (new products, "
            "channels, rejected applicants, different economic conditions) are outside the evidence "
            "presented here.</li>",
        ]
        if out_of_time:
            when = (f" ({_e(test_range[0])} to {_e(test_range[1])})" if len(test_range) == 2 else "")
            parts.append(
                "<li><strong>Out-of-time test.</strong> The test split holds the most recent applications"
                f"{when}, after the training and validation periods, so test metrics estimate performance on "
                "future applicants under the conditions of that window. They do not cover later shifts in the "
                "economy or the applicant mix: monitor drift and the realised default rate in production.</li>")
        else:
            parts.append(
                f"<li><strong>Random test split</strong> ({_e(split or 'unspecified')}). Test metrics measure "
                "performance on applicants from the same period as training, not on future applicants; expect "
                "weaker results out of time.</li>")
        parts += [
            "<li><strong>Outcome window.</strong> A 12-month outcome needs 12 months to be observed: the "
            "most recent applications may not have had their full window, and default rates of recent months "
            "should be read with that in mind.</li>",
            "<li><strong>Calibration.</strong> PDs are calibrated to the training period's default rate; if the "
            "portfolio default rate moves (see the forecast), PDs need recalibration or the model retraining."
            "</li>",
            "<li><strong>No reject inference.</strong> Only applicants with an observed outcome are modelled."
            "</li>",
            "</ul>",
        ]
        pd_model = _mapping(self.models.get("pd"))
        if pd_model:
            params = _mapping(pd_model.get("params"))
            shown = ", ".join(f"{_e(k)}={_e(v)}" for k, v in params.items())
            algorithm = ("scorecard: optimal monotone binning (optbinning), weight of evidence, logistic "
                         "regression, exported to ONNX" if pd_model.get("family") == "scorecard" else
                         "gradient-boosted trees (XGBoost, binary:logistic), exported to ONNX")
            rows = [("Algorithm", algorithm),
                    ("Best iteration", _int(pd_model.get("best_iteration"))),
                    ("Contribution bias (log-odds)", _f(pd_model.get("contribution_bias"))),
                    ("Hyper-parameters", f'<span class="mono">{shown or "—"}</span>')]
            scaling = _mapping(self.m.get("scaling"))
            if scaling.get("method") == "linear":
                rows.append(("Score scaling", _e(f"linear: score = {scaling.get('linear_base', '')} + (1 - PD) "
                                                f"x {scaling.get('linear_span', '')}")))
            elif scaling.get("method") == "pdo":
                rows.append(("Score scaling", _e(f"points to double the odds: base score "
                                                f"{scaling.get('base_score', '')} at odds "
                                                f"{scaling.get('base_odds', '')}:1, PDO {scaling.get('pdo', '')}")))
            parts += ["<h3>PD model</h3>", _kv(rows)]
        return "\n".join(parts)

    def data(self) -> str:
        d = self.data_info
        split_rows = _mapping(d.get("split_rows"))
        ranges = _mapping(d.get("date_ranges"))
        total = d.get("rows")
        parts = [_kv([
            ("Rows", _int(total)),
            ("Default rate (all rows)", _pct(d.get("default_rate"))),
            ("Split", _e(d.get("split") or "—")),
            ("Columns", _e(", ".join(f"{k}: {v}" for k, v in self.columns.items() if v)) or "—"),
            ("Data fingerprint (SHA-256)", f'<span class="mono">{_e(d.get("fingerprint_sha256") or "—")}</span>'),
        ])]
        rates = {name: _mapping(self.metrics.get(name)).get("default_rate") for name in ("valid", "test")}
        rates["train"] = _remaining_rate(d.get("default_rate"), total, split_rows, rates)
        rows = []
        for name in list(split_rows) or ["train", "valid", "test"]:
            n = split_rows.get(name)
            rng = _seq(ranges.get(name))
            share = (n / total) if _finite(n) and _finite(total) and total else None
            rate = rates.get(name)
            rows.append([_e(name), _int(n), _pct(share, 1),
                         _e(f"{rng[0]} to {rng[1]}") if len(rng) == 2 else "—", _pct(rate)])
        parts += ["<h3>Splits</h3>",
                  _table(["Split", "Rows", "Share", "Date range", "Default rate"], rows, numeric={1, 2, 4})]
        features = [f for f in _seq(self.m.get("features")) if isinstance(f, Mapping)]
        if features:
            frows = []
            for f in features:
                if f.get("type") == "categorical":
                    cats = [str(c) for c in _seq(f.get("categories"))]
                    shown = ", ".join(cats[:MAX_CATEGORIES_SHOWN])
                    if len(cats) > MAX_CATEGORIES_SHOWN:
                        shown += f", … ({len(cats) - MAX_CATEGORIES_SHOWN} more)"
                    bounds = _e(f"categories: {shown}") if cats else "—"
                    if f.get("unknown"):
                        unknown = {"as_missing": "scored as missing", "error": "rejected"}.get(
                            str(f["unknown"]), str(f["unknown"]))
                        bounds += f'<br><span class="note">unseen category: {_e(unknown)}</span>'
                else:
                    lo = _bound(f.get("min"))
                    hi = _bound(f.get("max"))
                    bounds = _e(f"{lo} to {hi}") if (lo != "—" or hi != "—") else "—"
                frows.append([f"<code>{_e(f.get('name'))}</code>", _e(f.get("type") or "—"),
                              _e(f.get("description") or ""), bounds, _e(f.get("monotone") or "—"),
                              "yes" if f.get("nullable") else "no"])
            parts += [f"<h3>Features ({len(features)})</h3>",
                      _table(["Feature", "Type", "Description", "Allowed values", "Monotone in PD", "Nullable"],
                             frows),
                      '<p class="note">Monotone: the PD can only rise (increasing) or only fall (decreasing) as '
                      "the feature grows, all else equal; enforced in training. Values outside the bounds are "
                      "rejected at training and at scoring time.</p>"]
        return "\n".join(parts)

    def performance(self) -> str:
        test, valid = _mapping(self.metrics.get("test")), _mapping(self.metrics.get("valid"))
        if not test and not valid:
            return _missing("No PD metrics in the manifest.")
        spec = [("Rows", "rows", _int), ("Default rate", "default_rate", _pct), ("Mean PD", "mean_pd", _pct),
                ("AUC", "auc", _f), ("Gini", "gini", _f), ("KS", "ks", _f), ("Brier score", "brier", _f),
                ("PR-AUC (average precision)", "pr_auc", _f)]
        rows = [[_e(label), fmt(test.get(key)), fmt(valid.get(key))] for label, key, fmt in spec]
        return "\n".join([
            _table(["Metric", "Test", "Validation"], rows, numeric={1, 2}),
            '<p class="note">AUC: probability that a random defaulter gets a higher PD than a random '
            "non-defaulter (0.5 = no skill). Gini = 2·AUC − 1. KS: largest gap between the cumulative score "
            "distributions of defaulters and non-defaulters. Brier: mean squared error of the PD (lower is "
            "better). PR-AUC: average precision for defaulters; a model without skill scores about the default "
            "rate. Test metrics come from the exported ONNX model; validation rows were used for early "
            "stopping.</p>"])

    def roc(self) -> str:
        if self.y is None or self.pd is None or len(self.y) != len(self.pd):
            return _missing("No test predictions to draw the ROC curve.")
        ok = np.isfinite(self.pd)
        y, p = self.y[ok], self.pd[ok]
        if len(np.unique(y)) < 2:
            return _missing("The test rows hold a single outcome class: no ROC curve.")
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
        return _img(fig, "ROC curve of the PD model on the test rows",
                    f"ROC curve of the PD on {len(y):,} test rows ({int(y.sum()):,} defaults). The dashed diagonal is "
                    "a model without skill; the vertical segment marks the KS statistic.")

    def calibration(self) -> str:
        test_cal = [r for r in _seq(_mapping(self.metrics.get("test")).get("calibration")) if isinstance(r, Mapping)]
        valid_cal = [r for r in _seq(_mapping(self.metrics.get("valid")).get("calibration")) if isinstance(r, Mapping)]
        if not test_cal and self.y is not None and self.pd is not None and len(self.y) == len(self.pd):
            test_cal = _calibration_table(self.y, self.pd)
        if not test_cal:
            return _missing("No calibration table in the manifest and no test predictions.")
        points = []
        top = 0.0
        for rows, color, label, marker in ((test_cal, GOOD, "test", "o"), (valid_cal, ACCENT, "validation", "s")):
            xs = [r.get("mean_pd") for r in rows]
            ys = [r.get("observed_rate") for r in rows]
            pts = [(x, y) for x, y in zip(xs, ys) if _finite(x) and _finite(y)]
            if not pts:
                continue
            x, yv = map(np.array, zip(*pts))
            top = max(top, float(x.max()), float(yv.max()))
            points.append((x, yv, color, f"{label} deciles"))
        top = min(1.0, top * 1.08) or 1.0
        fig = Chart(520, 520, xlim=(0, top), ylim=(0, top), equal=True, xfmt="pct", yfmt="pct",
                    xlabel="Mean predicted PD", ylabel="Observed default rate", title="Calibration by PD decile")
        for x, yv, color, label in points:
            fig.line(x, yv, color, width=1.5, marker=True, label=label)
        fig.line([0, top], [0, top], REFERENCE, width=1, dash=True, label="perfect calibration")
        plot = _img(fig, "Calibration plot: mean predicted PD against observed default rate by decile",
                    "Rows sorted by PD and cut into ten equal-count groups. Points on the dashed diagonal are "
                    "perfectly calibrated; above it the model underestimates risk, below it overestimates.")
        rows = []
        for r in test_cal:
            mean_pd, obs = r.get("mean_pd"), r.get("observed_rate")
            ratio = (float(obs) / float(mean_pd)) if _finite(obs) and _finite(mean_pd) and mean_pd else None
            rows.append([_e(r.get("decile", "")), _int(r.get("count")),
                         f"{_pct(r.get('pd_min'))} – {_pct(r.get('pd_max'))}", _pct(mean_pd), _pct(obs),
                         _int(r.get("defaults")), _f(ratio, 2)])
        table = _table(["Decile", "Rows", "PD range", "Mean PD", "Observed rate", "Defaults", "Observed / predicted"],
                       rows, numeric={0, 1, 2, 3, 4, 5, 6})
        return (self._calibration_in_the_large()
                + f'<div class="row"><div>{plot}</div><div><h3>Test deciles</h3>{table}</div></div>')

    def _calibration_in_the_large(self) -> str:
        """Mean PD against the observed default rate per split, with a warning past 10%."""
        rows, warnings = [], []
        for name, label in (("test", "Test"), ("valid", "Validation")):
            m = _mapping(self.metrics.get(name))
            mean_pd, observed = m.get("mean_pd"), m.get("default_rate")
            if not (_finite(mean_pd) and _finite(observed)):
                continue
            ratio = float(observed) / float(mean_pd) if mean_pd else None
            rows.append([_e(label), _pct(mean_pd), _pct(observed), _f(ratio, 2)])
            if ratio is not None and abs(ratio - 1) > CALIBRATION_WARNING:
                way = "overestimates" if ratio < 1 else "underestimates"
                warnings.append(f"On the {label.lower()} rows the mean PD ({_pct(mean_pd)}) differs from the "
                                f"observed default rate ({_pct(observed)}) by more than "
                                f"{CALIBRATION_WARNING:.0%}: the model {way} the overall level of risk in that "
                                "period. Ranking (AUC) can still hold; PD levels used for pricing, provisioning "
                                "or cut-offs may need recalibration.")
        if not rows:
            return ""
        out = _table(["Split", "Mean PD", "Observed default rate", "Observed / predicted"], rows, numeric={1, 2, 3})
        return out + "".join(f'<p class="callout">{_e(w)}</p>' for w in warnings)

    def scores(self) -> str:
        if self.y is None or self.score is None or len(self.y) != len(self.score):
            return _missing("No test scores to draw the score distribution.")
        ok = np.isfinite(self.score)
        s, y = self.score[ok], self.y[ok]
        if not s.size:
            return _missing("No finite test scores.")
        lo, hi = float(s.min()), float(s.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, 51)
        fig = Chart(800, 380, xlabel="Score (higher = lower risk)", ylabel="Density",
                    title="Score distribution by outcome, test rows")
        fig.stairs(edges, _histogram(s[y == 0], edges), GOOD, label=f"non-defaulters ({int((y == 0).sum()):,})")
        fig.stairs(edges, _histogram(s[y == 1], edges), BAD, label=f"defaulters ({int((y == 1).sum()):,})")
        for band in _seq(self.m.get("rating_bands")):
            cut = _mapping(band).get("min_score")
            if _finite(cut) and lo <= float(cut) <= hi:
                fig.vline(float(cut), REFERENCE, text=str(band.get("name", "")))
        return _img(fig, "Histograms of the score for defaulters and non-defaulters",
                    "Each outcome's histogram is normalised to unit area, so the shapes compare despite the "
                    "different counts. Dotted lines are the lower bounds of the rating bands. Less overlap "
                    "means better separation.")

    def ratings(self) -> str:
        bands = [b for b in _seq(self.m.get("rating_bands")) if isinstance(b, Mapping)]
        if not bands:
            return _missing("No rating bands in the manifest.")
        total = sum(int(b["test_count"]) for b in bands if _finite(b.get("test_count")))
        rows = []
        for i, b in enumerate(bands):
            lo = b.get("min_score")
            nxt = bands[i + 1].get("min_score") if i + 1 < len(bands) else None
            if _finite(lo) and _finite(nxt):
                rng = f"{_bound(lo)} to < {_bound(nxt)}"
            elif _finite(lo):
                rng = f"≥ {_bound(lo)}"
            elif _finite(nxt):
                rng = f"< {_bound(nxt)}"
            else:
                rng = "all scores"
            count = b.get("test_count")
            share = count / total if _finite(count) and total else None
            rows.append([_e(b.get("name")), _e(rng), _int(count), _pct(share, 1), _pct(b.get("observed_default_rate"))])
        rates = [b.get("observed_default_rate") for b in bands if _finite(b.get("observed_default_rate"))]
        monotone = all(a >= c for a, c in zip(rates, rates[1:]))
        note = ("Observed default rates fall steadily from the lowest to the highest band, as they should."
                if monotone and len(rates) > 1 else
                "Observed default rates do not fall steadily from the lowest to the highest band: review the "
                "band boundaries." if len(rates) > 1 else "")
        return (_table(["Band", "Score range", "Test rows", "Share", "Observed default rate"], rows,
                       numeric={2, 3, 4})
                + (f'<p class="note">{_e(note)}</p>' if note else ""))

    def pd_family(self) -> str:
        """Candidates and champion; for a scorecard its information values and points table."""
        pd_model = _mapping(self.models.get("pd"))
        if not pd_model.get("candidates"):
            return _missing("No PD family candidates in the manifest.")
        parts = [_kv([(k, _e(v)) for k, v in pd_tables.regime_lines(pd_model)])]
        headers, rows = pd_tables.candidate_table(pd_model)
        parts.append(_table(headers, [[_e(c) for c in r] for r in rows], numeric={1, 2, 4}))
        if pd_model.get("information_value"):
            headers, rows = pd_tables.iv_table(pd_model)
            parts += ["<h3>Information value</h3>",
                      _table(headers, [[_e(c) for c in r] for r in rows], numeric={1, 2, 3}),
                      '<p class="note">Information value of each feature\'s bins (below 0.02: no usable '
                      "signal; 0.1-0.3 medium; above 0.3 strong).</p>"]
            headers, rows = pd_tables.points_table(pd_model)
            parts += ["<h3>Points table</h3>",
                      _table(headers, [[_e(c) for c in r] for r in rows], numeric=set(range(2, len(headers)))),
                      '<p class="note">Points are log-odds of default added to the intercept '
                      f"({_f(pd_model.get('contribution_bias'))}); an applicant's log-odds is the intercept plus "
                      "the points of their bin in every feature. Counts and rates are those of the rows the bins "
                      "were fitted on.</p>"]
        return "\n".join(parts)

    def importance(self) -> str:
        imp = {str(k): float(v) for k, v in _mapping(self.ev.get("importance")).items() if _finite(v)}
        pd_model = _mapping(self.models.get("pd"))
        if not imp:
            return _missing("No feature importance in the evaluation.")
        items = sorted(imp.items(), key=lambda kv: kv[1])
        items = items[::-1]  # largest first, at the top
        fig = Chart(750, int(min(120 + 24 * len(items), 1200)), title="Feature importance",
                    xlabel="Mean |contribution| to the log-odds of default, test rows")
        fig.hbars([k for k, _ in items], [v for _, v in items], GOOD)
        plot = _img(fig, "Bar chart of mean absolute log-odds contribution per feature",
                    "Average size of each feature's contribution to an applicant's log-odds of default, whatever "
                    "its sign.")
        note = ("<p>The reason codes returned with every score come from these same per-applicant "
                "contributions: the features pushing that applicant's PD up the most are its reasons. A feature "
                "high in this chart is therefore often cited as a reason.</p>")
        if pd_model.get("contributions"):
            note += f'<p class="note">Contributions: {_e(pd_model["contributions"])}.</p>'
        return plot + note

    def segments(self) -> str:
        seg = _mapping(self.models.get("segment"))
        profiles = [p for p in _seq(seg.get("profiles")) if isinstance(p, Mapping)]
        if not profiles:
            return _missing("No segment profiles in the manifest.")
        rows = [[_e(p.get("id", "")), _e(p.get("name", "")), _int(p.get("size")), _pct(p.get("share"), 1),
                 _pct(p.get("observed_default_rate")), _pct(p.get("mean_pd")), _pct(p.get("mean_lgd"), 1)]
                for p in profiles]
        note = seg.get("order") or ""
        return (_table(["Segment", "Profile", "Rows", "Share", "Observed default rate", "Mean PD", "Mean LGD"],
                       rows, numeric={0, 2, 3, 4, 5, 6})
                + '<p class="note">Applicant segments from k-means on the standardised model inputs, over all '
                  "rows. Names give the risk tier and the two inputs furthest from the average applicant."
                + (f" {_e(_sentence(note))}" if note else "") + "</p>")

    def forecast(self) -> str:
        fc = self.ev.get("forecast")
        if not isinstance(fc, Mapping) or not fc:
            return _missing("No default-rate forecast: the spec has no date column, or the forecast was not run.")
        history = [h for h in _seq(fc.get("history")) if isinstance(h, Mapping)]
        ahead = [f for f in _seq(fc.get("forecast")) if isinstance(f, Mapping)]
        hist_rate = [_history_rate(h) for h in history]
        parts = []
        if history or ahead:
            months = [str(h.get("month", "")) for h in history] + [str(f.get("month", "")) for f in ahead]
            x = np.arange(len(months))
            shown = [r for r in hist_rate if r is not None] + [
                float(f[k]) for f in ahead for k in ("rate", "upper_80", "upper_95") if _finite(f.get(k))]
            fig = Chart(900, 420, ylim=(0, 1.1 * max(shown) if shown and max(shown) > 0 else 1.0),
                        xlim=(-0.5, len(months) - 0.5), yfmt="pct", ylabel="Default rate",
                        title="Monthly default rate: history and forecast")
            hx = [i for i, r in enumerate(hist_rate) if r is not None]
            fig.line(x[hx], [hist_rate[i] for i in hx], GOOD, width=1.8, marker=True,
                     label="observed monthly default rate")
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
            parts.append(_img(fig, "Monthly default rate history with a 12-month forecast and 80% and 95% bands",
                              "Observed default rate by application month, then the ARIMA forecast with its 80% "
                              "(darker) and 95% (lighter) prediction intervals."))
        info = []
        order = _seq(fc.get("order"))
        if order:
            info.append(("Model", _e(f"ARIMA({', '.join(str(o) for o in order)})")))
        if _finite(fc.get("aic")):
            info.append(("AIC", _f(fc.get("aic"), 1)))
        backtest = _mapping(fc.get("backtest"))
        if backtest:
            held_out = len(_seq(backtest.get("months")))
            span = f"last {held_out} months" if held_out else "held-out months"
            if _finite(backtest.get("train_months")):
                span += f", refitted on the {int(backtest['train_months'])} months before"
            info.append(("Backtest", _e(span)))
            naive = _mapping(backtest.get("naive"))
            for key, label in (("mae", "MAE"), ("rmse", "RMSE")):
                if key in backtest:
                    shown = _pp(backtest.get(key))
                    baselines = [f"{name} {_pp(_mapping(naive.get(name)).get(key))}"
                                 for name in ("last", "mean") if _finite(_mapping(naive.get(name)).get(key))]
                    if baselines:
                        shown += _e(f" (naive forecasts: {', '.join(baselines)})")
                    info.append((f"Backtest {label}", shown))
            for key, label in (("coverage_80", "Backtest 80% interval coverage"),
                               ("coverage_95", "Backtest 95% interval coverage")):
                if key in backtest:
                    info.append((label, _pct(backtest.get(key), 0)))
        elif "backtest" in fc:
            info.append(("Backtest", "not run"))
        if isinstance(fc.get("method"), str) and fc.get("method"):
            info.append(("Method", _e(fc["method"])))
        notes = [str(w) for w in _seq(fc.get("warnings"))]
        if notes:
            shown = "".join(f"<li>{_e(w)}</li>" for w in notes[:MAX_WARNINGS_SHOWN])
            if len(notes) > MAX_WARNINGS_SHOWN:
                shown += f"<li>… and {len(notes) - MAX_WARNINGS_SHOWN} more</li>"
            info.append(("Fit warnings", f'<ul class="note">{shown}</ul>'))
        if info:
            parts.append(_kv(info))
        if ahead:
            rows = [[_e(f.get("month", "")), _pct(f.get("rate")),
                     f"{_pct(f.get('lower_80'))} – {_pct(f.get('upper_80'))}",
                     f"{_pct(f.get('lower_95'))} – {_pct(f.get('upper_95'))}"] for f in ahead]
            parts += ["<h3>Forecast</h3>",
                      _table(["Month", "Forecast rate", "80% interval", "95% interval"], rows, numeric={1, 2, 3})]
        parts.append('<p class="note">Backtest errors are in percentage points (pp) of the monthly default rate. '
                     "The forecast assumes the past pattern continues and does not model economic scenarios; "
                     "the most recent months may not have a complete outcome window.</p>")
        return "\n".join(parts)

    def lgd(self) -> str:
        lm = _mapping(self.metrics.get("lgd"))
        actual, pred = _array(self.ev.get("lgd_actual")), _array(self.ev.get("lgd_pred"))
        if not lm and (actual is None or pred is None):
            return _missing("No LGD model: the spec names no LGD column.")
        parts = []
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
                parts.append(_img(fig, "LGD predicted against actual on the defaulted test rows",
                                  "Grey points are individual defaults; the line joins the mean actual LGD of "
                                  "groups of defaults sorted by predicted LGD. On the dashed diagonal predictions "
                                  "match outcomes on average."))
        if lm:
            def gain(model, base):
                return _pct(1 - float(model) / float(base), 1) if _finite(model) and _finite(base) and base else "—"
            rows = [["MAE", _f(lm.get("mae")), _f(lm.get("baseline_mae")), gain(lm.get("mae"), lm.get("baseline_mae"))],
                    ["RMSE", _f(lm.get("rmse")), _f(lm.get("baseline_rmse")),
                     gain(lm.get("rmse"), lm.get("baseline_rmse"))]]
            baseline = lm.get("baseline") or "mean LGD of the training defaults"
            table = _table(["Error", "Model", "Baseline", "Improvement"], rows, numeric={1, 2, 3})
            parts.append(table + _kv([("Defaulted test rows", _int(lm.get("rows"))),
                                      ("Mean actual LGD", _pct(lm.get("mean_lgd"), 1)),
                                      ("Mean predicted LGD", _pct(lm.get("mean_predicted"), 1)),
                                      ("Baseline", _e(baseline))]))
        lgd_model = _mapping(self.models.get("lgd"))
        parts.append('<p class="note">LGD is fitted on defaulted loans only (gradient-boosted trees with a '
                     "logistic link, so predictions stay within 0–100%)"
                     + (f", best iteration {_int(lgd_model.get('best_iteration'))}" if lgd_model else "")
                     + ".</p>")
        return "\n".join(parts)

    def anomaly(self) -> str:
        am = _mapping(self.metrics.get("anomaly"))
        scores = _array(self.ev.get("anomaly_score_test"))
        if not am and scores is None:
            return _missing("No anomaly model.")
        parts = [_kv([("Contamination (expected share flagged)", _pct(am.get("contamination"))),
                      ("Test rows flagged", _pct(am.get("test_flag_rate")))])]
        if scores is not None:
            s = scores[np.isfinite(scores)]
            if s.size:
                lo, hi = float(s.min()), float(s.max())
                edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 61)
                fig = Chart(750, 340, ylog=True, xlabel="Anomaly score", ylabel="Rows (log scale)",
                            title="Anomaly score distribution, test rows")
                fig.stairs(edges, _histogram(s, edges, density=False), ACCENT, label=f"test rows ({s.size:,})")
                threshold = _mapping(self.models.get("anomaly")).get("threshold")
                if isinstance(threshold, Mapping):
                    threshold = threshold.get("anomaly_score")
                if _finite(threshold):
                    fig.vline(float(threshold), BAD, label="flag threshold")
                parts.append(_img(fig, "Histogram of anomaly scores on the test rows",
                                  "Anomaly scores of the test applicants (log-scaled counts). Flagged applications "
                                  "are unusual relative to the training population: their PD rests on little "
                                  "evidence and deserves manual review."))
        entry = _mapping(self.models.get("anomaly"))
        if isinstance(entry.get("method"), str) or isinstance(entry.get("score"), str):
            text = "; ".join(str(entry[k]).rstrip(".") for k in ("method", "score") if isinstance(entry.get(k), str))
            parts.append(f'<p class="note">{_e(text)}.</p>')
        rate, contamination = am.get("test_flag_rate"), am.get("contamination")
        if _finite(rate) and _finite(contamination) and contamination and float(rate) > 2 * float(contamination):
            parts.append('<p class="callout">The test period flags more than twice the expected share of '
                         "applications: the recent applicant mix differs from the training population.</p>")
        return "\n".join(parts)

    def expected_loss(self) -> str:
        el = _mapping(self.metrics.get("expected_loss"))
        if not el:
            reason = ("the spec has no exposure column" if self.columns.get("lgd") else
                      "it needs both an LGD model and an exposure column")
            return _missing(f"No expected-loss figures: {reason}.")
        exposure = self.columns.get("exposure")
        rows = [("Definition", _e(el.get("definition") or "PD x LGD x exposure")),
                ("Total expected loss, all rows", _money(el.get("total"))),
                ("Mean expected loss per loan", _money(el.get("mean")))]
        for key, value in el.items():
            if key not in ("definition", "total", "mean") and (_finite(value) or isinstance(value, str)):
                rows.append((key.replace("_", " ").capitalize(), _money(value) if _finite(value) else _e(value)))
        return (_kv(rows) + '<p class="note">Model PD and model LGD applied to every row of the training table'
                + (f", with exposure from <code>{_e(exposure)}</code>" if exposure else "")
                + ", in the exposure's currency units. A portfolio-level summary, not a provision.</p>")

    def parity(self) -> str:
        parity = _mapping(self.m.get("parity"))
        if not parity:
            return _missing("No export parity results in the manifest.")
        rows = []
        for model, figures in parity.items():
            figures = _mapping(figures)
            checks = _parity_checks(figures)
            checked = {c[0] for c in checks}
            info = [(k, v) for k, v in figures.items()
                    if k not in checked and k != "rows" and not k.endswith("tolerance")
                    and _finite(v)]
            label = _e(model) + (f' <span class="note">({_int(figures.get("rows"))} rows)</span>'
                                 if _finite(figures.get("rows")) else "")
            if not checks:
                rows.append([label, "—", "—", "—", '<span class="note">no check recorded</span>'])
            for i, (check, value, tolerance, passed) in enumerate(checks):
                result = '<span class="pass">pass</span>' if passed else '<span class="fail">FAIL</span>'
                rows.append([label if i == 0 else "", _e(check.replace("_", " ")), value, tolerance, result])
            for key, value in info:
                v = float(value)
                shown = _int(v) if v.is_integer() else _f(v) if abs(v) >= 1e-3 else _sci(v)
                rows.append(["", _e(key.replace("_", " ")), shown, "—", '<span class="note">reported</span>'])
        definitions = [f"{_e(model)}: {_e(k.replace('_', ' '))} = {_e(v)}" for model, figures in parity.items()
                       for k, v in _mapping(figures).items() if isinstance(v, str)]
        return (_table(["Model", "Check", "Value", "Tolerance", "Result"], rows, numeric={2, 3})
                + (f'<p class="note">{"; ".join(definitions)}.</p>' if definitions else "")
                + '<p class="note">Each exported ONNX model was run on the test rows and compared with its native '
                  "model (XGBoost, scikit-learn) before publishing; a version is only published if every check "
                  "passes. PD reason-code contributions are also checked to add up exactly to the log-odds. Figures "
                  "marked <em>reported</em> are recorded for information and not gated (the PD log-odds is a "
                  "float32 sum over hundreds of trees; the PD computed from it is gated).</p>")

    def libraries(self) -> str:
        libs = _mapping(self.m.get("libraries"))
        if not libs:
            return _missing("No library versions recorded.")
        rows = [[f"<code>{_e(k)}</code>", _e(v)] for k, v in libs.items()]
        return _table(["Library", "Version"], rows)


# --------------------------------------------------------------------------- helpers


def _sentence(text) -> str:
    text = str(text).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""


def _bound(value) -> str:
    if not _finite(value):
        return "—"
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:g}"


def _remaining_rate(overall, total, split_rows: Mapping, rates: Mapping) -> float | None:
    """The train default rate, from the overall rate and those of the other splits."""
    train_rows = split_rows.get("train")
    others = [(split_rows.get(k), rates.get(k)) for k in split_rows if k != "train"]
    if not (_finite(overall) and _finite(total) and _finite(train_rows) and train_rows
            and all(_finite(n) and _finite(r) for n, r in others)):
        return None
    defaults = float(overall) * float(total) - sum(float(n) * float(r) for n, r in others)
    return min(1.0, max(0.0, defaults / float(train_rows)))


def _num(value) -> float:
    return float(value) if _finite(value) else float("nan")


def _history_rate(row: Mapping) -> float | None:
    if _finite(row.get("rate")):
        return float(row["rate"])
    if _finite(row.get("defaults")) and _finite(row.get("count")) and row["count"]:
        return float(row["defaults"]) / float(row["count"])
    return None


def _calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    order = np.argsort(p, kind="stable")
    return [{"decile": i, "count": int(len(idx)), "pd_min": float(p[idx].min()), "pd_max": float(p[idx].max()),
             "mean_pd": float(p[idx].mean()), "observed_rate": float(y[idx].mean()), "defaults": int(y[idx].sum())}
            for i, idx in enumerate(np.array_split(order, bins), start=1) if len(idx)]


def _parity_checks(figures: Mapping) -> list[tuple[str, str, str, bool]]:
    """(check, value, tolerance, passed) for each figure that has a pass/fail rule.

    `<x>_max_abs_diff` and `<x>_max_scaled_diff` are compared with `<x>_tolerance`, else (for
    the reason-code checks) `additivity_tolerance`, else `tolerance`; `<x>_mismatches` must be
    0; a boolean `passed`/`ok` is taken as given. Shown without a verdict, as training does not
    gate on them: figures in REPORTED_ONLY, and `<x>_max_abs_diff` when `<x>_max_scaled_diff`
    exists (large outputs are compared relative to their size).
    """
    out = []
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
                                        "tolerance") if k and _finite(figures.get(k))), None)
            tol = float(figures[tol_key]) if tol_key else None
            passed = _finite(value) and (tol is None or float(value) <= tol)
            out.append((key, _sci(value), _sci(tol) if tol is not None else "—", passed))
        elif key.endswith("mismatches"):
            out.append((key, _int(value), "0", _finite(value) and int(value) == 0))
        elif key in ("passed", "ok") and isinstance(value, bool):
            out.append((key, _e(value), "true", value))
    return out
