"""app/plots.py: the animated projection's marker kind follows the number of markers it draws."""
from __future__ import annotations

import numpy as np

from app import plots


def projection(points: int, classes: int):
    rng = np.random.default_rng(0)
    labels = np.arange(points) % classes
    means = rng.normal(size=(classes, 2))
    return plots.animated_projection(
        [0, 1], points=[rng.normal(size=(points, 2)) for _ in range(2)], colour_index=[labels % 3] * 2,
        colours=["#111111", "#222222", "#333333"], predicted=[["✓ correct"] * points] * 2,
        paths=["true: a → b"] * points, means=[means] * 2, frame=[means] * 2,
        class_names=[f"c{k}" for k in range(classes)], legend=[("a", "#111111")], title="t", start=1)


def test_svg_markers_up_to_the_limit_then_webgl_in_every_trace_and_frame():
    for points, classes, kind in ((600, 12, "scatter"), (plots.SVG_MAX_MARKERS - 24, 12, "scatter"),
                                  (plots.SVG_MAX_MARKERS - 23, 12, "scattergl"), (2500, 1010, "scattergl")):
        fig = projection(points, classes)
        kinds = {t.type for t in fig.data} | {t.type for frame in fig.frames for t in frame.data}
        assert kinds == {kind}, (points, classes, kinds)
