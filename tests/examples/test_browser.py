"""The Flask example's page in a real browser (Debian's Chromium, headless, driven by
Playwright): the answer grows before the turn ends, and an approval is a click."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vectorshift_sessions.testing import EngineFixture

from .conftest import INSTALL_EXTRAS, load_example

INSTALL_BROWSER = (
    "this test needs Chromium and Playwright: apt-get install chromium (Debian's package), "
    f"and {INSTALL_EXTRAS}"
)
# Flags for a sandboxed machine with no network: no first-run UI, no calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """The browser's path. CI sets VECTORSHIFT_REQUIRE_BROWSER=1 so a missing browser fails
    there instead of skipping."""
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("VECTORSHIFT_REQUIRE_BROWSER") == "1":
            pytest.fail(INSTALL_BROWSER, pytrace=False)
        pytest.skip(INSTALL_BROWSER)
    return path


@pytest.fixture
def flask_page(vectorshift_engine: EngineFixture) -> Iterator[str]:
    """The Flask example served on a free loopback port, against the test's engine."""
    from werkzeug.serving import make_server

    app = load_example("flask_app/app.py").create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="flask-page-server")
    serving.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        serving.join()
        server.server_close()


@pytest.fixture
def page() -> Iterator[Any]:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


# 50 ms between deltas: the answer takes about a second to stream, long enough to watch.
@pytest.mark.vectorshift_engine(turn_delay=0.05)
def test_the_answer_streams_into_the_page_and_approve_is_a_click(
    flask_page: str, page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page.goto(flask_page)
    page.fill("input[name=message]", "What is a session?")
    page.click("button[type=submit]")

    approve = page.locator(".approval button.approve")
    approve.wait_for(timeout=15_000)  # the demo agent searched, then asks to file a ticket
    assert page.get_attribute("body", "data-turn") == "awaiting"
    assert "tool call: create_ticket" in page.inner_text(".activity")
    approve.click()

    # Mid-stream: some of the answer is on the page, and the turn has not ended.
    page.wait_for_function(
        "document.querySelector('.agent .answer').textContent.length > 30"
        " && document.body.dataset.turn === 'running'",
        timeout=15_000,
    )
    partial = page.inner_text(".agent .answer")
    screenshot = tmp_path / "flask-page-mid-stream.png"
    page.screenshot(path=str(screenshot), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot of the Flask page mid-stream: {screenshot}")

    page.wait_for_function("document.body.dataset.turn === 'idle'", timeout=15_000)
    final = page.inner_text(".agent .answer")
    assert "DEMO-1042" in final
    assert len(partial) < len(final) and final.startswith(partial.strip())
    assert screenshot.stat().st_size > 0

    page.reload()  # the conversation lives on: the page shows it again from the history
    page.wait_for_function("document.querySelectorAll('#log .user').length === 1")
    assert "DEMO-1042" in page.inner_text("#log")
