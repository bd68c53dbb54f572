"""Headless Chromium for the browser tests, driven by Playwright."""

import importlib.util
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# The UI opens its assistant panel on a browser's first visit; it would cover half the page.
NO_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, naming what is missing; None when they can."""
    if CHROMIUM is None:
        return (
            "chromium is not installed (`make test` installs it as root: apt-get install chromium)"
        )
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (the dev extra: pip install -e '.[dev]')"
    return None


# Checked when tests are collected, so a missing browser skips before a server is started.
needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


@pytest.fixture
def page():
    from playwright.sync_api import expect, sync_playwright

    # Generous waits for a page's content (the UI polls, so never wait for network idle): two
    # cores shared with a test run make a first page take seconds.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.add_init_script(NO_ASSISTANT)
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            browser.close()
