"""app/plots.py: the animated projection's marker kind follows the number of markers it draws; curves over epochs
mark their points only while they are few."""
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
        kinds = {t["type"] for t in fig["data"]} | {t["type"] for frame in fig["frames"] for t in frame["data"]}
        assert kinds == {kind}, (points, classes, kinds)


def test_the_unvalidated_projection_is_what_plotly_validates_it_to():
    """animated_projection is a plain dict (plotly's validation was most of a live page run's CPU): plotly must
    accept it, property for property, and serialise it as it is (key order aside)."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    for points, classes in ((600, 12), (2500, 1010)):
        fig = projection(points, classes)
        validated = go.Figure(fig)  # raises on an invalid property or value
        assert len(validated.frames) == len(fig["frames"]) == 2
        drawn = json.loads(validated.to_json())
        drawn["layout"].pop("template")  # plotly's default, which the app replaces (app/live_chart.figure_spec)
        assert drawn == json.loads(pio.to_json(fig, validate=False))


def test_curves_mark_their_points_only_while_they_are_few():
    """Every marker is an SVG element that a live page redraws per epoch: curves of MARKED_POINTS epochs or more are
    plain lines (the Train, Collapse and Compare pages' curves), shorter ones mark each epoch (a lone epoch 0 shows)."""
    def rows(epochs):
        return [{"epoch": e, "top1": 50.0 + e, "train_loss": 1.0 / (e + 1)} for e in range(epochs)]

    few, many = plots.MARKED_POINTS - 1, plots.MARKED_POINTS
    for epochs, mode in ((1, "lines+markers"), (few, "lines+markers"), (many, "lines"), (200, "lines")):
        curves = plots.metric_curves(rows(epochs), ["top1", "train_loss"], "t")
        panels = plots.training_panels(rows(epochs), [("Top-1", ["top1"]), ("Loss", ["train_loss"])])
        compared = plots.compare_curves({"a": rows(epochs), "b": rows(epochs)}, "top1")
        band = plots.band_curves([{"name": "a", "epochs": list(range(epochs)), "mean": [1.0] * epochs,
                                   "low": [0.5] * epochs, "high": [1.5] * epochs}], "top1", "t")
        modes = {t.mode for fig in (curves, panels, compared) for t in fig.data} | {band.data[1].mode}
        assert modes == {mode}, (epochs, modes)
    # A curve with gaps (a metric missing at some epochs) is marked by the points it draws.
    gappy = [{"epoch": e, **({"top1": 1.0} if e % 4 == 0 else {})} for e in range(60)]
    assert plots.metric_curves(gappy, ["top1"], "t").data[0].mode == "lines+markers"
