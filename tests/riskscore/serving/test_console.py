"""The scoring console without a browser: content negotiation on GET, the page generated from
the manifest, escaping, the model card view and the example applicants.
(tests/browser/test_console_browser.py drives the page in headless Chromium.)"""

from __future__ import annotations

import copy
import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from riskscore.contract import bundle
from riskscore.serving import console
from riskscore import report
from riskscore.contract.schema import ScalingSpec
from support.client import mimetype

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes)."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def by_id(self, id_: str) -> tuple[str, dict]:
        found = [t for t in self.tags if t[1].get("id") == id_]
        assert len(found) == 1, f"{len(found)} elements with id {id_!r}"
        return found[0]

    def options(self, select_id: str) -> list[str]:
        start = self.tags.index(self.by_id(select_id))
        out = []
        for tag, attrs in self.tags[start + 1:]:
            if tag != "option":
                break
            out.append(attrs["value"])
        return out


@pytest.fixture
def app(make_client, trained_store):  # noqa: F811 - pytest injects the imported fixture
    return make_client(trained_store.path).http


def get(app, accept: str | None = None, query: str = ""):
    headers = {"Accept": accept} if accept is not None else {}
    return app.get("/" + query, headers=headers)


# --- content negotiation ----------------------------------------------------------------

@pytest.mark.parametrize("accept, html", [
    (None, False), ("*/*", False), ("application/json", False), ("application/json, text/html", False),
    ("text/html", True), (BROWSER_ACCEPT, True),
], ids=["none", "any", "json", "json-first", "html", "browser"])
def test_get_answers_html_to_browsers_and_json_to_everyone_else(app, trained_store, accept, html):
    r = get(app, accept)
    assert r.status_code == 200
    assert r.headers["Vary"] == "Accept"
    if html:
        assert mimetype(r) == "text/html"
        assert f"<strong id=\"model-version\">{trained_store.result.manifest['version']}</strong>" in r.text
    else:
        assert mimetype(r) == "application/json"
        assert r.json()["version"] == trained_store.result.manifest["version"]


def test_page_forbids_loading_anything_from_elsewhere(app):
    r = get(app, BROWSER_ACCEPT)
    html = r.text
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    meta = Elements(html).tags
    metas = [a["content"] for t, a in meta if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert metas == [report.META_CONTENT_SECURITY_POLICY]
    # Nothing refers to another origin: no src= at all, links stay on this page or this URL.
    assert not [a for t, a in meta if "src" in a]
    hrefs = {a["href"] for t, a in meta if "href" in a}
    assert hrefs == {"data:,", "#model", "?view=model-card", "#"}, hrefs
    assert "http://" not in html and "https://" not in html


def test_form_has_one_field_per_feature_with_its_bounds(app, trained_store):
    page = Elements(get(app, "text/html").text)
    features = trained_store.result.manifest["features"]
    fields = [a["data-feature"] for t, a in page.tags if "data-feature" in a]
    assert fields == [f["name"] for f in features]
    for f in features:
        tag, attrs = page.by_id(f"in-{f['name']}")
        if f["type"] == "numeric":
            assert (tag, attrs["type"]) == ("input", "number")
            assert float(attrs["min"]) == f["min"] and float(attrs["max"]) == f["max"]
        else:
            assert tag == "select"
            assert page.options(f"in-{f['name']}") == ["", *f["categories"]]
    assert page.by_id("in-applicant_id")[1]["maxlength"] == "128"
    assert page.by_id("in-exposure")[1]["min"] == "0"


def test_help_text_carries_description_bounds_and_nullability(app, trained_store):
    html = get(app, "text/html").text
    help_of = dict(re.findall(r'<span class="help" id="help-(\w+)">([^<]*)</span>', html))
    assert help_of["age"] == "Age of the applicant in years; a number from 18 to 120; required"
    assert help_of["monthly_income"] == ("Monthly income; a number from 0 to 10,000,000; "
                                         "optional (leave empty if unknown)")
    assert help_of["housing"].endswith("one of the listed categories; optional (leave empty if unknown)")


def test_model_panel_shows_metrics_and_rating_bands(app, trained_store):
    html = get(app, "text/html").text
    m = trained_store.result.manifest
    assert f"<td>AUC</td><td class=\"num\">{m['metrics']['test']['auc']:.3f}</td>" in html
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]*)</td>", html.split('id="bands-table"')[1])
    assert rows == [("Excellent", "750 and above"), ("Good", "650 to 750"), ("Average", "500 to 650"),
                    ("Poor", "below 500")]


def test_page_states_the_csv_limit_of_batch_score(app):
    html = get(app, "text/html").text
    assert console.CSV_MAX_ROWS == 10_000
    assert "up to\n    10,000 rows" in html
    config = json.loads(re.search(r'<script type="application/json" id="console-config">(.*?)</script>', html).group(1))
    assert config["csv_max_rows"] == 10_000


# --- model card view --------------------------------------------------------------------

def test_model_card_view_serves_the_verified_bundle_bytes(app, trained_store):
    m = trained_store.result.manifest
    r = get(app, None, "?view=model-card")
    assert r.status_code == 200 and mimetype(r) == "text/html"
    assert r.content == trained_store.store.read(f"{m['name']}/{m['version']}/model_card.html")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_view_console_forces_the_page_without_an_accept_header(app):
    r = get(app, None, "?view=console")
    assert r.status_code == 200 and mimetype(r) == "text/html"


def test_unknown_view_is_a_400_naming_the_parameter(app):
    r = get(app, "text/html", "?view=drift")
    assert r.status_code == 400 and mimetype(r) == "application/json"
    assert r.json()["details"] == [{"field": "view", "problem": "must be one of console, model-card"}]


def test_version_without_a_model_card_is_a_404(make_client, tmp_path, trained_store):  # noqa: F811
    """A bundle published without model_card.html (an older version) still gets its console."""
    store_path = tmp_path / "models"
    shutil.copytree(trained_store.path, store_path)
    m = trained_store.result.manifest
    version_dir = store_path / m["name"] / m["version"]
    manifest = json.loads((version_dir / "manifest.json").read_text())
    del manifest["files"]["model_card.html"]
    (version_dir / "model_card.html").unlink()
    (version_dir / "manifest.json").write_bytes(bundle.dumps(manifest))
    from riskscore.io.store import LocalStore

    bundle.set_current(LocalStore(store_path), m["name"], m["version"])
    app = make_client(store_path).http
    assert get(app, None, "?view=model-card").status_code == 404
    page = get(app, "text/html")
    assert page.status_code == 200 and "?view=model-card" not in page.text


# --- escaping ---------------------------------------------------------------------------

EVIL = "</script><script>alert(1)</script>&<b>"


def test_manifest_text_is_escaped_everywhere(trained_store):
    manifest = copy.deepcopy(trained_store.result.manifest)
    manifest["description"] = EVIL
    manifest["features"][0]["description"] = EVIL
    housing = next(f for f in manifest["features"] if f["name"] == "housing")
    housing["categories"] = [*housing["categories"], EVIL]
    html = report.render("console.html", **console.context(manifest, {}))
    assert "<script>alert(1)" not in html and "<b>" not in html
    assert html.count("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;b&gt;") >= 3
    # The config block stays one script element and parses back to the same values.
    config = json.loads(re.search(r'<script type="application/json" id="console-config">(.*?)</script>',
                                  html, re.S).group(1))
    assert EVIL in next(f for f in config["features"] if f["name"] == "housing")["categories"]


# --- example applicants and the gauge ---------------------------------------------------

NUM = {"type": "numeric", "min": 0.0, "max": 100.0, "nullable": False, "categories": None}
BASE = {"edges": [2.0, 4.0, 6.0, 8.0, 10.0], "min": 0.5, "max": 40.0}


@pytest.mark.parametrize("feature, baseline, good, bad", [
    ({**NUM, "monotone": "increasing"}, BASE, 2.0, 10.0),
    ({**NUM, "monotone": "decreasing"}, BASE, 10.0, 2.0),
    ({**NUM, "monotone": None}, BASE, 6.0, 6.0),
    ({**NUM, "monotone": "increasing"}, {}, 0.0, 100.0),
    ({**NUM, "monotone": "increasing", "max": 5.0}, BASE, 2.0, 5.0),
    ({**NUM, "monotone": "decreasing", "min": None, "max": None}, {}, 0.0, 0.0),
    ({**NUM, "monotone": "increasing"}, {"edges": [0.00123456, 0.87654]}, 0.00123, 0.877),
    ({"type": "categorical", "categories": ["own", "rent", "other"], "nullable": True},
     {"categories": ["own", "rent", "other", "__other__"], "proportions": [0.3, 0.6, 0.1, 0.0]}, "rent", "rent"),
    ({"type": "categorical", "categories": ["own", "rent"], "nullable": True}, {}, "own", "own"),
], ids=["increasing", "decreasing", "median", "bounds", "clipped", "unbounded", "rounded", "common", "first"])
def test_examples_take_the_low_and_high_risk_ends(feature, baseline, good, bad):
    examples = console.example_applicants([{"name": "x", **feature}], {"x": baseline})
    assert examples == {"good": {"x": good}, "bad": {"x": bad}}


def test_example_applicants_score_good_and_bad(app, trained_store):
    m = trained_store.result.manifest
    baseline = json.loads(trained_store.store.read(f"{m['name']}/{m['version']}/drift_baseline.json"))
    examples = console.example_applicants(m["features"], baseline["features"])
    good, bad = (app.post("/", json={"features": examples[k]}).json() for k in ("good", "bad"))
    assert good["pd"] < 0.05 < 0.3 < bad["pd"]
    ranks = [b["name"] for b in m["scaling"]["bands"]]
    assert ranks.index(good["rating"]) > ranks.index(bad["rating"])


@pytest.mark.parametrize("scaling, lo, hi", [
    ({}, 300, 900),
    ({"method": "pdo"}, 280, 750),  # 600 at odds 50:1, 20 points to double: PD 99.9 % scores 287.8
    ({"method": "pdo", "bands": [{"name": "D"}, {"name": "A", "min_score": 950}]}, 280, 950),
], ids=["linear", "pdo", "band-beyond-range"])
def test_gauge_covers_scores_and_every_band(scaling, lo, hi):
    spec = ScalingSpec.model_validate(scaling).model_dump(mode="json")
    gauge = console.gauge_scale(spec, console.band_table(spec, []))
    assert (gauge["lo"], gauge["hi"]) == (lo, hi)
    assert sum(s["width_pct"] for s in gauge["segments"]) == pytest.approx(100, abs=0.01)


def test_console_of_a_minimal_version_leaves_the_optional_parts_out(trained_store):
    """No LGD model, no id or exposure column, no bounds, no drift baseline or model card."""
    manifest = copy.deepcopy(trained_store.result.manifest)
    del manifest["models"]["lgd"]
    manifest["columns"] = {"target": "y", "id": None, "exposure": None, "lgd": None, "date": None}
    for f in manifest["features"]:
        if f["type"] == "numeric":
            f.update(min=None, max=None)
    html = report.render("console.html", **console.context(manifest, {}))
    page = Elements(html)
    assert "Expected loss" not in html and "?view=model-card" not in html
    assert "min" not in page.by_id("in-age")[1] and "max" not in page.by_id("in-age")[1]
    config = json.loads(re.search(r'id="console-config">(.*?)</script>', html).group(1))
    assert (config["has_lgd"], config["id_column"], config["exposure_column"]) == (False, "applicant_id", "exposure")
    assert config["examples"]["good"]["age"] == 0.0  # no baseline, no bounds: 0
