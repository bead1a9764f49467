"""Plotly charts that a live page redraws in place: one ``Plotly.react`` per change, never a re-creation.

``st.plotly_chart`` hands plotly.js a new config object with every changed figure (its fullscreen button is a new
closure), so plotly answers each change with a full ``newPlot``: on a page following a training every changed
chart is torn down and built again, in the viewer's browser, on the cores the training uses. This component keeps
one plotly.js graph per chart and one config for its lifetime, so a new figure is diffed into the graph that is
there (``python bench/bench_plot_redraw.py``: 1.3–3.3× less browser CPU per redraw for the live pages' charts).
A constant ``layout.uirevision`` keeps the viewer's legend clicks and zoom across updates (plotly lets an update
win where it changes the same attribute, e.g. axis ranges that grow with the epochs).

A chart is redrawn only where the viewer can see it: a new figure for a chart scrolled out of view, or in a
browser tab in the background, is kept and drawn (the newest only) when the chart comes into view. The first
figure is always drawn, so the page has its layout. On the Collapse page the statistics curves below the fold
cost the browser nothing while the viewer watches the projection (Chromium on the training's two cores following
a run: 0.153 → 0.148 core, 45 s per round over three rounds; within the noise, which is ±0.02).

plotly.js itself comes from the installed plotly package (the version its figures are written for), copied into
``app/static/`` and served by Streamlit's static file serving (``server.enableStaticServing`` in
``.streamlit/config.toml``); it is loaded once per browser page. Figures get the look of Streamlit's own charts
(``app/plotly_theme.json``: Streamlit 1.67's light Plotly theme as its frontend resolves it).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
from streamlit import config

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_JS = "plotly.min.js"
THEME = json.loads((Path(__file__).parent / "plotly_theme.json").read_text())
THEME["layout"]["title"]["font"]["weight"] = 700  # Streamlit's frontend bolds titles by wrapping them in <b>
for _axis in ("xaxis", "yaxis"):
    # Draw tick labels as they are, instead of plotly's default for linear axes of measuring every label at every
    # redraw to hide those that would stick out of the chart (none does: the live figures size their margins). Per
    # redraw in place, Chromium CPU: Train's curves 101 → 88 ms, a K = 12 cosine heatmap 40 → 29 ms.
    THEME["layout"].setdefault(_axis, {})["ticklabeloverflow"] = "allow"
CONFIG = {"displaylogo": False, "responsive": True}  # one object for a graph's lifetime: react, never newPlot

JS = """
const CONFIG = %s;

function loadPlotly(src) {  // one <script> per browser page, shared by every chart
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!window.__hafsPlotly) {
        window.__hafsPlotly = new Promise((resolve, reject) => {
            const script = document.createElement('script');
            script.src = src;
            script.onload = () => resolve(window.Plotly);
            script.onerror = () => { window.__hafsPlotly = null; reject(new Error('plotly.js not found at ' + src)); };
            document.head.appendChild(script);
        });
    }
    return window.__hafsPlotly;
}

// Graphs holding a figure they have not drawn yet (off screen, or in a hidden tab): one set per browser page.
const waiting = window.__hafsWaiting = window.__hafsWaiting || new Set();

function inView(graph) { return graph.hafsOnScreen && !document.hidden; }

function draw(graph) {  // the newest figure the graph was given; those it skipped are never drawn
    const data = graph.hafsNext;
    if (!data) return;
    graph.hafsNext = null;
    waiting.delete(graph);
    const turn = graph.hafsTurn = (graph.hafsTurn || 0) + 1;  // while plotly.js loads, only the newest is drawn
    loadPlotly(data.src).then(Plotly => {
        if (graph.hafsTurn !== turn) return;
        const figure = JSON.parse(data.figure);
        return Plotly.react(graph, {data: figure.data, layout: figure.layout, frames: figure.frames || [],
                                    config: CONFIG});
    }).catch(error => {
        graph.textContent = 'This chart could not be drawn: ' + error.message +
            ' (the app needs server.enableStaticServing = true; see .streamlit/config.toml)';
    });
}

if (!window.__hafsVisibility) {  // a tab coming back to the front draws what changed while it was hidden
    window.__hafsVisibility = true;
    document.addEventListener('visibilitychange', () => {
        for (const graph of [...waiting]) if (inView(graph)) draw(graph);
    });
}

export default function ({parentElement, data}) {
    let graph = parentElement.querySelector('.hafs-chart');
    if (!graph) {
        graph = document.createElement('div');
        graph.className = 'hafs-chart';
        parentElement.appendChild(graph);
    }
    const first = !graph.hafsObserver;
    if (first) {  // from now on the graph knows whether any of it is on screen
        graph.hafsObserver = new IntersectionObserver(entries => {
            graph.hafsOnScreen = entries[entries.length - 1].isIntersecting;
            if (inView(graph)) draw(graph);
        });
        graph.hafsObserver.observe(graph);
    }
    graph.hafsNext = data;
    waiting.add(graph);
    if (first || inView(graph)) draw(graph);  // the first figure always: the page keeps its layout
    return () => {
        waiting.delete(graph);
        graph.hafsObserver.disconnect();
        graph.hafsObserver = null;
        if (window.Plotly) window.Plotly.purge(graph);
    };
}
""" % json.dumps(CONFIG)


@functools.cache
def _component():
    install_plotly_js()
    return st.components.v2.component("hafs_live_chart", js=JS, isolate_styles=False)


def install_plotly_js() -> Path:
    """Copy the installed plotly package's plotly.min.js into ``app/static/`` (once; again after an upgrade)."""
    source = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    target = STATIC_DIR / PLOTLY_JS
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        STATIC_DIR.mkdir(exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(source, partial)
        os.replace(partial, target)  # a browser never gets half a file
    return target


def static_serving() -> bool:
    """Whether this server serves ``app/static/`` (where plotly.js is)."""
    return bool(config.get_option("server.enableStaticServing"))


def plotly_src() -> str:
    """The URL the browser loads plotly.js from (under ``server.baseUrlPath`` when one is set)."""
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + "/".join(part for part in (base, "app", "static", PLOTLY_JS) if part)


def figure_spec(fig: go.Figure | dict, key: str) -> str:
    """``fig`` (a figure, or a figure dict as plotly.js takes it) as the JSON plotly.js draws: with Streamlit's
    chart look, and the chart's key as ``uirevision`` (the viewer's zoom and legend choices survive updates)."""
    spec = fig.to_dict() if isinstance(fig, go.Figure) else {**fig, "layout": dict(fig.get("layout", {}))}  # a copy
    layout = spec.setdefault("layout", {})
    layout["template"] = THEME  # the app's figures never choose a template of their own
    layout.setdefault("uirevision", key)
    return pio.to_json(spec, validate=False)


def live_chart(fig: go.Figure | dict, *, key: str, container=None) -> None:
    """Draw ``fig`` where ``st.plotly_chart`` would (in ``container``, a column or other container, when given);
    drawn again under the same ``key`` it is updated in place. A server started without static file serving (not
    from the repository root, so without its .streamlit/config.toml) draws it with ``st.plotly_chart`` instead."""
    if not static_serving():
        (container or st).plotly_chart(fig, key=key)
        return
    data = {"figure": figure_spec(fig, key), "src": plotly_src()}
    if container is None:
        _component()(data=data, key=key)
    else:
        with container:
            _component()(data=data, key=key)
