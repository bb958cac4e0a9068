"""The model card as an analyst sees it, in Debian's Chromium: the scorecard's points table names
each categorical bin by its categories (no `<ArrowStringArray>` type dumps), and the rating bands
are a PD master scale (PD range, observed against predicted default rate, no crowded band).

Screenshots of both sections go to the test's tmp folder; what they show is read back from the
rendered page (its visible text), so the check is of what the browser drew, not of the file."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from riskscore.io.store import LocalStore
from training.data.spec import load_spec

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian's package)")

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "training" / "specs" / "german_credit.yaml"
DATA = REPO / "tests" / "data" / "german_credit.csv.gz"
TYPE_DUMP = re.compile(r"ArrowStringArray|ExtensionArray|dtype[:=]|Length: \d|array\(\[|<[A-Za-z]+Array>")


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> tuple[Path, dict]:
    """A scorecard version of the German credit table (categorical features), its card's path."""
    from training.train import train

    spec = load_spec(SPEC)
    spec = spec.model_copy(update={"pd_model": spec.pd_model.model_copy(update={"family": "scorecard"})})
    path = tmp_path_factory.mktemp("card") / "models"
    result = train(spec, pd.read_csv(DATA), LocalStore(path), log=lambda *a, **k: None)
    m = result.manifest
    return path / m["name"] / m["version"] / "model_card.html", m


@pytest.fixture(scope="module")
def page(card):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        pg = context.new_page()
        pg.goto(card[0].as_uri())
        yield pg
        browser.close()


@pytest.mark.parametrize("section", ["pd-family", "ratings"])
def test_the_cards_scorecard_and_bands_sections_show_no_type_dumps(page, card, section, tmp_path):
    element = page.locator(f"section#{section}")
    png = element.screenshot(path=str(tmp_path / f"model-card-{section}.png"))
    assert len(png) > 10_000  # a drawn section, not an empty box
    text = element.inner_text()
    assert not TYPE_DUMP.search(text), TYPE_DUMP.search(text)
    assert "could not be rendered" not in text


def test_points_table_names_categorical_bins_by_their_categories(page, card):
    _, m = card
    assert m["models"]["pd"]["family"] == "scorecard"
    rows = page.locator("section#pd-family table").last.locator("tbody tr").all()
    cells = [[c.inner_text() for c in r.locator("td").all()] for r in rows]
    checking = [c[1] for c in cells if c[0] == "status_of_existing_checking_account"]
    categories = {"no checking account", "... < 0 DM", "0 <= ... < 200 DM",
                  "... >= 200 DM / salary assignments for at least 1 year"}
    shown = {part for label in checking if label != "Missing" for part in label.split(", ")}
    assert shown and shown <= categories, checking


def test_the_rating_bands_are_a_master_scale(page, card):
    _, m = card
    headers = [h.inner_text() for h in page.locator("section#ratings thead th").all()]
    assert headers == ["Band", "Score range", "PD range", "Test rows", "Share", "Predicted default rate",
                       "Observed default rate"]
    rows = [[c.inner_text() for c in r.locator("td").all()] for r in page.locator("section#ratings tbody tr").all()]
    assert [r[0] for r in rows] == [b["name"] for b in reversed(m["rating_bands"])]  # best band first
    assert max(b["share"] for b in m["rating_bands"]) <= 0.4
    assert all(r[2].endswith("%") and " to " in r[2] for r in rows)
