"""Browser tests of live monitoring: every page opened at every moment of a run shows its state, and follows it.

Moments: a run that exists but has not evaluated anything yet, between epochs, finished, failed, stopped (Stop on the
Train page), queued (a second Start while the device is busy) and interrupted (the server SIGKILLed mid-training,
then restarted). A state written on disk must be on the page within 3 s; nothing else here is timed.
"""
from __future__ import annotations

import re
import time

import pytest
from live_helpers import (APPEARS_MS, CHROMIUM_ARGS, PrivateServer, expect_label, external_training, main_text, wait_for,
                          wait_state)
from streamlit_page import assert_clean, wait_idle

from core import RunDir

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def live_browser(playwright, chromium_path):
    """Chromium that keeps every window rendering: these tests watch several pages at once, and Chromium would
    otherwise throttle or discard the windows that are not in front."""
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS + [
        "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding", "--disable-features=CalculateNativeWinOcclusion"])
    try:
        yield browser
    finally:
        browser.close()


def label(page_name: str, run: str, state: str) -> str:
    """Where each page names a run's state: Train's heading line, Collapse's run picker, Jobs' table row."""
    name = re.escape(run)
    return {"train": rf"{name} — {state}", "collapse": rf"{name} · \w+ · {state}",
            "jobs": rf"{name}[\s\S]{{0,120}}?{state}"}[page_name]


def open_page(browser, server, path: str, before=None):
    """A page of its own browser context, opened at ``path`` and drawn; ``before(page)`` runs before it loads."""
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    if before is not None:
        before(page)
    page.set_default_timeout(60_000)
    page.on("crash", lambda p: print(f"PAGE CRASHED: {path}"))
    page.on("console", lambda m: print(f"console {path}: {m.text[:200]}") if m.type == "error" else None)
    page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
    page.locator('[data-testid="stMain"] h1').first.wait_for(state="visible")  # the page's script has run
    wait_idle(page)
    return page


def expect_everywhere(pages: dict, run: str, state: str, moment: str, server=None) -> None:
    for name, page in pages.items():
        expect_label(page, label(name, run, state), f"{name} page, {moment}")
        assert_clean(page, f"{name} page, {moment}", server)


def close(pages) -> None:
    for page in pages.values():
        page.context.close()


def test_pages_follow_a_run_from_before_its_first_evaluation_to_its_end(server, live_browser, tmp_path, shots):
    name, go, go_on = "live-follow", tmp_path / "go", tmp_path / "go-on"
    proc = external_training(server.runs_dir, name, hold=go, pause=go_on, epochs=3, train_per_class=40)
    run = RunDir(server.runs_dir / name)
    wait_for(lambda: (run.path / "config.json").exists(), 60, "the run directory")
    pages = {"train": open_page(live_browser, server, f"train?run={name}"),
             "collapse": open_page(live_browser, server, "collapse"), "jobs": open_page(live_browser, server, "jobs")}
    try:
        # Before the first evaluation: running, and Collapse says it is still preparing.
        expect_everywhere(pages, name, "running", "before the first evaluation", server)
        expect_label(pages["collapse"], "preparing its data|Waiting for the first snapshot", "collapse, preparing")
        shots(pages["collapse"], "live_collapse_preparing")
        go.touch()
        # Between epochs: the first snapshot reaches the Collapse page without a reload.
        wait_for(lambda: len(run.metrics()) >= 2, 240, "epoch 1 evaluated")
        assert run.state() == "running"
        pages["collapse"].locator('.js-plotly-plot').first.wait_for(state="visible", timeout=60_000)
        expect_everywhere(pages, name, "running", "between epochs", server)
        shots(pages["train"], "live_train_between_epochs")
        go_on.touch()
        # Finished: every page that still names it says so (Jobs lists live runs of other processes only).
        wait_state(run, "finished")
        del pages["jobs"]
        expect_everywhere(pages, name, "finished", "after the end", server)
        shots(pages["train"], "live_train_finished")
        # Opened after the end.
        late = {"train": open_page(live_browser, server, f"train?run={name}")}
        expect_everywhere(late, name, "finished", "opened after the end", server)
        close(late)
    finally:
        close(pages)
        proc.kill()
        proc.wait()


def test_a_following_page_asks_the_server_nothing(server, live_browser, tmp_path):
    """app/live_follow.py: the server reruns a page when its run writes; the browser polls nothing (it sends no
    message at all while it follows the run to its end)."""
    name, go_on = "live-no-poll", tmp_path / "go-on"
    proc = external_training(server.runs_dir, name, pause=go_on, epochs=3, train_per_class=20)
    run = RunDir(server.runs_dir / name)
    wait_for(lambda: len(run.metrics()) >= 2, 240, "epoch 1 evaluated")
    sent = []  # messages the page sends the server
    page = open_page(live_browser, server, f"train?run={name}", before=lambda p: p.on(
        "websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(time.monotonic()))))
    try:
        expect_label(page, label("train", name, "running"), "train, between epochs")
        wait_idle(page)
        quiet_from = time.monotonic()
        go_on.touch()
        wait_state(run, "finished")
        expect_label(page, label("train", name, "finished"), "train, finished without a poll")
        expect_label(page, "epoch 3 of 3 evaluated", "train, the last epoch without a poll")
        page.wait_for_timeout(300)  # let Playwright deliver the frame events it has seen
        assert not [t for t in sent if t > quiet_from], "the page asked the server for something while following"
    finally:
        page.context.close()
        proc.kill()
        proc.wait()


# Counts Plotly.react per graph (app/live_chart.py calls window.Plotly.react) from the moment plotly.js loads.
COUNT_REACTS = """(() => {
    window.__hafsReacts = new Map();
    let plotly;
    Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: value => {
        const react = value.react;
        value.react = function (graph, ...rest) {
            window.__hafsReacts.set(graph, (window.__hafsReacts.get(graph) || 0) + 1);
            return react.call(this, graph, ...rest);
        };
        plotly = value;
    }});
})();"""
CHARTS = """mark => Array.from(document.querySelectorAll('.hafs-chart')).map(graph => {
    const svg = graph.querySelector('.main-svg');
    const kept = !!(svg && svg.hafsMark);
    if (mark && svg) svg.hafsMark = true;
    return {title: (graph.querySelector('.gtitle') || {}).textContent || '',
            reacts: window.__hafsReacts.get(graph) || 0, kept,
            points: graph.data && graph.data[0] && graph.data[0].x ? graph.data[0].x.length : 0};
})"""

TAB_HIDDEN = """hidden => {  // what the browser reports when its tab goes to the background or comes back
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
    document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_a_following_collapse_page_updates_its_charts_in_place(server, live_browser, tmp_path):
    """app/live_chart.py: a new epoch is a Plotly.react into the graphs that are there (their SVG is never built
    again), a chart the epoch left as it was (the frame's target cosines) is not redrawn at all, and a chart out of
    view (the statistics curves, below the fold) is redrawn only when it comes into view, once, to the newest.
    A page whose tab is in the background is not rerun at all until the tab comes back (app/live.py's tab_hidden)."""
    name, go_on = "live-in-place", tmp_path / "go-on"
    proc = external_training(server.runs_dir, name, pause=go_on, epochs=3, train_per_class=20)
    run = RunDir(server.runs_dir / name)
    wait_for(lambda: len(run.metrics()) >= 2, 240, "epoch 1 evaluated")
    page = open_page(live_browser, server, "collapse", before=lambda p: p.add_init_script(COUNT_REACTS))
    try:
        expect_label(page, label("collapse", name, "running"), "collapse, between epochs")
        page.wait_for_function("() => document.querySelectorAll('.hafs-chart .main-svg').length >= 4")
        before = {c["title"].split(",")[0]: c for c in page.evaluate(CHARTS, True)}
        assert {"Penultimate features", "Class-mean cosines", "Target cosines (the frame)"} <= set(before), before
        page.evaluate(TAB_HIDDEN, True)  # the viewer switched to another tab: the page says so to the server
        wait_idle(page)
        go_on.touch()
        wait_state(run, "finished")
        page.wait_for_timeout(4000)  # a page in view shows the end within 3 s
        away = {c["title"].split(",")[0]: c for c in page.evaluate(CHARTS, False)}
        assert all(away[t]["reacts"] == before[t]["reacts"] for t in before), (before, away)  # nothing drawn
        assert re.search(label("collapse", name, "running"), main_text(page)), "a hidden tab's page was rerun"
        page.evaluate(TAB_HIDDEN, False)  # and came back: the page follows again, and draws what is in view
        expect_label(page, label("collapse", name, "finished"), "collapse, back from the background")
        page.wait_for_function("() => /epochs 0–3/.test(document.querySelector('.hafs-chart .gtitle').textContent)")
        wait_idle(page)
        curves = "Collapse statistics (test set; “· train”: training subsample)"
        hidden = {c["title"].split(",")[0]: c for c in page.evaluate(CHARTS, False)}
        assert hidden["Penultimate features"]["reacts"] > before["Penultimate features"]["reacts"], hidden
        hidden = hidden[curves]
        assert (hidden["reacts"], hidden["points"]) == (before[curves]["reacts"], before[curves]["points"]), \
            (before[curves], hidden)  # out of view: not redrawn while epochs came
        chart = page.locator(".hafs-chart").filter(has_text="Collapse statistics")
        chart.scroll_into_view_if_needed()
        page.wait_for_function("() => Array.from(document.querySelectorAll('.hafs-chart')).some(g => "
                               "/Collapse statistics/.test(g.textContent) && g.data[0].x.length === 4)")
        after = {c["title"].split(",")[0]: c for c in page.evaluate(CHARTS, False)}
        assert after[curves]["reacts"] == before[curves]["reacts"] + 1, after[curves]  # the newest, once
        assert all(c["kept"] for c in after.values()), after  # updated in place, never re-created
        assert after["Penultimate features"]["reacts"] > before["Penultimate features"]["reacts"]
        assert after["Class-mean cosines"]["reacts"] > before["Class-mean cosines"]["reacts"]
        assert after["Target cosines (the frame)"]["reacts"] == before["Target cosines (the frame)"]["reacts"], after
        assert_clean(page, "collapse, updated in place", server)
    finally:
        page.context.close()
        proc.kill()
        proc.wait()


def test_a_failed_run_is_labelled_failed(server, live_browser):
    name = "live-failed"
    proc = external_training(server.runs_dir, name, hierarchy="/nonexistent/tree.json")
    proc.wait(timeout=120)
    run = RunDir(server.runs_dir / name)
    assert run.state() == "failed"
    pages = {"train": open_page(live_browser, server, f"train?run={name}"),
             "collapse": open_page(live_browser, server, "collapse")}
    try:
        for page_name, page in pages.items():
            expect_label(page, label(page_name, name, "failed"), f"{page_name}, failed run")
        assert "tree.json" in main_text(pages["train"])  # the reason is on the page
    finally:
        close(pages)


def start(page, epochs: int = 60, per_class: int = 20) -> str:
    """Press Start on an open Train page; the name of the run it now follows."""
    page.get_by_label("Epochs", exact=True).fill(str(epochs))
    page.get_by_label("Epochs", exact=True).press("Tab")
    page.get_by_label("Training images per class (synthetic)", exact=True).fill(str(per_class))
    page.get_by_label("Training images per class (synthetic)", exact=True).press("Tab")
    wait_idle(page)
    before = set(re.findall(r"(\S+) — (?:queued|running)", main_text(page)))
    page.get_by_role("button", name="Start training").click()
    wait_idle(page)
    # The page may still be between the click's run and its redraw (and still name the run it followed before):
    # wait for it to name a run that was not there before the click.
    def new_run() -> str | None:
        found = re.search(r"(\S+) — (queued|running)", main_text(page))
        return found.group(1) if found and found.group(1) not in before else None

    wait_for(new_run, 30, "the started run on the Train page")
    return new_run()


def test_stop_and_queue_show_on_every_page(server, live_browser, shots):
    train = open_page(live_browser, server, "train")
    first = start(train)
    second = start(train)  # the device is busy: queued behind the first
    run1, run2 = RunDir(server.runs_dir / first), RunDir(server.runs_dir / second)
    jobs = open_page(live_browser, server, "jobs")
    collapse = open_page(live_browser, server, "collapse")
    try:
        assert run2.state() == "queued", (f"{first}: {run1.state()} after {len(run1.metrics())} rows "
                                          f"({run1.status().get('error')}); {second}: {run2.state()}")
        expect_label(train, label("train", second, "queued"), "train, queued run")
        expect_label(jobs, label("jobs", second, "queued"), "jobs, queued run")
        expect_label(jobs, label("jobs", first, "running"), "jobs, running run")
        shots(jobs, "live_jobs_queue")
        # Remove the queued run from the Jobs page: it is gone from disk and from the list.
        jobs.get_by_role("button", name="Remove").click()
        wait_for(lambda: not run2.path.exists(), 30, "the queued run removed")
        wait_for(lambda: second not in main_text(jobs), 60, "the removed run off the Jobs page")
        # Stop the first between epochs, from its Train page.
        train.goto(f"{server.url}/train?run={first}", wait_until="domcontentloaded")
        wait_idle(train)
        wait_for(lambda: len(run1.metrics()) >= 2, 240, "epoch 1 evaluated")
        train.get_by_role("button", name="Stop").click()
        wait_state(run1, "stopped", 60)
        pages = {"train": train, "jobs": jobs, "collapse": collapse}
        expect_everywhere(pages, first, "stopped", "after Stop", server)
        shots(train, "live_train_stopped")
    finally:
        for page in (train, jobs, collapse):
            page.context.close()


def test_a_killed_server_leaves_an_interrupted_run_that_resumes(live_browser, tmp_path, shots):
    runs = tmp_path / "runs"
    runs.mkdir()
    server = PrivateServer(runs, tmp_path / "server.log")
    try:
        train = open_page(live_browser, server, "train")
        name = start(train, epochs=40, per_class=20)
        run = RunDir(runs / name)
        wait_for(lambda: len(run.metrics()) >= 3, 300, "two epochs trained")
        server.kill()
        train.context.close()
        before = run.metrics()
        assert run.state() == "interrupted", "a run whose process is gone is not running"
        assert (run.path / "config.json").exists() and run.snapshot_epochs()
        assert [r["epoch"] for r in before] == list(range(len(before)))  # no torn or duplicate rows

        server = PrivateServer(runs, tmp_path / "server.log")
        pages = {"train": open_page(live_browser, server, f"train?run={name}"),
                 "collapse": open_page(live_browser, server, "collapse")}
        expect_everywhere(pages, name, "interrupted", "after the restart", server)
        assert run.metrics()[:len(before)] == before, "the run's metrics are unchanged by the restart"
        shots(pages["train"], "live_train_interrupted")
        # Resume continues it from its last checkpoint.
        pages["train"].get_by_role("button", name="Resume").click()
        wait_for(lambda: run.state() == "running", 60, "the resumed run running")
        expect_label(pages["train"], label("train", name, "running"), "train, resumed", timeout_ms=APPEARS_MS)
        wait_for(lambda: len(run.metrics()) > len(before), 300, "a new epoch after the resume")
        epochs = [r["epoch"] for r in run.metrics()]
        assert epochs[len(before)] > before[-1]["epoch"] - 1, epochs
        pages["train"].get_by_role("button", name="Stop").click()
        wait_state(run, "stopped", 60)
        close(pages)
    finally:
        server.stop()
