"""app/live_chart.py: figures keep one chart identity across redraws, carry Streamlit's look, and plotly.js is
served from the installed plotly package."""
from __future__ import annotations

import json

import plotly
import plotly.graph_objects as go
from page_charts import chart_key, plotly_specs
from streamlit.testing.v1 import AppTest

from app import live_chart


def page(step: int) -> None:
    """An app page drawing one live chart whose figure changes with ``step``."""
    import plotly.graph_objects as go
    import streamlit as st

    from app.live_chart import live_chart

    left, _ = st.columns(2)
    live_chart(go.Figure(go.Scatter(x=[0, 1], y=[step, step + 1])).update_layout(title=f"step {step}"),
               key="curve", container=left)


def test_a_redrawn_figure_keeps_its_chart_and_reaches_it_whole():
    at = AppTest.from_function(page, args=(1,)).run()
    first = at.get("bidi_component")[0]
    at = AppTest.from_function(page, args=(2,)).run()
    second = at.get("bidi_component")[0]
    assert chart_key(first) == chart_key(second) == "curve"
    assert first.proto.id == second.proto.id, "one element: the browser updates its graph instead of replacing it"
    spec = plotly_specs(at)["curve"]
    assert spec["layout"]["title"]["text"] == "step 2" and spec["data"][0]["y"] == [2, 3]
    assert json.loads(second.proto.json)["src"].endswith("/app/static/plotly.min.js")


def test_figures_get_streamlits_look_and_keep_the_viewers_zoom():
    fig = go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])).update_layout(title="t")
    spec = json.loads(live_chart.figure_spec(fig, "means"))
    assert spec["layout"]["template"]["layout"]["font"]["family"].startswith('"Source Sans"')
    assert spec["layout"]["template"]["layout"]["title"]["font"]["weight"] == 700
    template_axes = [spec["layout"]["template"]["layout"][axis] for axis in ("xaxis", "yaxis")]
    assert all(a["ticklabeloverflow"] == "allow" for a in template_axes), "no per-label measuring at each redraw"
    assert spec["layout"]["uirevision"] == "means"
    assert not fig.layout.uirevision, "the caller's figure (possibly a cached one) is left as it was"
    own = json.loads(live_chart.figure_spec(fig.update_layout(uirevision="epoch 3"), "means"))
    assert own["layout"]["uirevision"] == "epoch 3"
    as_dict = {"data": [{"type": "heatmap", "z": [[0, 1], [1, 0]]}], "layout": {"title": {"text": "t"}}}
    spec = json.loads(live_chart.figure_spec(as_dict, "means"))  # a figure dict (the animated projection is one)
    assert spec["layout"]["uirevision"] == "means" and spec["layout"]["title"]["text"] == "t"
    assert as_dict["layout"] == {"title": {"text": "t"}}, "the caller's dict is left as it was"


def test_plotly_js_is_the_installed_packages_and_copied_once(tmp_path, monkeypatch):
    monkeypatch.setattr(live_chart, "STATIC_DIR", tmp_path / "static")
    target = live_chart.install_plotly_js()
    source = target.read_bytes()
    assert source.startswith(b"/**\n* plotly.js v") and len(source) > 1_000_000
    assert source == (live_chart.Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    stamp = target.stat().st_mtime_ns
    assert live_chart.install_plotly_js() == target and target.stat().st_mtime_ns == stamp, "not copied again"
    target.write_bytes(b"an older plotly.js")
    assert live_chart.install_plotly_js().read_bytes() == source, "replaced after an upgrade"
    assert [p.name for p in (tmp_path / "static").iterdir()] == ["plotly.min.js"], "no partial file left"


def test_plotly_js_is_found_under_the_servers_base_path(monkeypatch):
    options = {"server.baseUrlPath": "/studio/"}
    monkeypatch.setattr(live_chart.config, "get_option", options.get)
    assert live_chart.plotly_src() == "/studio/app/static/plotly.min.js"
    options["server.baseUrlPath"] = ""
    assert live_chart.plotly_src() == "/app/static/plotly.min.js"


def test_without_static_serving_the_chart_is_streamlits_own(monkeypatch):
    at = AppTest.from_function(page, args=(1,))
    at.run()
    assert at.get("bidi_component") and not at.get("plotly_chart")
    monkeypatch.setattr(live_chart, "static_serving", lambda: False)
    at = AppTest.from_function(page, args=(2,)).run()
    assert not at.get("bidi_component"), "plotly.js could not be loaded: no component that would say so"
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"] == [2, 3]
