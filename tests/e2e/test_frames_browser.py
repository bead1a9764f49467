"""Browser test of the Frames page on a large hierarchy (iNaturalist-19, K = 1010).

Uploads the iNat19 tree (read from ../shared/reference at test time) through the sidebar, opens Frames,
moves the γ slider with the keyboard and checks that the HAFrame heatmap picture changes. The time from the
key press to the new picture is printed (not asserted; bench/bench_frames_browser.py measures it properly). Screenshots go to the test's tmp folder and to
/tmp/frames_shots/. Uses the ``server`` and ``page`` fixtures of conftest.py.
"""
from __future__ import annotations

import re
import shutil
import statistics
import time
from pathlib import Path

import pytest
from streamlit_page import assert_clean, open_app, wait_idle

pytestmark = pytest.mark.timeout(300)

SHOTS_COPY = Path("/tmp/frames_shots")
HEATMAP = ".st-key-frames_heat_haframe"
IMAGE_HREF_JS = """sel => {  // the heatmap's picture: an <img> (large K) or a plotly image trace
    const img = document.querySelector(sel + ' img');
    if (img) return img.getAttribute('src');
    const im = document.querySelector(sel + ' image');
    return im ? (im.getAttribute('href') || im.getAttribute('xlink:href')) : null;
}"""


@pytest.fixture()
def frame_shots(tmp_path):
    """``save(page, name, locator=None)``: a screenshot (of the element, or the whole page) into tmp and
    /tmp/frames_shots/."""
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, locator=None) -> Path:
        path = tmp_path / f"{name}.png"
        if locator is not None:
            locator.screenshot(path=str(path))
        else:  # Streamlit scrolls inside its main block: grow the viewport to the content first
            size = page.viewport_size
            height = page.evaluate("""() => {
                const b = document.querySelector('[data-testid="stMainBlockContainer"]');
                return b ? b.getBoundingClientRect().bottom + window.scrollY : document.body.scrollHeight; }""")
            page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 20, 7000))})
            page.wait_for_timeout(800)
            try:
                page.screenshot(path=str(path), full_page=True)
            finally:
                page.set_viewport_size(size)
                page.wait_for_timeout(300)
        shutil.copy(path, SHOTS_COPY / path.name)
        return path

    return save


def test_frames_page_with_inaturalist19(server, page, frame_shots, tmp_path, reference):
    tree = tmp_path / "inaturalist19.json"
    tree.write_bytes((reference / "hierarchies" / "inaturalist19.json").read_bytes())

    open_app(page, server)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Hierarchy")
    box.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name="Upload a hierarchy…", exact=True).click()
    page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tree))
    wait_idle(page)
    assert_clean(page, "after the upload")

    page.locator('[data-testid="stSidebarNavLink"]', has_text=re.compile(r"Frames$")).click()
    page.get_by_role("heading", name="Frames", exact=True).first.wait_for(state="visible")
    page.locator(f"{HEATMAP} img").first.wait_for(state="visible", timeout=60_000)
    page.locator(".st-key-frames_gamma_overlay .js-plotly-plot").first.wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    assert_clean(page, "Frames")
    assert page.locator(".js-plotly-plot").count() == 2, "1010 classes: the heatmaps are pictures, the tabs lazy"
    assert page.get_by_role("tab", name="Pair inspector").count() == 1, "a 1010-class page offers the pair inspector"
    frame_shots(page, "frames_inat19_page")
    heatmap = page.locator(HEATMAP).first  # during a rerun Streamlit also keeps zero-height "retained" copies
    shot_before = frame_shots(page, "frames_inat19_heatmap_before", heatmap)

    slider = page.locator('.st-key-frames_gamma input[type="range"]')  # the slider thumb's input
    latencies, runs = [], []
    for _ in range(3):
        before = page.evaluate(IMAGE_HREF_JS, HEATMAP)
        assert before
        slider.focus()
        start = time.monotonic()
        slider.press("ArrowRight")
        page.wait_for_function(f"([sel, old]) => ({IMAGE_HREF_JS})(sel) !== old", arg=[HEATMAP, before],
                               polling="raf", timeout=30_000)
        latencies.append(time.monotonic() - start)
        wait_idle(page, quiet_s=0.5)
        runs.append(time.monotonic() - start - 0.5)  # every element re-drawn (minus the quiet period)
        assert_clean(page, "after moving γ")
    gamma = slider.input_value()
    ms = lambda values: ", ".join(f"{t * 1000:.0f}" for t in values)  # noqa: E731
    print(f"\nFrames page, K = 1010: γ key press → new HAFrame heatmap image: {ms(latencies)} ms "
          f"(median {statistics.median(latencies) * 1000:.0f} ms); → whole page re-drawn: ~{ms(runs)} ms; "
          f"γ now {gamma}")
    assert float(gamma) == pytest.approx(3.5)
    shot_after = frame_shots(page, "frames_inat19_heatmap_after", heatmap)
    assert shot_after.read_bytes() != shot_before.read_bytes(), "the heatmap looks the same after γ moved"
    frame_shots(page, "frames_inat19_page_after")

    # The pair inspector answers for two picked classes; the deferred downloads arrive.
    page.get_by_role("tab", name="Pair inspector").click()
    inspector = page.get_by_text(re.compile(r"^LCA .* · distance d = \d · HAFrame cos"))
    inspector.wait_for(state="visible", timeout=60_000)
    before = inspector.inner_text()
    page.locator('[class*="st-key-frames_pair_b_"]').locator('[role="combobox"], input').first.click()
    page.keyboard.type("500 ")
    page.get_by_role("option", name=re.compile(r"^500 · ")).click()
    page.wait_for_function("old => Array.from(document.querySelectorAll('p')).some(p => p.innerText.startsWith('LCA ')"
                           " && p.innerText !== old)", arg=before)
    wait_idle(page)
    assert_clean(page, "after the pair inspector")
    page.get_by_role("tab", name="Downloads").click()
    page.locator(".st-key-frames_dl_npy button").wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    for key, suffix in (("frames_dl_npy", ".npy"), ("frames_dl_heatmap_haframe", ".png")):
        with page.expect_download(timeout=60_000) as download:
            page.locator(f".st-key-{key} button").click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert path.suffix == suffix and path.stat().st_size > 1000, f"{path.name}: {path.stat().st_size} bytes"
    assert (tmp_path / "haframe_iNaturalist_2019_K1010_d1010.npy").exists()
    assert_clean(page, "after the downloads")
    log = server.log_text()
    assert "Traceback" not in log, f"the server logged a traceback:\n{log[-4000:]}"


def test_exact_view_and_infeasible_m_explanation(server, page, frame_shots):
    """The exact view draws 3, then 4 classes with their angles; an infeasible m keeps the feasibility
    curve and the error on screen, and a feasible m brings every figure back."""
    open_app(page, server)
    page.locator('[data-testid="stSidebarNavLink"]', has_text=re.compile(r"Frames$")).click()
    page.get_by_role("heading", name="Frames", exact=True).first.wait_for(state="visible")
    page.locator(f"{HEATMAP} .js-plotly-plot").first.wait_for(state="visible", timeout=180_000)  # a loaded CI box
    wait_idle(page)  # the first run has ended: the tab's click starts the section's own run
    page.get_by_role("tab", name="Exact view").click()
    exact = page.locator(".st-key-frames_exact_view")
    exact.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=120_000)
    wait_idle(page)
    assert_clean(page, "Frames")
    assert page.get_by_text("the vectors (exact lengths and angles)").count() == 1
    frame_shots(page, "frames_exact_three", exact.first)
    subtree = page.locator('[class*="st-key-frames_exact_subtree_"]')
    subtree.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name="alpha", exact=True).click()
    page.get_by_text("the 4 tips (exact edge lengths)").wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    assert_clean(page, "exact view of a subtree")
    frame_shots(page, "frames_exact_subtree", exact.first)

    page.locator(".st-key-frames_mode").get_by_text("value", exact=True).click()
    m_input = page.locator(".st-key-frames_m_value input")
    m_input.wait_for(state="visible")
    m_input.fill("-0.9")
    m_input.press("Enter")
    alert = page.locator('[data-testid="stAlertContentError"]')
    alert.wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    assert "infeasible" in alert.inner_text() and "m* =" in alert.inner_text()
    curve = page.locator(".st-key-frames_feasibility .js-plotly-plot")
    curve.wait_for(state="visible")
    assert page.locator(".js-plotly-plot").count() == 1, "only the explaining curve is drawn"
    assert page.get_by_text("m = -0.9000").count() >= 1, "the entered m is marked on the curve"
    frame_shots(page, "frames_infeasible_m")
    m_input.fill("0")
    m_input.press("Enter")
    page.locator(f"{HEATMAP} .js-plotly-plot").first.wait_for(state="visible", timeout=60_000)  # figures back
    wait_idle(page)
    assert_clean(page, "after a feasible m")
    assert "Traceback" not in server.log_text()
