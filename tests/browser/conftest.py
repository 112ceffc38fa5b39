"""The browser suite's fixtures: a live server on 127.0.0.1 over a demo database (one per pytest
worker, so it runs under xdist), Debian's chromium driven headless by Playwright, and screenshots
written to ``test-output/screenshots/``.

When chromium or Playwright is missing the suite is skipped, except under CI (``CI`` or
``IPFUND_REQUIRE_BROWSER`` set), where it fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
REQUIRE_BROWSER = bool(os.environ.get("CI") or os.environ.get("IPFUND_REQUIRE_BROWSER"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--no-first-run", "--mute-audio"]
VIEWPORT = {"width": 1366, "height": 768}


def _unavailable(message: str):
    if REQUIRE_BROWSER:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """``{"url": base URL, "claimable": {login: loan ids}, "db": session factory}`` of a server
    running ``api.app:create_app`` over its own demo database."""
    from fund.adapters.db import make_engine, make_session_factory, unit_of_work
    from fund.services import people
    from fund.services.common import institution_by_code
    from tests.console_support import PASSWORD, prepare_demo

    folder = tmp_path_factory.mktemp("browser")
    demo = prepare_demo(folder / "demo.sqlite3")
    engine = make_engine(demo["url"])
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        for login, language in (("t.lock.zh", "zh"), ("t.lock.en", "en")):
            people.create_person(session, institution_by_code(session, "FM-GZ"), login, "Lock " + language, ("officer",),
                                 PASSWORD, language=language)
    port = _free_port()
    env = {**os.environ, "IPFUND_DATABASE_URL": demo["url"], "IPFUND_BUSINESS_DATE": "2026-10-31"}
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 180  # a loaded machine starts slowly
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the console's server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield {"url": base, "claimable": demo["claimable"], "db": factory, "log": folder / "server.log"}
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install playwright)")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def context(browser, live_server):
    made = browser.new_context(base_url=live_server["url"], viewport=VIEWPORT, accept_downloads=True, locale="zh-CN")
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture()
def page(context):
    return context.new_page()


def shot(page, name: str) -> Path:
    """A full-page screenshot ``test-output/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the console in chromium (tests/browser)")
