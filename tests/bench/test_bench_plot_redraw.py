"""bench/bench_plot_redraw.py --quick re-creates the live pages' figures in headless Chromium so the script cannot
rot: every figure comes back measured both ways (as st.plotly_chart redraws it, and in place as the app's live
charts do), the projection in both marker kinds. No timing assertions."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from bench import bench_plot_redraw

pytestmark = pytest.mark.timeout(600)


def test_quick_run_measures_every_figure(capsys):
    if shutil.which("chromium") is None:
        pytest.fail("the browser benchmark needs the system Chromium on PATH")
    rows = bench_plot_redraw.main(["--quick"])
    out = capsys.readouterr().out
    assert [(r["figure"].split(",")[0], r["markers"], r["redraw"]) for r in rows] == [
        (figure, markers, redraw) for figure, markers in [("projection", "WebGL"), ("projection", "SVG"),
                                                           ("training curves (Train page)", "SVG"),
                                                           ("class-mean cosines", "heatmap")]
        for redraw in ("st.plotly_chart", "in place")]
    assert all(r["js_ms"] > 0 and r["cpu_ms"] > 0 and r["kib"] > 1 for r in rows), rows
    assert all(r["ratio"] == 1 for r in rows[::2]) and not any(math.isnan(r["ratio"]) for r in rows[1::2]), \
        "in place against st.plotly_chart's way, same figure, same process"
    assert [r["app"] for r in rows] == ["", "", "", "←", "", "←", "", "←"], "600 points: the app draws SVG, in place"
    assert "load average" in out and "ratio" in out


def test_the_projection_is_the_same_figure_in_either_markers():
    svg, webgl = (json.loads(bench_plot_redraw.projection_figure(30, 3, 2, 2, markers)) for markers in ("SVG", "WebGL"))
    traces = [(t, u) for a, b in [(svg["data"], webgl["data"]), *((f["data"], g["data"]) for f, g in
                                                               zip(svg["frames"], webgl["frames"]))]
              for t, u in zip(a, b)]
    assert traces and all(t["type"] == "scatter" and u["type"] == "scattergl" for t, u in traces)
    assert len(svg["frames"]) == len(webgl["frames"]) == 2
