"""The scoring console in headless Chromium, served by a real local `functions-framework`
server: the example applicants, a server error next to its field, compare mode, a CSV file,
the model card link, at phone (375 px) and desktop (1280 px) widths, with no console errors
and no request leaving the page's origin.

Uses Debian's chromium through the `playwright` package (no browser download); skips
without /usr/bin/chromium, which `.ci/run` installs best-effort.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support.server import function_server, server_env
import requests

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian's package)")
REPO = Path(__file__).resolve().parents[2]
HEIGHT = 900
# Chromium logs every 4xx fetch as a console error; only the test that provokes a 400 allows it.
EXPECTED_400 = "the server responded with a status of 400"


@pytest.fixture(scope="module")
def server(trained_store, tmp_path_factory):
    """URL of a functions-framework server running functions/main.py on the trained store."""
    log = tmp_path_factory.mktemp("console_server") / "server.log"
    env = server_env(MODEL_STORE=str(trained_store.path), MODEL_NAME="credit_default", THREADS="8")
    with function_server("score", env, log, timeout_s=60) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


class Console:
    """One browser page on the console, recording console errors and foreign requests."""

    def __init__(self, browser, url: str, width: int):
        self.url, self.width = url, width
        self.context = browser.new_context(viewport={"width": width, "height": HEIGHT}, locale="en-US",
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.posts = 0
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", self._request)
        self.page.goto(url)
        self.config = json.loads(self.page.text_content("#console-config"))

    def _request(self, r) -> None:
        if r.method == "POST":
            self.posts += 1
        if not r.url.startswith((self.url, "data:", "blob:")):
            self.foreign.append(r.url)

    def score(self, button: str | None = None) -> None:
        """Fill an example (if given), submit, and wait for the new result or an error."""
        before = self.page.evaluate("document.querySelector('.result:not(.previous) [data-k=meta]')?.textContent || ''")
        if button:
            self.page.click(button)
        self.page.click("#submit")
        self.page.wait_for_function(
            "(before) => { const m = document.querySelector('.result:not(.previous) [data-k=meta]');"
            " return document.getElementById('status').textContent.startsWith('Not scored')"
            " || (m && m.textContent !== before); }", arg=before)

    def latest(self) -> dict:
        card = ".result:not(.previous) "
        reasons = self.page.locator(card + ".reasons li")
        return {"pd": self.page.text_content(card + "[data-k=pd]"),
                "score": self.page.text_content(card + "[data-k=score]"),
                "rating": self.page.text_content(card + "[data-k=rating]"),
                "first_reason": (reasons.first.locator("[data-k=feature]").text_content()
                                 if reasons.first.locator("[data-k=feature]").count() else None)}

    def in_viewport(self, selector: str) -> bool:
        return self.page.locator(selector).first.evaluate(
            "e => { const r = e.getBoundingClientRect();"
            " return r.width > 0 && r.top < innerHeight && r.bottom > 0 && r.left >= 0 && r.right <= innerWidth + 1; }")

    def overflows(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth") > self.width

    def shot(self, path: Path) -> bytes:
        png = self.page.screenshot(path=str(path))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(png[16:20], "big") == self.width  # PNG IHDR width, 1 device px per CSS px
        return png


@pytest.fixture
def open_console(browser, server):
    opened: list[Console] = []

    def open_(width: int = 1280) -> Console:
        opened.append(Console(browser, server, width))
        return opened[-1]

    yield open_
    for c in opened:
        c.context.close()


def expected(server: str, features: dict, **extra) -> requests.Response:
    """The decision for the same applicant, asked directly as JSON."""
    return requests.post(server, json={"features": features, **extra}, timeout=30)


def as_page_shows(decision: dict) -> dict:
    reasons = decision["reasons"]
    return {"pd": f"{decision['pd']:.2%}", "score": f"{decision['score']:.1f}", "rating": decision["rating"],
            "first_reason": reasons[0]["feature"].replace("_", " ") if reasons else None}


@pytest.mark.parametrize("width", [375, 1280], ids=["phone", "desktop"])
def test_examples_scored_in_the_page_match_the_api(open_console, server, tmp_path, width):
    c = open_console(width)
    assert c.in_viewport("#score-form") and c.in_viewport("#fill-good")
    assert not c.overflows()
    c.shot(tmp_path / f"console-{width}-empty.png")

    shown = {}
    for name in ("good", "bad"):
        c.score(f"#fill-{name}")
        assert c.in_viewport(".result"), f"{name}: the decision is not in view at {width} px"
        assert not c.overflows()
        c.shot(tmp_path / f"console-{width}-{name}.png")
        reply = expected(server, c.config["examples"][name])
        assert reply.status_code == 200, reply.text
        shown[name] = c.latest()
        assert shown[name] == as_page_shows(reply.json()), name
    assert shown["good"]["first_reason"] is not None and shown["bad"]["first_reason"] is not None
    assert float(shown["good"]["pd"].rstrip("%")) < float(shown["bad"]["pd"].rstrip("%"))
    assert shown["good"]["rating"] != shown["bad"]["rating"]
    c.page.click("#fill-good")  # the form is reachable again after a decision
    c.page.locator("#submit").scroll_into_view_if_needed()
    assert c.in_viewport("#submit")
    c.shot(tmp_path / f"console-{width}-form-again.png")
    assert c.errors == [] and c.foreign == []


def test_out_of_bounds_value_shows_the_servers_message_next_to_its_field(open_console, server):
    c = open_console(1280)
    age = next(f for f in c.config["features"] if f["name"] == "age")
    c.page.click("#fill-bad")
    c.page.fill("#in-age", "")
    c.page.type("#in-age", "4e")  # a number input reports this as bad input with an empty value
    assert c.page.text_content("#err-age") == "must be a number"
    c.page.fill("#in-age", str(int(age["max"]) + 80))
    # The page's own check, as the value is typed ...
    assert c.page.text_content("#err-age") == f"must be at most {int(age['max'])}"
    assert c.page.get_attribute("#err-age", "data-source") == "client"
    c.score()
    # ... then the server's verdict, word for word, in the same place.
    reply = expected(server, {**c.config["examples"]["bad"], "age": int(age["max"]) + 80})
    assert reply.status_code == 400
    detail = next(d for d in reply.json()["details"] if d["field"] == "features.age")
    assert c.page.text_content("#err-age") == detail["problem"]
    assert c.page.get_attribute("#err-age", "data-source") == "server"
    assert "invalid" in c.page.get_attribute("#field-age", "class")
    assert c.page.locator(".result").count() == 0
    assert c.page.is_hidden("#err-late_90_plus")
    assert [e for e in c.errors if EXPECTED_400 not in e] == [] and len(c.errors) == 1
    assert c.foreign == []


def test_compare_mode_keeps_the_previous_decision_beside_the_new_one(open_console, server):
    c = open_console(1280)
    c.page.check("#compare")
    c.score("#fill-bad")
    bad = c.latest()
    c.page.fill("#in-applicant_id", "A-2")
    c.score("#fill-good")
    assert c.page.locator(".result").count() == 2
    assert c.page.text_content(".result.previous [data-k=pd]") == bad["pd"]
    assert c.page.text_content(".result:not(.previous) [data-k=pd]") == c.latest()["pd"] != bad["pd"]
    changes = c.page.locator(".result:not(.previous) [data-k=changes] li").all_text_contents()
    good, worse = c.config["examples"]["good"], c.config["examples"]["bad"]
    assert changes[0].startswith(f"PD {bad['pd']} → {c.latest()['pd']}")
    assert "applicant id: (empty) → A-2" in changes
    differing = [k for k in good if good[k] != worse[k]]
    assert len(changes) == 2 + len(differing)
    # Side by side at 1280 px: the two cards share a row.
    boxes = [c.page.locator(".result").nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]
    assert c.errors == [] and c.foreign == []


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


ERROR_PINK = "rgb(253, 236, 234)"  # the stylesheet's .error background (#fdecea)


def test_csv_file_is_scored_row_by_row_with_a_download(open_console, server):
    c = open_console(1280)
    ex = c.config["examples"]
    idc, expc = c.config["id_column"], c.config["exposure_column"]
    rows = [{idc: "G-1", expc: "10000", **ex["good"], "default": "0"},
            {idc: "=B-2", expc: "25000.5", **ex["bad"], "default": "1"},
            {idc: "X-3", expc: "", **ex["bad"], "age": "200", "default": "1"}]
    c.page.set_input_files("#csv-file", files=[{"name": "applicants.csv", "mimeType": "text/csv",
                                                "buffer": _csv(rows)}])
    c.page.click("#csv-score")
    c.page.wait_for_selector("#csv-download:not([hidden])")
    assert c.page.text_content("#csv-summary") == "Scored 2 of 3 rows, 1 rejected; ignored columns: default."
    table = c.page.locator("#csv-table tbody tr")
    assert table.count() == 3
    assert [table.nth(i).get_attribute("class") for i in range(3)] == ["scored", "scored", "rejected"]
    assert "features.age: Input should be less than or equal to 120" in table.nth(2).locator("td.problem").text_content()
    # Styled by status: a scored row has no error colour, bar or background; a rejected one is red.
    style = "el => { const s = getComputedStyle(el); return [s.color, s.backgroundColor, s.borderLeftWidth]; }"
    plain = c.page.evaluate("getComputedStyle(document.body).color")
    for i in (0, 1):
        for cell in table.nth(i).locator("td").all():
            color, background, bar = cell.evaluate(style)
            assert (color, bar) == (plain, "0px") and background != ERROR_PINK, (i, color, background, bar)
    assert table.nth(2).locator("td.problem").evaluate(style)[0] != plain

    with c.page.expect_download() as download:
        c.page.click("#csv-download")
    got = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["row_number"] for r in got] == ["1", "2", "3"]
    assert [r["status"] for r in got] == ["scored", "scored", "rejected (400)"]
    assert got[1][idc] == "'=B-2"  # a spreadsheet shows it as text, never runs it
    for row, sent, exposure in ((got[0], ex["good"], 10000), (got[1], ex["bad"], 25000.5)):
        direct = expected(server, sent, exposure=exposure).json()
        assert float(row["pd"]) == direct["pd"] and row["rating"] == direct["rating"]
        assert float(row["expected_loss"]) == direct["expected_loss"]
        assert row["reason_1"] == direct["reasons"][0]["feature"]
    assert got[2]["pd"] == "" and "features.age" in got[2]["error"]
    assert len(c.errors) == 1 and EXPECTED_400 in c.errors[0]  # the rejected row's 400, nothing else
    assert c.foreign == []


def test_downloaded_template_scores_both_examples(open_console, tmp_path):
    c = open_console(375)
    with c.page.expect_download() as download:
        c.page.click("#csv-template")
    template = Path(download.value.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(template.decode())))
    assert [r[c.config["id_column"]] for r in rows] == ["GOOD-1", "BAD-1"]
    c.page.set_input_files("#csv-file", files=[{"name": "t.csv", "mimeType": "text/csv", "buffer": template}])
    c.page.click("#csv-score")
    c.page.wait_for_selector("#csv-download:not([hidden])")
    assert c.page.text_content("#csv-summary") == "Scored 2 of 2 rows, 0 rejected."
    c.page.locator("#csv-table").scroll_into_view_if_needed()
    assert not c.overflows()  # the wide table scrolls inside its box, not the page
    c.shot(tmp_path / "console-375-csv.png")
    assert c.errors == [] and c.foreign == []


def test_csv_over_the_inline_limit_is_refused_before_any_request(open_console):
    c = open_console(1280)
    limit = c.config["csv_max_rows"]
    names = [f["name"] for f in c.config["features"]]
    text = ",".join(names) + "\n" + (",".join("1" for _ in names) + "\n") * (limit + 1)
    c.page.set_input_files("#csv-file", files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": text.encode()}])
    c.page.click("#csv-score")
    c.page.wait_for_selector("#csv-error:not([hidden])")
    assert c.page.text_content("#csv-error") == (f"The file has {limit + 1:,} rows; this page scores at most {limit:,}. "
                                                 "Use the batch_score function for larger files.")
    assert c.posts == 0 and c.errors == []


def test_model_panel_links_to_the_versions_model_card(open_console, trained_store):
    c = open_console(1280)
    m = trained_store.result.manifest
    assert c.page.text_content("#model-version") == m["version"]
    with c.context.expect_page() as card:
        c.page.click("#model-card-link")
    card.value.wait_for_load_state()
    assert card.value.title() == f"Model card: {m['name']}"
    assert card.value.url.endswith("?view=model-card")
