"""Browser end-to-end test: every page through the sidebar, a one-epoch training run, bad uploads of every kind.

Runs the real app (``streamlit run app/main.py``) in headless Chromium; see conftest.py. Screenshots
of every page go to the test's tmp folder and to /tmp/e2e_shots/.
"""
from __future__ import annotations

import re
import time

import pytest
from bad_inputs import BAD_UPLOADS
from streamlit_page import assert_clean, open_app, wait_idle

pytestmark = pytest.mark.timeout(300)

PAGES = {"Hierarchy": "Hierarchy", "Frames": "Frames", "Train": "Train", "Collapse": "Collapse",
         "Compare": "Compare runs"}  # sidebar link → page title
TRAIN_TIMEOUT_MS = 120_000


def go_to(page, link: str) -> None:
    """Click a sidebar navigation link and wait for the page's title and the end of its run."""
    page.locator('[data-testid="stSidebarNavLink"]', has_text=re.compile(rf"{link}$")).click()
    page.get_by_role("heading", name=PAGES[link], exact=True).first.wait_for(state="visible")
    wait_idle(page)


def wait_for_charts(page, minimum: int = 1, where: str = "", server=None, timeout_s: float = 30.0) -> None:
    """Wait until at least ``minimum`` plotly charts have drawn their SVG (failing at once on an error)."""
    charts = page.locator('.js-plotly-plot .main-svg')
    deadline = time.monotonic() + timeout_s
    while charts.count() < minimum:
        assert_clean(page, where or f"charts on {page.url}", server)
        assert time.monotonic() < deadline, f"{where}: only {charts.count()} of {minimum} charts after {timeout_s} s"
        page.wait_for_timeout(200)


def assert_log_clean(server) -> None:
    log = server.log_text()
    assert "Traceback" not in log, f"the server logged a traceback:\n{log[-4000:]}"


def widget_text(locator) -> str:
    """A widget's visible text plus the values of its inputs (a selectbox shows its choice in an input)."""
    return locator.evaluate(
        "el => el.innerText + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value).join(' ')")


def choose_hierarchy(page, option: str) -> None:
    """Pick ``option`` in the sidebar's Hierarchy selectbox."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Hierarchy")
    box.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


# ---------------------------------------------------------------------------------------------- tests
def test_every_page_and_a_training_run(server, page, shots):
    open_app(page, server)
    assert_clean(page, "start", server)

    # Pages before any run exists.
    for link in PAGES:
        go_to(page, link)
        if link in ("Hierarchy", "Frames"):
            wait_for_charts(page, 2, server=server)
        assert_clean(page, link, server)
        shots(page, f"{list(PAGES).index(link) + 1}_{link.lower()}_empty")

    # A one-epoch run on synthetic data.
    go_to(page, "Train")
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Epochs", exact=True).press("Tab")
    page.get_by_label("Training images per class (synthetic)", exact=True).fill("20")
    page.get_by_label("Training images per class (synthetic)", exact=True).press("Tab")
    page.get_by_role("button", name="Start training").click()
    done = page.get_by_text(re.compile(r"— (finished|failed|stopped)$"))
    done.wait_for(state="visible", timeout=TRAIN_TIMEOUT_MS)
    state_line = done.inner_text()
    assert state_line.endswith("finished"), f"the run did not finish: {state_line}"
    run_name = state_line.split(" — ")[0].strip()
    assert (server.runs_dir / run_name / "config.json").exists(), f"{run_name} is not in the run store"
    wait_for_charts(page, 3, server=server)  # the four curve panels are one chart
    for panel in ("Top-1 accuracy", "Mistake severity and hierarchical distance", "Training loss",
                  "Frame deviation of class means"):
        assert page.get_by_text(panel).count(), f"the {panel} panel is missing"
    assert_clean(page, "Train after the run", server)
    shots(page, "3_train_finished")

    # The run on the Collapse page, with its charts.
    go_to(page, "Collapse")
    run_box = page.locator('[data-testid="stSelectbox"]').first
    run_box.wait_for(state="visible")
    assert run_name in widget_text(run_box), f"the run {run_name} is not picked on Collapse: {widget_text(run_box)}"
    wait_for_charts(page, 3, server=server)
    assert_clean(page, "Collapse", server)
    shots(page, "4_collapse_run")

    # And on Compare.
    go_to(page, "Compare")
    page.locator('[data-testid="stDataFrame"]').wait_for(state="visible")
    wait_for_charts(page, 1, server=server)
    assert_clean(page, "Compare", server)
    shots(page, "5_compare_run")

    # Back to the first pages once runs exist (nothing there should depend on the run store).
    go_to(page, "Hierarchy")
    wait_for_charts(page, 2, server=server)
    assert_clean(page, "Hierarchy again", server)
    assert_log_clean(server)


def test_bad_hierarchy_uploads_show_an_error(server, page, shots, tmp_path):
    open_app(page, server)
    go_to(page, "Hierarchy")
    choose_hierarchy(page, "Upload a hierarchy…")
    page.get_by_text("Upload a hierarchy file in the sidebar").wait_for(state="visible")
    uploader = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]')
    sidebar_error = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    main_error = page.locator('[data-testid="stMain"] [data-testid="stAlertContentError"]')
    for name, (content, problem) in BAD_UPLOADS.items():
        path = tmp_path / name
        path.write_bytes(content)
        uploader.set_input_files(str(path))
        sidebar_error.filter(has_text=name).wait_for(state="visible")
        wait_idle(page)
        assert sidebar_error.count() == 1 and main_error.count() == 0, f"{name}: the error is shown once, in the sidebar"
        text = sidebar_error.inner_text()
        assert name in text and "Could not read" in text and problem in text, f"{name}: unclear error: {text}"
        assert page.locator('[data-testid="stException"]').count() == 0, f"an exception was shown for {name}"
        assert page.locator('.js-plotly-plot').count() == 0, f"charts drawn for {name}"
        assert server.healthy(), f"the server is down after uploading {name}"
        if name == "cyclic.csv":
            shots(page, "6_hierarchy_bad_upload")

    # Another page asks for a hierarchy again (a failed upload is not kept), without a traceback.
    go_to(page, "Frames")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_text("Upload a hierarchy file in the sidebar").wait_for(state="visible")

    # The server is still fine, and a bundled hierarchy still works in the same session.
    assert server.healthy()
    choose_hierarchy(page, "synthetic")
    wait_for_charts(page, 2, server=server)
    assert_clean(page, "Frames after bad uploads", server)
    assert_log_clean(server)
