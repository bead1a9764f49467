"""Fixtures for the browser end-to-end test: a real Streamlit server and a headless Chromium.

The server is ``python -m streamlit run app/main.py`` on a free port, with its run store moved to a
temporary folder (``HAFRAME_RUNS_DIR``). The browser is the system Chromium (Debian's ``chromium``);
Playwright never downloads one. A missing Chromium is a failure, not a skip: CI must run this test.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS_COPY = Path("/tmp/e2e_shots")  # screenshots are also copied here for a person to look at
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


class Server:
    """A running Streamlit server: its URL, run store and log."""

    def __init__(self, url: str, runs_dir: Path, log: Path, process: subprocess.Popen):
        self.url, self.runs_dir, self.log, self.process = url, runs_dir, log, process

    def healthy(self) -> bool:
        return self.process.poll() is None and _healthy(self.url)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("server")
    runs_dir, log = root / "runs", root / "streamlit.log"
    runs_dir.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HAFRAME_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    srv = Server(url, runs_dir, log, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with code {process.returncode}:\n{srv.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within {STARTUP_TIMEOUT_S} s:\n"
                            f"{srv.log_text()[-4000:]}")
            time.sleep(0.5)
        yield srv
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server we started (its own process group: the server and anything it spawned)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole session (a second sync_playwright() inside the first fails)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium_path() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("The e2e test needs the system Chromium on PATH (Debian: `apt-get install chromium`). "
                    "Playwright's own browsers are never downloaded.")
    return executable


@pytest.fixture(scope="session")
def browser(playwright, chromium_path):
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_failed = report.failed


@pytest.fixture()
def page(browser, request):
    """A fresh browser page; on failure its screenshot is saved as ``FAILED_<test>.png`` (see ``shots``)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
        if getattr(request.node, "e2e_failed", False):
            SHOTS_COPY.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS_COPY / f"FAILED_{request.node.name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """``shots(page, name)`` saves a full-length screenshot to the test's tmp folder and /tmp/e2e_shots."""
    folder = tmp_path_factory.mktemp("screenshots")
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = folder / f"{name}.png"
        _full_screenshot(page, path)
        shutil.copy(path, SHOTS_COPY / path.name)
        return path

    return save


def _content_height(page) -> int:
    return int(page.evaluate(
        """() => {
            const items = document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]');
            const main = document.querySelector('[data-testid="stMain"]');
            let bottom = main ? main.scrollHeight : document.body.scrollHeight;
            for (const item of items) bottom = Math.max(bottom, item.getBoundingClientRect().bottom + 80);
            return bottom;
        }"""))


def _full_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main section, so grow the viewport to the content before shooting
    (twice: charts re-layout to the new size and may change the height)."""
    size = page.viewport_size
    try:
        height = size["height"]
        for _ in range(2):
            height = max(height, min(_content_height(page), 8000))
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(700)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
