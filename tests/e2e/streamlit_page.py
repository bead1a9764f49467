"""Helpers shared by the browser tests: drive the real Streamlit app in Playwright."""
from __future__ import annotations

import time

NAV = ["Primer", "Hierarchy", "Frames", "Train", "Jobs", "Collapse", "Mistakes", "Compare"]  # app/main.py's sidebar links, in order

BUSY_JS = """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
    return (s && s.offsetParent !== null) || !!document.querySelector('[data-stale="true"]'); }"""


def wait_idle(page, timeout_s: float = 60.0, quiet_s: float = 0.8) -> None:
    """Wait until the app is shown and no script run is in progress: no status widget and no stale (not yet
    re-drawn) element for ``quiet_s`` in a row (a short run may end before the status widget ever shows)."""
    page.locator('[data-testid="stAppViewContainer"]').wait_for(state="visible", timeout=60_000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if not page.evaluate(BUSY_JS):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        page.wait_for_timeout(100)
    raise AssertionError(f"the app was still running after {timeout_s} s")


def nav_labels(page) -> list[str]:
    return [text.split("\n")[-1].strip() for text in page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]


def open_app(page, server) -> None:
    """Load the app and wait for app/main.py's st.navigation menu to be drawn."""
    page.goto(server.url, wait_until="domcontentloaded")
    deadline = time.monotonic() + 60
    while nav_labels(page) != NAV:
        assert time.monotonic() < deadline, f"the sidebar menu is {nav_labels(page)}, expected {NAV}"
        page.wait_for_timeout(200)
    wait_idle(page)


def assert_clean(page, where: str, server=None) -> None:
    """No uncaught exception and no error alert on the page (the server log's tail in the message)."""
    log = f"\n--- server log (tail) ---\n{server.log_text()[-4000:]}" if server is not None else ""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{where}: exception shown: {exceptions.first.inner_text()[:2000]}{log}"
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"{where}: error shown: {errors.first.inner_text()[:2000]}{log}"
    broken = page.locator(".hafs-chart", has_text="could not be drawn")  # app/live_chart.py's own failure
    assert broken.count() == 0, f"{where}: {broken.first.inner_text()[:500]}{log}"


