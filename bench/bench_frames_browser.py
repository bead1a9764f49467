"""Browser benchmark of the Frames page: how long a γ or mapping change takes to be redrawn (goal ≤ 1 s at K = 1010).

    python bench/bench_frames_browser.py               # iNaturalist-19 (K = 1010) from ../shared, else a generated
                                                       # 1010-leaf iNat-shaped tree; 6 γ steps, 2 mapping changes
    python bench/bench_frames_browser.py --k 10000     # a generated iNat-21-shaped tree with 10,000 leaves
    python bench/bench_frames_browser.py --pages       # also open Frames, Hierarchy and Train and time their first draw
    python bench/bench_frames_browser.py --quick       # K = 300, 2 γ steps (the test suite runs this)

Drives the real server (``streamlit run app/main.py``, its own temporary run store) in headless Chromium: uploads
the hierarchy in the sidebar, opens Frames, then per change presses the key (or clicks the radio) and measures

* "image": key press → the HAFrame heatmap's new picture is in the page (the part a viewer watches), and
* "page": key press → no element left stale, no script running and two animation frames drawn (every chart
  redrawn),

plus the bytes the page received over its websocket per change (what the server sent). Prints each, their
medians and the page's median against the 1 s goal (a ratio, not an assertion), with the load average: timings
depend on what else the machine runs. Screenshots go to ``--shots`` (default /tmp/frames_bench).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_live import CHROMIUM_ARGS, Server  # noqa: E402
from bench.common import inat21_like_tree  # noqa: E402
from core.formats.writers import to_json  # noqa: E402

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the bench needs Playwright only when it runs
    PlaywrightTimeout = TimeoutError

GOAL_S = 1.0
HEATMAP = ".st-key-frames_heat_haframe"
IMAGE_HREF_JS = """sel => {  // the heatmap's picture: an <img> (large K) or a plotly image trace
    const img = document.querySelector(sel + ' img');
    if (img) return img.getAttribute('src');
    const im = document.querySelector(sel + ' image');
    return im ? (im.getAttribute('href') || im.getAttribute('xlink:href')) : null;
}"""
SETTLED_JS = """() => new Promise(done => {
    const busy = () => { const s = document.querySelector('[data-testid="stStatusWidget"]');
        return (s && s.offsetParent !== null) || !!document.querySelector('[data-stale="true"]'); };
    const check = () => busy() ? requestAnimationFrame(check)
                               : requestAnimationFrame(() => requestAnimationFrame(() => done(busy() ? null : 1)));
    check();
})"""
WS_BYTES_JS = "() => window.__wsBytes || 0"
WS_COUNTER = """(() => {  // count the bytes of every websocket message the page receives
    window.__wsBytes = 0;
    const Native = window.WebSocket;
    window.WebSocket = function (...args) {
        const ws = new Native(...args);
        ws.addEventListener('message', e => {
            window.__wsBytes += e.data.byteLength || e.data.size || (e.data.length || 0); });
        return ws;
    };
    window.WebSocket.prototype = Native.prototype;
    Object.assign(window.WebSocket, Native);
})();"""


def hierarchy_file(k: int, folder: Path) -> Path:
    """The K = 1010 case is iNaturalist-19 when ../shared has it; any other K a generated iNat-shaped tree."""
    reference = ROOT.parent / "shared" / "reference" / "hierarchies" / "inaturalist19.json"
    if k == 1010 and reference.exists():
        return Path(shutil.copy(reference, folder / "inaturalist19.json"))
    path = folder / f"inat21_like_{k}.json"
    path.write_text(to_json(inat21_like_tree(k)))
    return path


def settle(page, timeout_s: float = 120.0) -> None:
    """Until no script runs and no element is stale (checked on animation frames)."""
    deadline = time.monotonic() + timeout_s
    while page.evaluate(SETTLED_JS) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not settle")


def upload(page, server: Server, tree: Path) -> None:
    page.goto(server.url, wait_until="domcontentloaded")
    deadline = time.monotonic() + 120
    while page.locator('[data-testid="stSidebarNavLink"]').count() < 8:  # app/main.py's menu drawn
        if time.monotonic() > deadline:
            page.screenshot(path="/tmp/frames_bench/failed_open.png")
            raise RuntimeError("the app did not draw its menu")
        page.wait_for_timeout(200)
    settle(page)
    option = page.get_by_role("option", name="Upload a hierarchy…", exact=True)
    for attempt in range(5):  # under load the sidebar may still be re-drawn when the first click lands
        try:
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Hierarchy").locator(
                '[role="combobox"], input').first.click(timeout=20_000)
            option.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.screenshot(path=f"/tmp/frames_bench/upload_attempt{attempt}.png")
            page.keyboard.press("Escape")
    else:
        raise RuntimeError("could not choose 'Upload a hierarchy…'")
    page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tree))
    page.get_by_text("(uploaded)").first.wait_for(state="visible", timeout=120_000)
    settle(page)


def open_page(page, title: str, ready: str, timeout_s: float = 180.0) -> float:
    """Click a sidebar link and wait for ``ready`` (a selector) and a settled page; seconds taken."""
    start = time.monotonic()
    page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()
    page.locator(ready).first.wait_for(state="attached", timeout=timeout_s * 1000)
    settle(page, timeout_s)
    return time.monotonic() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_busy_s(cdp) -> float:
    """The page's main-thread task time so far (Chrome's Performance.getMetrics 'TaskDuration')."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def timed_change(page, act, cdp, server_pid: int) -> dict:
    """Run ``act`` (a key press or a click) and time the new heatmap image and the settled page; also the CPU the
    server and the page's main thread spent on it (less sensitive to the machine's load than wall time)."""
    before = page.evaluate(IMAGE_HREF_JS, HEATMAP)
    sent = page.evaluate(WS_BYTES_JS)
    cpu, busy = cpu_seconds(server_pid), browser_busy_s(cdp)
    start = time.monotonic()
    act()
    page.wait_for_function(f"([sel, old]) => ({IMAGE_HREF_JS})(sel) !== old", arg=[HEATMAP, before], polling="raf",
                           timeout=120_000)
    image = time.monotonic() - start
    settle(page)
    return {"image_s": image, "page_s": time.monotonic() - start, "kib": (page.evaluate(WS_BYTES_JS) - sent) / 1024,
            "server_cpu_s": cpu_seconds(server_pid) - cpu, "browser_s": browser_busy_s(cdp) - busy}


def measure(page, steps: int, mappings: int, shots: Path, server_pid: int) -> list[dict]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    rows = []
    slider = page.locator('.st-key-frames_gamma input[type="range"]')
    for n in range(steps):
        slider.focus()
        rows.append({"change": f"γ → {float(slider.input_value()) + 0.5:g}",
                     **timed_change(page, lambda: slider.press("ArrowRight"), cdp, server_pid)})
    page.locator(HEATMAP).first.screenshot(path=str(shots / "frames_heatmap_after_gamma.png"))
    radio = page.locator(".st-key-frames_mapping")
    for n in range(mappings):
        target = "linear" if n % 2 == 0 else "exponential"
        rows.append({"change": f"mapping → {target}",
                     **timed_change(page, lambda: radio.get_by_text(target, exact=True).click(), cdp, server_pid)})
    return rows


def full_shot(page, path: Path) -> None:
    """Screenshot of the whole page (Streamlit scrolls inside its main block: grow the viewport first)."""
    size = page.viewport_size
    height = page.evaluate("""() => { const b = document.querySelector('[data-testid="stMainBlockContainer"]');
        return b ? b.getBoundingClientRect().bottom + window.scrollY : document.body.scrollHeight; }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 20, 8000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=1010, help="classes (1010: iNaturalist-19 when ../shared has it)")
    parser.add_argument("--steps", type=int, default=6, help="γ key presses")
    parser.add_argument("--mappings", type=int, default=2, help="mapping changes")
    parser.add_argument("--pages", action="store_true", help="also time Frames, Hierarchy and Train's first draw")
    parser.add_argument("--quick", action="store_true", help="K = 300, 2 γ steps, 1 mapping change")
    parser.add_argument("--tab", default=None, help="open this section tab first (e.g. Downloads: no charts)")
    parser.add_argument("--shots", type=Path, default=Path("/tmp/frames_bench"))
    args = parser.parse_args(argv)
    if args.quick:
        args.k, args.steps, args.mappings = 300, 2, 1
    args.shots.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        folder = Path(tmp)
        (folder / "runs").mkdir()
        tree = hierarchy_file(args.k, folder)
        server = Server(folder / "runs")
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.add_init_script(WS_COUNTER)
            upload(page, server, tree)
            loads = {}
            if args.pages:  # each page's last element, so the time covers the whole page
                loads["Hierarchy"] = open_page(page, "Hierarchy", ".st-key-export_isa button")
                page.locator(".st-key-sunburst .js-plotly-plot").first.wait_for(state="visible", timeout=120_000)
                full_shot(page, args.shots / f"hierarchy_K{args.k}.png")
                loads["Train"] = open_page(page, "Train", 'button:has-text("Start")')
                full_shot(page, args.shots / f"train_K{args.k}.png")
            loads["Frames"] = open_page(page, "Frames", f"{HEATMAP} img, {HEATMAP} image")
            if args.tab:  # measure with another section open (the default: "Cosine by distance", two charts)
                page.get_by_role("tab", name=args.tab).click()
                settle(page)
            full_shot(page, args.shots / f"frames_K{args.k}.png")
            rows = measure(page, args.steps, args.mappings, args.shots, server.process.pid)
            full_shot(page, args.shots / f"frames_K{args.k}_after.png")
            rss = server.rss_mib()["server"]
        finally:
            browser.close()
            server.stop()
    return report(args.k, rows, loads, rss)


def report(k: int, rows: list[dict], loads: dict[str, float], rss_mib: float) -> dict:
    print(f"Frames page in headless Chromium, K = {k}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, seconds in loads.items():
        print(f"  open {name:<10} {seconds:6.2f} s (first draw, caches cold)")
    print(f"  {'change':<22}{'image (ms)':>11}{'page (ms)':>11}{'server CPU (ms)':>17}{'browser main (ms)':>19}"
          f"{'received (KiB)':>16}")
    for row in rows:
        print(f"  {row['change']:<22}{row['image_s'] * 1000:>11.0f}{row['page_s'] * 1000:>11.0f}"
              f"{row['server_cpu_s'] * 1000:>17.0f}{row['browser_s'] * 1000:>19.0f}{row['kib']:>16.1f}")
    median = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    summary = {"K": k, "rows": rows, "loads": loads, "server_rss_mib": rss_mib, "image_median_s": median("image_s"),
               "page_median_s": median("page_s"), "server_cpu_median_s": median("server_cpu_s"),
               "browser_median_s": median("browser_s")}
    print(f"  median: image {summary['image_median_s'] * 1000:.0f} ms, page {summary['page_median_s'] * 1000:.0f} ms "
          f"= {summary['page_median_s'] / GOAL_S:.2f}× the {GOAL_S:g} s goal (server CPU "
          f"{summary['server_cpu_median_s'] * 1000:.0f} ms + browser main thread {summary['browser_median_s'] * 1000:.0f}"
          f" ms = {(summary['server_cpu_median_s'] + summary['browser_median_s']) / GOAL_S:.2f}× the goal in CPU); "
          f"server RSS {rss_mib:.0f} MiB")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    return summary


if __name__ == "__main__":
    main()
