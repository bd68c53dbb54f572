"""The README's picture of the MLflow UI: the comparison view `make ui` opens, on this clone's
store, photographed by headless Chromium (Playwright) at 1500x1000.

    python -m benchmarks.ui_screenshot --out reports/ui-runs.png

Starts `python -m pipeline ui` on a free port, opens the URL it prints, waits for the runs table,
saves the picture and stops the server. Needs the dev extra's Playwright and Debian's chromium.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.adapters import servers

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# The UI opens its assistant panel on a browser's first visit; it would cover half the page.
NO_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


def start_ui(port: int) -> tuple[subprocess.Popen, str]:
    """`python -m pipeline ui` on `port`; the process and the comparison URL it printed."""
    command = [sys.executable, "-m", "pipeline", "ui", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stdout:
        if line.startswith("url="):
            return process, line.removeprefix("url=").strip()
    raise SystemExit(f"`{' '.join(command)}` printed no url=")


def wait_until_up(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the MLflow UI on port {port} did not answer within {timeout:.0f} s")


def photograph(url: str, out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.add_init_script(NO_ASSISTANT)
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        expect(page.locator('.ag-header-cell[col-id="params.`activation`"]')).to_be_visible(
            timeout=60_000
        )
        time.sleep(2)  # the table's rows render after its header
        page.screenshot(path=out)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/ui-runs.png"))
    args = parser.parse_args()
    port = servers.free_port_after("127.0.0.1", 5050)
    if port is None:
        raise SystemExit("no free port from 5050 up")
    process, url = start_ui(port)
    try:
        wait_until_up(port)
        photograph(url, args.out)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the UI's server and the workers it started
        process.wait(timeout=30)
    print(f"{args.out}: the comparison view of {url}")


if __name__ == "__main__":
    main()
