"""Browser test: the Collapse animation (Play and the epoch slider), the Mistakes views with CRM, Compare with seeds;
the same pages at K = 1010 (iNaturalist-19's hierarchy) drawn without stalling the browser.

Its own server over its own run store (runs written to disk by tests/nc_runs.py), so the other browser
tests' stores stay as they expect. Screenshots go to /tmp/e2e_shots/ (see conftest.py).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from conftest import REPO, Server, _free_port, _healthy, _stop
from nc_runs import INAT19, write_run
from streamlit_page import assert_clean, open_app, wait_idle

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def nc_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("nc_server")
    for seed in range(3):
        write_run(root / "runs", f"haf-s{seed}", seed=seed, epochs=4)
    write_run(root / "runs", "learnable", head="learnable", epochs=4)
    yield from serve(root)


@pytest.fixture(scope="module")
def inat_server(tmp_path_factory):
    """A K = 1010 store: two seeds of a short run on the iNaturalist-19 hierarchy (2 images per class)."""
    root = tmp_path_factory.mktemp("inat_server")
    for seed in range(2):
        write_run(root / "runs", f"inat-s{seed}", str(INAT19), seed=seed, epochs=4, per_class=2, dim=32)
    yield from serve(root)


def serve(root):
    """A Streamlit server over ``root``/runs (its log in ``root``), stopped when the caller is done."""
    runs_dir, log = root / "runs", root / "streamlit.log"
    port = _free_port()
    env = {**os.environ, "HAFRAME_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", runs_dir, log, process)
    try:
        deadline = time.monotonic() + 90
        while not _healthy(server.url):
            assert process.poll() is None, server.log_text()[-4000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)


def go_to(page, link: str, heading: str) -> None:
    page.locator('[data-testid="stSidebarNavLink"]', has_text=re.compile(rf"{link}$")).click()
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(state="visible")
    wait_idle(page, 120)


def chart_with(page, text: str):
    """The plotly chart whose SVG holds ``text`` (waits for it to be drawn)."""
    chart = page.locator('.js-plotly-plot', has_text=text).first
    chart.wait_for(state="visible", timeout=60_000)
    return chart


def test_collapse_animation_mistakes_and_compare_with_seeds(nc_server, page, shots):
    open_app(page, nc_server)
    go_to(page, "Collapse", "Collapse")
    chart = chart_with(page, "Penultimate features")
    assert_clean(page, "Collapse", nc_server)
    current = chart.locator(".slider-container text.slider-label").first  # the "epoch N" read-out above the slider
    assert current.text_content().strip() == "epoch 4", "the animation starts at the chosen (latest) epoch"
    chart.locator(".updatemenu-button", has_text="Play").click()
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(seen) < 3:
        seen.add(current.text_content().strip())
        page.wait_for_timeout(150)
    assert len(seen) >= 3, f"Play should step through the epochs; saw {seen}"
    page.wait_for_timeout(4000)  # let it finish (5 frames × 0.7 s)
    assert current.text_content().strip() == "epoch 4"
    assert chart.locator(".legendtext", has_text="class means").count() == 1
    assert chart.locator(".legendtext", has_text="frame vectors").count() == 1
    shots(page, "nc_collapse")

    go_to(page, "Mistakes", "Mistakes")
    chart_with(page, "Mistakes by LCA height over epochs")
    chart_with(page, "Confusions in tree order, epoch 4")
    assert_clean(page, "Mistakes", nc_server)
    page.get_by_text("CRM re-ranking").click()
    wait_idle(page, 120)
    chart_with(page, "CRM re-ranked")
    assert_clean(page, "Mistakes with CRM", nc_server)
    shots(page, "nc_mistakes")

    go_to(page, "Compare", "Compare runs")
    curves = chart_with(page, "(3 seeds)")
    assert curves.locator(".legendtext", has_text="(3 seeds)").count() == 1, "the three seeds form one group"
    assert curves.locator("path.js-fill").count() >= 1, "the seed group is drawn with its CI band"
    assert_clean(page, "Compare", nc_server)
    shots(page, "nc_compare")
    assert "Traceback" not in nc_server.log_text(), nc_server.log_text()[-4000:]


LONG_TASKS_JS = """() => { window.__long = []; new PerformanceObserver(list => list.getEntries().forEach(
    e => window.__long.push(e.duration))).observe({type: 'longtask', buffered: true}); }"""


def long_tasks(page) -> str:
    """The browser main thread's long tasks (> 50 ms) since the last call, for the printout."""
    durations = page.evaluate("() => { const d = window.__long || []; window.__long = []; return d; }")
    return f"{len(durations)} long tasks, longest {max(durations, default=0):.0f} ms"


def test_k1010_pages_draw_images_and_stay_responsive(inat_server, page, shots):
    open_app(page, inat_server)
    page.evaluate(LONG_TASKS_JS)
    timings = {}
    for link, heading, waits in (("Collapse", "Collapse", ["Penultimate features", "Class-mean cosines"]),
                                 ("Mistakes", "Mistakes", ["Confusions in tree order", "over epochs"]),
                                 ("Compare", "Compare runs", ["(2 seeds)", "inat-s0 · epoch 4"])):
        started = time.monotonic()
        go_to(page, link, heading)
        charts = [chart_with(page, text) for text in waits]
        timings[link] = f"{time.monotonic() - started:.1f} s to idle, {long_tasks(page)}"
        assert_clean(page, f"{link} at K = 1010", inat_server)
        if link != "Compare":
            # Heatmaps and the confusion matrix are pictures: no per-cell SVG at K = 1010.
            assert charts[-1 if link == "Collapse" else 0].locator("image").count() >= 1
        if link == "Collapse":
            legend = charts[0].locator(".legendtext").count()
            assert legend <= 24 + 2, f"{legend} legend entries: only the groups that stay distinguishable"
            charts[0].locator(".updatemenu-button", has_text="Play").click()
            page.wait_for_timeout(4000)
            rtt = []
            for _ in range(5):  # the page answers while the animation plays
                t = time.monotonic()
                page.evaluate("() => 1")
                rtt.append(1000 * (time.monotonic() - t))
            timings["Collapse playing"] = f"script round trip {max(rtt):.0f} ms max of 5, {long_tasks(page)}"
        shots(page, f"nc_inat19_{link.lower()}")
    assert "Traceback" not in inat_server.log_text(), inat_server.log_text()[-4000:]
    print("\nK = 1010 pages in chromium: " + "; ".join(f"{k}: {v}" for k, v in timings.items()))
