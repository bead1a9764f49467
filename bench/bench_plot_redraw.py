"""What one redraw of each figure a live page redraws every epoch costs the viewer's browser, redrawn the way
``st.plotly_chart`` does it (the baseline) and the way the app's live charts do (app/live_chart.py).

    python bench/bench_plot_redraw.py            # 10 redraws per figure
    python bench/bench_plot_redraw.py --quick    # 2 redraws, small figures (the test suite runs this)

Streamlit updates a chart whose figure changed with ``Plotly.react`` and a new config object (its fullscreen
button is a new closure each time), which plotly answers with a full ``newPlot`` and another ``react``: every
changed chart is re-created once per redraw. The app's live charts keep one config per graph, so ``react`` diffs
the new figure into the graph that is there ("in place"). This script builds the figures the Collapse and Train
pages draw (from ``app/plots.py``, on synthetic arrays of the sizes those pages send), loads plotly.js into headless
Chromium (software GL, as in a browser without a GPU) and redraws each figure ``--redraws`` times both ways,
alternating two epochs' versions. Per figure it prints the browser's CPU per redraw (every Chromium process, from
/proc) and the main thread's JavaScript time, with the ratio against ``st.plotly_chart``'s way for the same figure
(measured in the same process); the animated projection is also drawn in SVG and in WebGL markers, and the table
marks what the app draws.

CPU figures depend on the machine and what else it runs; the script prints its load average with the results.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import plotly.io as pio

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import live_chart, plots  # noqa: E402
from bench.bench_live import CHROMIUM_ARGS, _descendants, _task_cpu  # noqa: E402
from bench.common import Column, render_table  # noqa: E402

REDRAW_JS = """async ([specs, n, inPlace, kept]) => {  // redraw n times, alternating two versions; mean JS ms
    // st.plotly_chart hands plotly a new config per figure (its fullscreen button is a new closure), so react sees a
    // changed config and re-creates the plot (newPlot) before reacting again; in place: one config, react diffs.
    const gd = document.getElementById('plot'); let busy = 0;
    const fresh = () => ({modeBarButtonsToAdd: [{name: 'Fullscreen', icon: Plotly.Icons.autoscale, click: () => {}}],
                          displaylogo: false});
    const config = inPlace ? () => kept : fresh;
    await Plotly.newPlot(gd, {...JSON.parse(specs[1]), config: config()});
    for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const f = JSON.parse(specs[i % 2]);
        await Plotly.react(gd, {data: f.data, layout: f.layout, frames: f.frames, config: config()});
        busy += performance.now() - t0;
        await new Promise(done => requestAnimationFrame(() => setTimeout(done, 30)));  // let it paint
    }
    Plotly.purge(gd);
    return busy / n;
}"""
REDRAWS = {"st.plotly_chart": False, "in place": True}  # how a changed chart is redrawn: the baseline, the app's



def projection_figure(points: int, classes: int, epochs: int, epoch: int, markers: str | None = None,
                      seed: int = 0) -> str:
    """The Collapse page's animated projection over ``epochs`` epochs (the last one ``epoch``), as JSON; with its
    markers turned into ``markers`` ("SVG" or "WebGL") when given, else as the app draws it."""
    rng = np.random.default_rng(seed + epoch)
    labels = np.arange(points) % classes
    centres = rng.normal(size=(classes, 2)) * 4
    colours = plots.palette(min(classes, 24))
    frames = range(epoch - epochs + 1, epoch + 1)
    fig = plots.animated_projection(
        list(frames), points=[centres[labels] + rng.normal(size=(points, 2)) for _ in frames],
        colour_index=[labels % len(colours) for _ in frames], colours=colours,
        predicted=[["✓ correct" if rng.random() < 0.8 else f"✗ class {rng.integers(classes)} (LCA height 2)"
                    for _ in range(points)] for _ in frames],
        paths=[f"true: group {y // 4} → class {y}" for y in labels], means=[centres for _ in frames],
        frame=[centres * 1.1 for _ in frames], class_names=[f"class {k}" for k in range(classes)],
        legend=[(f"group {g}", colours[g % len(colours)]) for g in range(min(classes, 24))],
        title=f"Penultimate features, epochs {frames[0]}–{epoch}", start=len(frames) - 1)
    spec = pio.to_json(fig, validate=False)
    return spec if markers is None else _with_markers(spec, MARKER_TYPES[markers])


MARKER_TYPES = {"SVG": "scatter", "WebGL": "scattergl"}


def _with_markers(spec: str, kind: str) -> str:
    """The same figure with its (and its frames') scatter traces of type ``kind``."""
    figure = json.loads(spec)
    for trace in figure["data"] + [t for frame in figure.get("frames", []) for t in frame["data"]]:
        if trace.get("type", "scatter") in MARKER_TYPES.values():
            trace["type"] = kind
    return json.dumps(figure, separators=(",", ":"))


def app_markers(spec: str) -> str:
    """Which markers the app draws this figure with: "SVG" or "WebGL"."""
    kind = json.loads(spec)["data"][0]["type"]
    return next(name for name, t in MARKER_TYPES.items() if t == kind)


def training_figure(epoch: int) -> str:
    """The Train page's four panels of curves over epochs 0…``epoch``."""
    rng = np.random.default_rng(epoch)
    keys = ["top1", "mistake_severity", "hdist@1", "hdist@5", "train_loss", "train_ce", "train_cos",
            "frame_dev_mean", "frame_dev_std"]
    rows = [{"epoch": e, **{k: float(rng.random()) for k in keys}} for e in range(epoch + 1)]
    return plots.training_panels(rows, [("Top-1", keys[:1]), ("Severity", keys[1:4]), ("Loss", keys[4:7]),
                                        ("Deviation", keys[7:])]).to_json()


def heatmap_figure(classes: int, epoch: int) -> str:
    """The Collapse page's class-mean cosine heatmap."""
    x = np.random.default_rng(epoch).normal(size=(classes, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return plots.cosine_heatmap(x @ x.T, [f"class {k}" for k in range(classes)], f"Class-mean cosines, epoch {epoch}"
                                ).to_json()


def cases(quick: bool) -> list[tuple[str, str, list[str]]]:
    """(figure, markers, [spec at epoch e − 1, spec at epoch e], markers the app uses) for every figure measured."""
    sizes = [(600, 12, 11, "synthetic defaults: 600 points, K = 12, 11 epochs")]
    if not quick:
        sizes += [(2500, 12, 16, "a 5,000-point snapshot: 2,500 drawn, 16 epochs"),
                  (2500, 1010, 16, "K = 1010: 2,500 points, 1,010 means and vectors, 16 epochs")]
    out = []
    for points, classes, epochs, name in sizes:
        app = app_markers(projection_figure(points, classes, 2, 2))
        for markers in ("WebGL", "SVG"):
            out.append((f"projection, {name}", markers,
                        [projection_figure(points, classes, epochs, e, markers) for e in (epochs, epochs + 1)], app))
    out.append(("training curves (Train page), 11 epochs", "SVG", [training_figure(e) for e in (10, 11)], "SVG"))
    out.append(("class-mean cosines, K = 12", "heatmap", [heatmap_figure(12, e) for e in (10, 11)], "heatmap"))
    return out


def browser_cpu_s() -> float:
    """CPU seconds used so far by every process under this one (Chromium and Playwright's driver)."""
    return sum((_task_cpu(Path(f"/proc/{pid}/stat")) or ("", 0.0))[1] for pid in _descendants(os.getpid()))


def measure(redraws: int, quick: bool) -> list[dict]:
    import plotly
    from playwright.sync_api import sync_playwright

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_content("<div id='plot' style='width: 1200px'></div>")
        page.add_script_tag(path=str(plotly_js))
        for figure, markers, specs, app in cases(quick):
            for redraw, in_place in REDRAWS.items():
                page.evaluate(REDRAW_JS, [specs, 1, in_place, live_chart.CONFIG])  # first draw: shaders, fonts
                before = browser_cpu_s()
                js_ms = page.evaluate(REDRAW_JS, [specs, redraws, in_place, live_chart.CONFIG])
                page.wait_for_timeout(200)  # the compositor's last frames
                rows.append({"figure": figure, "markers": markers, "redraw": redraw,
                             "app": "←" if markers == app and in_place else "", "kib": len(specs[1]) / 1024,
                             "js_ms": js_ms, "cpu_ms": (browser_cpu_s() - before) / redraws * 1000})
        browser.close()
    for row in rows:
        base = next(r for r in rows if r["figure"] == row["figure"] and r["markers"] == row["markers"]
                    and r["redraw"] == "st.plotly_chart")
        row["ratio"] = row["cpu_ms"] / base["cpu_ms"]
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redraws", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 redraws of small figures (the test suite runs this)")
    args = parser.parse_args(argv)
    rows = measure(2 if args.quick else args.redraws, args.quick)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (CPU figures are noisy when it is high)\n")
    print("Browser CPU and main-thread JavaScript per redraw (ratio: against the same figure redrawn as "
          "st.plotly_chart does; ← what the app draws)")
    print(render_table([Column("figure", "<72", "figure"), Column("markers", "<8", "markers"),
                        Column("redraw", "<15", "redraw"), Column("app", "<3", "app"),
                        Column("KiB", ">6", "kib", ".0f"), Column("JS ms", ">7", "js_ms", ".0f"),
                        Column("CPU ms", ">7", "cpu_ms", ".0f"), Column("ratio", ">6", "ratio", ".2f")], rows))
    print(json.dumps({"redraws": 2 if args.quick else args.redraws, "load": os.getloadavg()[0]}))
    return rows


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.0f} s)")
