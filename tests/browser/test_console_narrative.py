"""The console's "Write a summary" button in headless Chromium, on a real functions-framework
server (gunicorn's uvicorn worker, as deployed) whose narrative goes to the local Vertex AI
stand-in: a Gemini answer is shown as such, and a failing call shows the template with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.server import function_server, server_env
from support.vertex_standin import Reply, VertexStandIn, facts_of

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian's package)")


@pytest.fixture(scope="module")
def vertex():
    with VertexStandIn() as standin:
        yield standin


@pytest.fixture(scope="module")
def console_url(trained_store, vertex, tmp_path_factory):
    folder = tmp_path_factory.mktemp("narrative_console")
    env = server_env(MODEL_STORE=str(trained_store.path), MODEL_NAME="credit_default",
                     GOOGLE_APPLICATION_CREDENTIALS=str(vertex.service_account_file(folder)),
                     GOOGLE_CLOUD_PROJECT="standin-project", NARRATIVE_LOCATION="europe-west1",
                     NARRATIVE_MODEL="gemini-2.5-flash", NARRATIVE_BASE_URL=vertex.url, NARRATIVE_TIMEOUT_S="3")
    with function_server("score", env, folder / "server.log") as server:
        yield server.url


@pytest.fixture(scope="module")
def page(console_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(console_url)
        yield page
        assert not errors
        browser.close()


def summarise(page) -> tuple[str, str]:
    """Score the good example, press "Write a summary", return (narrative, its source line)."""
    page.click("#fill-good")
    page.click("#submit")
    page.wait_for_selector(".result:not(.previous) [data-k=summarise]:not([disabled])")
    page.click(".result:not(.previous) [data-k=summarise]")
    page.wait_for_selector(".result:not(.previous) [data-k=narrative]:not([hidden])")
    card = ".result:not(.previous) "
    return page.text_content(card + "[data-k=narrative]"), page.text_content(card + "[data-k=narrative-source]")


@pytest.mark.slow
def test_the_summary_button_shows_gemini_or_the_template_with_its_reason(page, vertex):
    def answer(call):
        f = facts_of(call)
        return Reply.answer(f"The application was rated {f['rating']}, with an estimated probability of "
                            f"default of {f['probability_of_default']}.")

    vertex.reply = answer
    text, source = summarise(page)
    assert text.startswith("The application was rated ") and "Gemini" in source
    assert len(vertex.generate_calls()) == 1

    vertex.reply = lambda call: Reply.error(429)
    page.fill("#in-applicant_id", "A-2")  # another request; the same decision would come from the cache
    page.fill("#in-exposure", "5000")
    text, source = summarise(page)
    assert text == page.text_content(".result:not(.previous) [data-k=explanation]")
    assert "template" in source and "rate_limited" in source
