"""Plotly figure builders shared by the pages (pure functions: arrays in, figures out)."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

COSINE_SCALE = "RdBu_r"


def cosine_heatmap(matrix: np.ndarray, labels: list[str], title: str, zmin: float = -1.0, zmax: float = 1.0,
                   scale: str = COSINE_SCALE) -> go.Figure:
    """K×K heatmap of cosines; rows/columns labelled by class (pass them already in tree order)."""
    fig = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, zmin=zmin, zmax=zmax, colorscale=scale,
        hovertemplate="%{y} · %{x}<br>cos = %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed", showticklabels=len(labels) <= 40),
                      xaxis=dict(showticklabels=len(labels) <= 40))
    return fig


def distance_heatmap(distances: np.ndarray, labels: list[str]) -> go.Figure:
    fig = cosine_heatmap(distances, labels, "Hierarchical distance H − depth(LCA)", 0, float(distances.max()),
                         "Viridis")
    fig.update_traces(hovertemplate="%{y} · %{x}<br>d = %{z}<extra></extra>")
    return fig


def tree_sunburst(names: list[str], parents: list[str], labels: list[str]) -> go.Figure:
    """Sunburst of a tree given node names, parent names ('' for the root) and display labels."""
    fig = go.Figure(go.Sunburst(ids=names, parents=parents, labels=labels, branchvalues="remainder",
                                hovertemplate="%{label}<extra></extra>", maxdepth=4))
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=10, b=0))
    return fig


def projection_scatter(points: np.ndarray, colour: list[str], hover: list[str], title: str) -> go.Figure:
    """2-D scatter of projected features coloured by class or ancestor."""
    fig = px.scatter(x=points[:, 0], y=points[:, 1], color=colour, hover_name=hover, title=title,
                     labels={"x": "", "y": "", "color": ""}, render_mode="webgl")
    fig.update_traces(marker=dict(size=5, opacity=0.8))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
    return fig


def metric_curves(rows: list[dict], keys: list[str], title: str, series: str | None = None) -> go.Figure:
    """Lines of ``keys`` over epochs from metrics rows (optionally tagged with a ``series`` column)."""
    fig = go.Figure()
    for key in keys:
        xs = [r["epoch"] for r in rows if r.get(key) is not None]
        ys = [r[key] for r in rows if r.get(key) is not None]
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=f"{series} · {key}" if series else key)
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="epoch")
    return fig


def cosine_levels(levels: dict[str, dict[int, float]]) -> go.Figure:
    """Target cosine at each LCA distance, one line per frame."""
    fig = go.Figure()
    for name, by_distance in levels.items():
        fig.add_scatter(x=list(by_distance), y=list(by_distance.values()), mode="lines+markers", name=name)
    fig.update_layout(title="Target cosine by hierarchical distance", height=300, xaxis_title="distance d",
                      yaxis_title="cos", margin=dict(l=10, r=10, t=40, b=10))
    return fig
