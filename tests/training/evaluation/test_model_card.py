"""The HTML model card: sections, embedded plots, escaping, optional parts, a headless screenshot.

The fixture mirrors what `training.train.train` passes to `render_model_card` (manifest before
publish, evaluation arrays of the test rows) without training anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jinja2.exceptions import UndefinedError

from training.evaluation import model_card
from training.evaluation.card_inputs import CardInputs
from training.evaluation.metrics import pd_metrics
from training.evaluation.model_card import SECTION_TITLES, SECTIONS, Section, render_model_card

TEMPLATES = Path(__file__).resolve().parents[3] / "functions" / "riskscore" / "report" / "templates"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
EVIL = "<script>alert('card')</script>"

# ROC, calibration, score distribution, feature importance, forecast, LGD, anomaly histogram.
PLOTS_FULL = 7
PLOTS_WITHOUT_LGD_AND_FORECAST = 5

FEATURES = [
    {"name": "revolving_utilization", "type": "numeric", "description": "share of revolving limits in use",
     "nullable": False, "min": 0.0, "max": 50.0, "monotone": "increasing", "categories": None, "unknown": "error"},
    {"name": "age", "type": "numeric", "description": "age of the applicant in years", "nullable": False,
     "min": 18.0, "max": 120.0, "monotone": "decreasing", "categories": None, "unknown": "error"},
    {"name": "late_90_plus", "type": "numeric", "description": "payments 90 or more days late",
     "nullable": False, "min": 0.0, "max": 100.0, "monotone": "increasing", "categories": None,
     "unknown": "error"},
    {"name": "monthly_income", "type": "numeric", "description": "monthly income & bonus", "nullable": True,
     "min": 0.0, "max": 10000000.0, "monotone": "decreasing", "categories": None, "unknown": "error"},
    {"name": "housing", "type": "categorical", "description": "housing status", "nullable": True, "min": None,
     "max": None, "monotone": None, "categories": ["mortgage", "other", "own", "rent<b>"],
     "unknown": "as_missing"},
]


def _months(start_year: int, start_month: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        y, m = divmod(start_month - 1 + i, 12)
        out.append(f"{start_year + y:04d}-{m + 1:02d}")
    return out


def _forecast(rng: np.random.Generator) -> dict:
    months = _months(2022, 7, 48)
    ahead = _months(2026, 7, 12)
    history = []
    for i, month in enumerate(months):
        count = int(rng.integers(3000, 5000))
        rate = 0.07 + 0.015 * np.sin(2 * np.pi * i / 24)
        defaults = int(rng.binomial(count, rate))
        history.append({"month": month, "month_start": f"{month}-01", "count": count, "defaults": defaults,
                        "rate": defaults / count, "low_volume": False})
    forecast = []
    for i, month in enumerate(ahead):
        rate = 0.065 + 0.001 * i
        w = 0.004 + 0.0015 * i
        forecast.append({"month": month, "rate": rate, "lower_80": rate - w, "upper_80": rate + w,
                         "lower_95": rate - 1.6 * w, "upper_95": rate + 1.6 * w})
    return {
        "method": "ARIMA(1,0,1) with constant on the empirical logit of the monthly default rate",
        "order": [1, 0, 1], "trend": "c", "aic": -123.4567,
        "grid": [{"order": [1, 0, 1], "trend": "c", "aic": -123.4567, "converged": True}],
        "history": history, "forecast": forecast,
        "backtest": {"train_months": 42, "order": [1, 0, 1], "trend": "c", "mae": 0.00412, "rmse": 0.00534,
                     "coverage_80": 0.8333, "coverage_95": 1.0,
                     "naive": {"last": {"mae": 0.0061, "rmse": 0.0072}, "mean": {"mae": 0.0083, "rmse": 0.0091}},
                     "months": [{"month": m, "actual": 0.07, "predicted": 0.069} for m in months[-6:]]},
        "warnings": ["ARIMA(2,1,2): ConvergenceWarning: Maximum Likelihood optimization failed <to converge>"],
    }


def make_card_inputs(n_test: int = 4000, seed: int = 0, lgd: bool = True, forecast: bool = True):
    """A manifest and evaluation shaped like training.train's, from synthetic arrays."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-2.8, 1.1, n_test)
    pd_test = 1 / (1 + np.exp(-logit))
    y_test = (rng.random(n_test) < pd_test).astype(np.int64)
    score_test = (300 + (1 - pd_test) * 600).astype(np.float32)
    n_valid = n_test * 3 // 4
    pd_valid = 1 / (1 + np.exp(-rng.normal(-2.8, 1.1, n_valid)))
    y_valid = (rng.random(n_valid) < pd_valid).astype(np.int64)

    names = np.array(["Poor", "Average", "Good", "Excellent"])
    band_of = np.searchsorted([500, 650, 750], score_test, side="right")
    rating_bands = [{"name": str(name), "min_score": edge, "test_count": int((band_of == i).sum()),
                     "observed_default_rate": float(y_test[band_of == i].mean()) if (band_of == i).any() else None}
                    for i, (name, edge) in enumerate(zip(names, [None, 500.0, 650.0, 750.0]))]

    n_def = int(y_test.sum())
    lgd_actual = np.clip(rng.beta(2, 3, n_def), 0, 1)
    lgd_pred = np.clip(0.6 * lgd_actual + 0.4 * 0.4 + rng.normal(0, 0.05, n_def), 0, 1).astype(np.float32)

    metrics = {"test": pd_metrics(y_test, pd_test), "valid": pd_metrics(y_valid, pd_valid),
               "anomaly": {"test_flag_rate": 0.0135, "contamination": 0.01}}
    parity = {
        "pd": {"rows": n_test, "pd_max_abs_diff": 5.96e-08, "logit_max_abs_diff": 4.77e-07,
               "contributions_max_abs_diff": 2.1e-06, "additivity_max_abs_diff": 3.3e-06,
               "tolerance": 1e-05, "additivity_tolerance": 1e-04},
        "segment": {"rows": n_test, "segment_mismatches": 0},
        "anomaly": {"rows": n_test, "flag_mismatches": 0, "score_max_abs_diff": 2.9e-08, "tolerance": 1e-05,
                    "flag_rate": 0.0135, "native_flag_rate": 0.0135, "closest_native_score_to_threshold": 1.2e-05},
        "embedding": {"rows": n_test, "embedding_max_abs_diff": 8.1e-07, "reconstruction_max_scaled_diff": 1.2e-14,
                      "reconstruction_error_max_scaled_diff": 5.6e-08,
                      # above the tolerance, but only the scaled difference is gated for this output
                      "reconstruction_error_max_abs_diff": 3.2e-05, "tolerance": 1e-05,
                      "scaled_diff": "|onnx - native| / max(1, |native|)"},
    }
    models = {
        "pd": {"file": "pd.onnx", "outputs": ["pd", "logit", "score", "contributions"],
               "contribution_bias": -2.6512, "best_iteration": 412,
               "contributions": "per-feature path attributions (Saabas) of the exported trees in log-odds",
               "matrix_columns": [f["name"] for f in FEATURES],
               "params": {"n_estimators": 600, "learning_rate": 0.05, "max_depth": 4}},
        "segment": {"file": "segment.onnx", "k": 3, "order": "segment 0 has the lowest observed default rate",
                    "profiles": [
                        {"id": 0, "name": "Prime: low revolving_utilization, high age", "size": 9000, "share": 0.45,
                         "observed_default_rate": 0.021, "mean_pd": 0.023, "mean_lgd": 0.31 if lgd else float("nan")},
                        {"id": 1, "name": "Standard: " + EVIL, "size": 7000, "share": 0.35,
                         "observed_default_rate": 0.064, "mean_pd": 0.061, "mean_lgd": 0.38 if lgd else float("nan")},
                        {"id": 2, "name": "Deep subprime: high late_90_plus", "size": 4000, "share": 0.2,
                         "observed_default_rate": 0.212, "mean_pd": 0.205, "mean_lgd": 0.47 if lgd else float("nan")}]},
        "anomaly": {"file": "anomaly.onnx", "method": "IsolationForest on the preprocessed feature matrix",
                    "threshold": {"anomaly_score": 0.0, "rule": "flag when anomaly_score > 0"},
                    "score": "higher is more unusual, above 0 is flagged", "contamination": 0.01},
        "embedding": {"file": "embedding.onnx", "dimensions": 2},
    }
    if lgd:
        metrics["lgd"] = {"rows": n_def, "mean_lgd": float(lgd_actual.mean()), "mean_predicted": float(lgd_pred.mean()),
                          "mae": float(np.mean(np.abs(lgd_pred - lgd_actual))),
                          "rmse": float(np.sqrt(np.mean((lgd_pred - lgd_actual) ** 2))),
                          "baseline_mae": 0.1723, "baseline_rmse": 0.2051,
                          "baseline": "mean LGD of the training defaults"}
        metrics["expected_loss"] = {"total": 123456789.0, "mean": 617.28, "definition": "PD x LGD x exposure"}
        parity["lgd"] = {"rows": n_test, "lgd_max_abs_diff": 1.8e-07, "tolerance": 1e-05}
        models["lgd"] = {"file": "lgd.onnx", "objective": "reg:logistic", "best_iteration": 157,
                         "train_mean_lgd": 0.4}

    spec = {"name": "credit_default", "description": "PD within 12 months " + EVIL, "target": "default",
            "id": "applicant_id", "exposure": "loan_amount" if lgd else None, "lgd": "lgd" if lgd else None,
            "date": "application_date" if forecast else None, "features": FEATURES,
            "scaling": {"method": "linear", "linear_base": 300.0, "linear_span": 600.0}}
    split_rows = {"train": 13000, "valid": n_valid, "test": n_test}
    all_defaults = 13000 * 0.065 + y_valid.sum() + y_test.sum()
    manifest = {
        "created_at": "2026-07-01T12:00:00+00:00",
        "description": spec["description"],
        "spec": spec,
        "features": FEATURES,
        "columns": {"target": "default", "id": "applicant_id", "exposure": spec["exposure"], "lgd": spec["lgd"],
                    "date": spec["date"]},
        "models": models,
        "artifacts": {"forecast": "forecast.json"} if forecast else {},
        "metrics": metrics,
        "parity": parity,
        "scaling": spec["scaling"] | {"bands": [{"name": str(n), "min_score": e}
                                               for n, e in zip(names, [None, 500.0, 650.0, 750.0])]},
        "rating_bands": rating_bands,
        "data": {"fingerprint_sha256": "ab" * 32, "rows": sum(split_rows.values()), "split_rows": split_rows,
                 "split": "out-of-time by application_date" if forecast else "stratified random",
                 "date_ranges": ({"train": ["2022-07-01", "2025-04-30"], "valid": ["2025-05-01", "2025-10-31"],
                                  "test": ["2025-11-01", "2026-06-30"]} if forecast else None),
                 "default_rate": float(all_defaults / sum(split_rows.values()))},
        "libraries": {"xgboost": "2.1.4", "scikit-learn": "1.9.1", "onnxruntime": "1.20.1", "numpy": "2.4.6"},
    }
    evaluation = {
        "y_test": y_test, "pd_test": pd_test.astype(np.float32), "score_test": score_test,
        "importance": {"revolving_utilization": 0.61, "age": 0.32, "late_90_plus": 0.55, "monthly_income": 0.18,
                       "housing": 0.04},
        "lgd_actual": lgd_actual if lgd else None,
        "lgd_pred": lgd_pred if lgd else None,
        "anomaly_score_test": (rng.gamma(2.0, 0.02, n_test) - 0.12).astype(np.float32),
        "forecast": _forecast(rng) if forecast else None,
    }
    return manifest, evaluation


def svg_charts(page: str) -> list[str]:
    """The inline SVG charts of the page (the report layer's plotting module draws them)."""
    return re.findall(r'<svg class="chart".*?</svg>', page, re.DOTALL)


def is_drawn(chart: str) -> bool:
    """A chart with data drawn in it (a curve, an area, bars or points), not an empty frame."""
    return bool(re.search(r"<polyline points=\"[\d.]+,[\d.]+ [\d.]+,[\d.]+|<polygon|<circle|<rect x=\"[\d.]+\" "
                          r"y=\"[\d.]+\" width=\"[\d.]+\" height=\"[\d.]+\" fill=\"#", chart))


@pytest.fixture(scope="module")
def full():
    manifest, evaluation = make_card_inputs()
    return manifest, evaluation, render_model_card(manifest, evaluation, strict=True)


@pytest.fixture(scope="module")
def minimal():
    manifest, evaluation = make_card_inputs(lgd=False, forecast=False)
    return manifest, evaluation, render_model_card(manifest, evaluation, strict=True)


def test_every_section_heading_is_present(full):
    page = full[2]
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>Model card: credit_default</h1>" in page
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page, title
    for text in ("Intended use", "Limitations", "probability of default (PD) within 12 months",
                 "Out-of-time test", "Trained 2026-07-01T12:00:00+00:00"):
        assert text in page, text
    assert "incomplete" not in page


def test_embedded_plots_are_inline_svg(full):
    charts = svg_charts(full[2])
    assert len(charts) == PLOTS_FULL
    assert full[2].count("<svg") == PLOTS_FULL
    for chart in charts:
        assert is_drawn(chart)
        assert "<title>" in chart  # the accessible name
    assert "ROC curve, test rows" in charts[0] and "AUC" in charts[0]


def test_no_external_resources(full):
    page = full[2]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    # The only <link> is the empty data: favicon (it keeps browsers from requesting /favicon.ico).
    assert not re.findall(r"<link(?![^>]*href=\"data:)", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    assert not re.findall(r"""src\s*=""", page)  # charts are inline SVG: nothing to load
    for href in re.findall(r"""href\s*=\s*["']([^"']*)""", page):
        assert href.startswith("#") or href == "data:,"  # in-page links; the empty favicon
    assert "Content-Security-Policy" in page


def test_manifest_text_is_escaped(full):
    page = full[2]
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#39;card&#39;)&lt;/script&gt;" in page  # markupsafe, as every page
    assert "monthly income &amp; bonus" in page            # feature description
    assert "rent&lt;b&gt;" in page and "rent<b>" not in page  # category
    assert "&lt;to converge&gt;" in page                    # forecast warning


def test_metric_values_appear_formatted(full):
    manifest, _, page = full
    test, valid = manifest["metrics"]["test"], manifest["metrics"]["valid"]
    for split in (test, valid):
        for key in ("auc", "gini", "ks", "brier", "pr_auc"):
            assert f"{split[key]:.4f}" in page, key
        assert f"{100 * split['default_rate']:.2f}%" in page
        assert f"{split['rows']:,}" in page
    for row in test["calibration"]:
        assert f"{100 * row['mean_pd']:.2f}%" in page and f"{100 * row['observed_rate']:.2f}%" in page
    for band in manifest["rating_bands"]:
        assert f"{band['test_count']:,}" in page
        if band["observed_default_rate"] is not None:
            assert f"{100 * band['observed_default_rate']:.2f}%" in page
    lgd = manifest["metrics"]["lgd"]
    for key in ("mae", "rmse", "baseline_mae", "baseline_rmse"):
        assert f"{lgd[key]:.4f}" in page, key
    assert "123,456,789" in page and "617" in page                       # expected loss
    assert "1.35%" in page and "1.00%" in page                           # anomaly flag rate, contamination
    assert "ARIMA(1, 0, 1)" in page and "0.41 pp" in page and "0.53 pp" in page  # forecast order, backtest
    for entry in manifest["data"]["split_rows"].values():
        assert f"{entry:,}" in page
    assert "ab" * 32 in page                                             # data fingerprint
    assert "2025-11-01 to 2026-06-30" in page                            # test date range
    assert "2.1.4" in page                                               # library version
    assert "5.96e-08" in page and "1.00e-05" in page                     # parity figure and tolerance
    assert page.count('<span class="pass">pass</span>') == 10  # pd 3, lgd, segment, anomaly 2, embedding 3
    assert "FAIL" not in page
    assert re.search(r"reconstruction error max abs diff</td><td class=\"num\">3\.20e-05</td>.*?reported", page)
    assert "embedding: scaled diff = |onnx - native| / max(1, |native|)" in page
    assert re.search(r"logit max abs diff</td><td class=\"num\">4\.77e-07</td>.*?reported", page)
    assert "6.50%" in page  # train default rate, derived from the overall and the other splits' rates


def test_calibration_shift_gets_a_callout(full):
    assert "the overall level of risk" not in full[2]  # the fixture is calibrated
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    manifest["metrics"]["test"] |= {"mean_pd": 0.0731, "default_rate": 0.0578}
    page = render_model_card(manifest, evaluation, strict=True)
    assert "the model overestimates the overall level of risk" in page
    assert "0.79" in page  # observed / predicted


def test_parity_failure_is_shown():
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    manifest["parity"]["pd"]["pd_max_abs_diff"] = 3e-4
    manifest["parity"]["segment"]["segment_mismatches"] = 2
    page = render_model_card(manifest, evaluation, strict=True)
    assert page.count('<span class="fail">FAIL</span>') == 2
    assert "3.00e-04" in page


def test_without_lgd_and_forecast(minimal):
    manifest, evaluation, page = minimal
    charts = svg_charts(page)
    assert len(charts) == PLOTS_WITHOUT_LGD_AND_FORECAST
    assert all(is_drawn(chart) for chart in charts)
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page, title
    assert "No LGD model" in page
    assert "No default-rate forecast" in page
    assert "No expected-loss figures" in page
    assert "Random test split" in page
    assert "Mean LGD" in page  # segment table still renders, NaN mean LGD shown as a dash


def test_missing_optional_parts_do_not_crash():
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    for key in ("parity", "libraries", "rating_bands", "features", "data", "models"):
        manifest.pop(key)
    manifest["metrics"].pop("anomaly")
    manifest["spec"].pop("name")
    for key in ("importance", "anomaly_score_test", "forecast", "lgd_actual", "lgd_pred"):
        evaluation.pop(key)
    page = render_model_card(manifest, evaluation, strict=True)
    assert "<h1>Model card: model</h1>" in page
    assert len(svg_charts(page)) == 3  # ROC, calibration, score distribution
    assert "No export parity results" in page


def test_name_and_version_from_published_manifest():
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    manifest |= {"name": "credit_default_v2", "version": "v20260701-120000",
                 "promotion": {"promoted": False, "reason": "AUC below current"}}
    page = render_model_card(manifest, evaluation, strict=True)
    assert "<h1>Model card: credit_default_v2</h1>" in page
    assert "v20260701-120000" in page and "published, not promoted" in page


def plain_data(value) -> bool:
    """Numbers, strings (not Markup), None, bools, and lists, tuples and dicts of them."""
    if isinstance(value, dict):
        return all(type(k) is str and plain_data(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain_data(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.mark.parametrize("inputs", [{}, {"lgd": False, "forecast": False}], ids=["full", "minimal"])
def test_every_section_is_a_template_fed_plain_data(inputs):
    card = CardInputs(*make_card_inputs(n_test=500, **inputs))
    assert [s.id for s in SECTIONS] == [s.id for s in SECTIONS if (TEMPLATES / s.template).is_file()]
    for section in SECTIONS:
        context = section.context(card)
        assert plain_data(context), section.id


def test_charts_are_the_only_markup_a_card_template_marks_safe():
    uses = {path.name: re.findall(r"\|\s*safe\b", path.read_text())
            for path in [TEMPLATES / "model_card.html", *(TEMPLATES / "card").glob("*.html")]}
    assert {name: len(found) for name, found in uses.items() if found} == {"_macros.html": 1}
    assert "{{ svg | safe }}" in (TEMPLATES / "card" / "_macros.html").read_text()


def test_a_section_is_a_template_a_context_function_and_one_entry(monkeypatch):
    extra = Section("extra", "Extra <section>", "card/libraries.html",
                    lambda card: {"libraries": [("a<b", card.name)]})
    monkeypatch.setattr(model_card, "SECTIONS", [*SECTIONS, extra])
    page = render_model_card(*make_card_inputs(n_test=500, lgd=False, forecast=False), strict=True)
    assert '<li><a href="#extra">Extra &lt;section&gt;</a></li>' in page
    assert '<section id="extra">\n<h2>Extra &lt;section&gt;</h2>' in page
    assert "<code>a&lt;b</code></td><td>credit_default</td>" in page


def test_a_context_its_template_does_not_fit_fails_only_its_section(monkeypatch):
    broken = Section("broken", "Broken", "card/libraries.html", lambda card: {"versions": []})
    monkeypatch.setattr(model_card, "SECTIONS", [*SECTIONS, broken])
    inputs = make_card_inputs(n_test=500, lgd=False, forecast=False)
    page = render_model_card(*inputs)
    assert "Sections that failed to render: Broken." in page
    assert "This section could not be rendered: UndefinedError:" in page
    assert len(svg_charts(page)) == PLOTS_WITHOUT_LGD_AND_FORECAST
    with pytest.raises(UndefinedError, match="libraries"):
        render_model_card(*inputs, strict=True)


class _ExplodingParams(dict):
    def items(self):
        raise ZeroDivisionError("boom")


def test_malformed_values_are_tolerated():
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    evaluation["importance"] = {"age": object(), "housing": 0.2}
    manifest["rating_bands"] = [{"name": "A", "min_score": None, "test_count": 10, "observed_default_rate": 0.1}]
    manifest["models"]["segment"]["profiles"] = [{"id": 0, "name": "x", "size": "many"}]
    manifest["metrics"]["test"]["calibration"][0]["pd_min"] = {"not": "a number"}
    manifest["metrics"]["valid"]["auc"] = float("nan")
    page = render_model_card(manifest, evaluation, strict=True)
    assert "—" in page and "incomplete" not in page


def test_broken_section_becomes_a_warning_unless_strict():
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    manifest["models"]["pd"]["params"] = _ExplodingParams()
    page = render_model_card(manifest, evaluation)
    assert "This model card is incomplete" in page and "ZeroDivisionError: boom" in page
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page
    assert len(svg_charts(page)) == PLOTS_WITHOUT_LGD_AND_FORECAST  # the other sections still render
    with pytest.raises(ZeroDivisionError):
        render_model_card(manifest, evaluation, strict=True)


def test_rendering_needs_no_matplotlib():
    """Plots come from the report layer's numpy-only SVG module (serving can render pages too)."""
    code = ("import sys; sys.path.insert(0, 'tests/training/evaluation'); from test_model_card import make_card_inputs; "
            "from training.evaluation.model_card import render_model_card; "
            "page = render_model_card(*make_card_inputs(n_test=500), strict=True); "
            "assert page.count('<svg') == 7, page.count('<svg'); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_size_and_time_for_40k_test_rows():
    manifest, evaluation = make_card_inputs(n_test=40_000, seed=3)
    start = time.perf_counter()
    page = render_model_card(manifest, evaluation, strict=True)
    elapsed = time.perf_counter() - start
    assert len(page.encode()) < 1_500_000
    assert len(svg_charts(page)) == PLOTS_FULL
    assert elapsed < 15, f"rendering took {elapsed:.1f}s (target ~5s; generous bound for slow CI)"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium for a headless screenshot")
def test_headless_chromium_screenshot(full, tmp_path):
    from PIL import Image

    page_path = tmp_path / "model_card.html"
    page_path.write_text(full[2], encoding="utf-8")
    shot = tmp_path / "model_card.png"
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         f"--screenshot={shot}", "--window-size=1200,3000", page_path.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 50_000
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64) / 255
    assert pixels.shape[0] >= 2900 and pixels.shape[1] >= 1100
    assert float(pixels.std()) > 0.05  # not a blank page
    shutil.rmtree(profile, ignore_errors=True)


def test_card_of_a_real_training_run(trained_store):
    """The card train() stored, and a strict re-render of its inputs: nothing missing, nothing failed."""
    result = trained_store.result
    version = result.manifest["version"]
    stored = (Path(trained_store.path) / result.manifest["name"] / version / "model_card.html").read_text()
    assert "This model card is incomplete" not in stored
    page = render_model_card(result.manifest, result.evaluation, strict=True)
    charts = svg_charts(page)
    assert len(charts) == PLOTS_FULL  # the default spec has LGD, exposure and a date column
    assert all(is_drawn(chart) for chart in charts)
    assert f"{result.manifest['metrics']['test']['auc']:.4f}" in page
    assert "FAIL" not in page


def _small_table_inputs(comparison: dict):
    """A card of a small table: out-of-fold figures, a proxy target, a derived feature, a logistic
    champion chosen by `comparison` over a boosted candidate."""
    manifest, evaluation = make_card_inputs(n_test=500, lgd=False, forecast=False)
    manifest["metrics"]["test"]["out_of_fold"] = True
    manifest["target_proxy"] = {"rule": "Customers whose balance fell below zero on 3 or more days.",
                                "customers": 12345, "label_rate": 0.0821, "as_of": "2026-06-30",
                                "label_column": "proxy_default"}
    manifest["derived"] = [{"name": "debt_to_income", "expression": "debt / income",
                            "description": "Debt over income", "monotone": "increasing"}]
    manifest["models"]["pd"] |= {
        "family": "logistic", "selection": "logistic within one standard error of best xgboost: simpler wins",
        "regime": {"name": "small", "reason": "300 positives"},
        "metrics_source": "out-of-fold predictions of the champion's cross-validation (every row fitted)",
        "candidates": [{"family": "logistic", "selection_auc": 0.78123, "auc_std": 0.0211, "metric": "cv auc",
                        "chosen": True},
                       {"family": "xgboost", "selection_auc": 0.78987, "auc_std": 0.0254, "metric": "cv auc",
                        "n_estimators": 57, "chosen": False}],
        "comparisons": [{"family": "logistic", "versus": "xgboost", "auc_difference": 0.00864} | comparison]}
    return manifest, evaluation


@pytest.mark.parametrize("comparison, evidence", [
    ({"se": 0.0123, "folds": 25, "tie_tolerance": 0.005, "test": "one-standard-error rule",
      "shortfall_is_real": False}, "one standard error 0.0123 over 25 folds (tie tolerance 0.0050)"),
    ({"se": 0.004, "p_value": 0.1234, "rows": 4321, "test": "DeLong paired, two-sided", "shortfall_is_real": False},
     "DeLong p = 0.123 on 4,321 validation rows"),
], ids=["one-se", "delong"])
def test_small_table_card_shows_out_of_fold_proxy_comparisons_and_derived(comparison, evidence):
    manifest, evaluation = _small_table_inputs(comparison)
    card = CardInputs(manifest, evaluation)
    assert all(plain_data(section.context(card)) for section in SECTIONS)
    page = render_model_card(manifest, evaluation, strict=True)
    for label in ("Out-of-fold AUC", "Out-of-fold Gini", "Out-of-fold KS", "Out-of-fold rows",
                  "Out-of-fold default rate"):
        assert label in page
    assert "Test AUC" not in page
    assert "The target is a proxy, not an observed default." in page
    assert "12,345 customers, 8.21% labelled high risk, as of 2026-06-30" in page
    assert "0.7812" in page and "0.7899" in page  # every candidate's figure
    assert "Why the champion won" in page and evidence in page and "0.0086" in page
    assert "not a real shortfall: chosen" in page
    assert "Reported metrics" in page and "out-of-fold predictions of the champion" in page
    assert "L2-regularised logistic regression" in page and "XGBoost" not in page.split('id="use"')[1].split(
        "</section>")[0]
    assert "Derived features (1)" in page and "debt / income" in page


def test_large_table_card_keeps_test_labels_and_no_proxy(minimal):
    page = minimal[2]
    assert "Test AUC" in page and "Out-of-fold" not in page
    assert "proxy" not in page and "Derived features" not in page and "Why the champion won" not in page
