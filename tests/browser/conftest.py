"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

No browser is downloaded: the tests use ``/usr/bin/chromium`` (``apt-get install chromium``) and are skipped with a
message when it is missing. With ``STRIV_SCREENSHOTS=<dir>`` they save screenshots of the main pages there
(``scripts/screenshots.sh`` regenerates ``docs/images/`` that way).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")
    # Playwright's sync API keeps an event loop running in this thread, so Django would take the tests' own ORM
    # calls for calls from async code and refuse them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Any]:
    """Open a fresh browser context (own cookies) on the live server; returns a function making pages."""
    contexts = []

    def make(width: int = 1366, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shoot() -> Any:
    """Save a screenshot as ``<STRIV_SCREENSHOTS>/<name>.png`` when that variable is set; otherwise do nothing."""
    target = os.environ.get("STRIV_SCREENSHOTS")

    def save(page: Any, name: str, *, full_page: bool = False) -> None:
        if not target:
            return
        directory = Path(target)
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)

    return save


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


@pytest.fixture
def users(transactional_db) -> dict[str, Any]:
    """An operator ``otto`` and a viewer ``vera``."""
    from tests.factories import make_user

    return {"operator": make_user("otto", "operator"), "viewer": make_user("vera", "viewer")}
