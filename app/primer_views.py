"""Cached toy run and figures for the Primer page (arrays in, figures out)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app import plots
from core import Hierarchy
from core.data import synthetic_samples
from core.toy import ToyConfig, ToyRun, toy_run

# The four properties: (metric key of core.metrics.collapse_statistics, title, what falls/rises).
NC = {
    "nc1": ("NC1 · within-class variability", "tr(Σ_W Σ_B⁺)/K → 0"),
    "frame_dev_mean": ("NC2 · class means vs the frame", "mean |cos(μ_i, μ_j) − S_ij| → 0"),
    "self_duality": ("NC3 · classifier = class means", "‖W/‖W‖ − M/‖M‖‖ → 0"),
    "nc4_agreement": ("NC4 · nearest class mean", "% agreeing with the classifier → 100"),
}


@st.cache_data(max_entries=4, show_spinner="Training the toy model…")
def run(source: str, _hierarchy: Hierarchy, head: str, seed: int) -> ToyRun:
    return toy_run(_hierarchy, ToyConfig(head=head, seed=seed))


@st.cache_data(max_entries=4, show_spinner=False)
def samples(source: str, _hierarchy: Hierarchy, per_class: int = 2) -> np.ndarray:
    """(K, 1 + per_class, S, S, 3) uint8 synthetic images: each class's noise-free picture, then
    ``per_class`` images as the network sees them (the toy run's own generator and noise)."""
    clean = synthetic_samples(_hierarchy, per_class=1, image_size=32, noise=0.0)
    noisy = synthetic_samples(_hierarchy, per_class=per_class, image_size=32)
    return np.concatenate([clean, noisy], axis=1)


def curves_figure(result: ToyRun) -> go.Figure:
    """NC1–NC4 over the training steps, one panel each."""
    fig = make_subplots(rows=1, cols=4, subplot_titles=[title for title, _ in NC.values()], horizontal_spacing=0.06)
    for col, (key, (_, goal)) in enumerate(NC.items(), start=1):
        fig.add_scatter(x=result.steps, y=[row[key] for row in result.stats], mode="lines+markers", row=1, col=col,
                        showlegend=False, hovertemplate=f"step %{{x}}<br>{key} = %{{y:.4g}}<extra></extra>",
                        line=dict(color=plots.palette(4)[col - 1]))
        fig.update_xaxes(title_text=goal, title_font=dict(size=11), row=1, col=col)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=13)
    return fig


def features_figure(result: ToyRun, names: list[str]) -> go.Figure:
    """Training features before and after, projected on the final class means' top 2 principal axes."""
    last = result.features["last"]
    centre = result.means.mean(0)
    _, _, vt = np.linalg.svd(result.means - centre, full_matrices=False)
    axes = vt[:2].T
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"step {result.steps[0]} (random network)",
                                                         f"step {result.steps[-1]} (collapsed)"])
    colours = plots.palette(len(names))
    for col, feats in enumerate((result.features["first"], last), start=1):
        xy = (feats - feats.mean(0)) @ axes
        for c, name in enumerate(names):
            sel = result.labels == c
            fig.add_scatter(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=name, legendgroup=name,
                            showlegend=col == 2, marker=dict(size=5, color=colours[c % len(colours)], opacity=0.75),
                            row=1, col=col, hovertemplate=f"{name}<extra></extra>")
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
    return fig


def means_figure(result: ToyRun, names: list[str], order: np.ndarray) -> go.Figure:
    """Cosines of the learned class means next to the frame's targets (tree order)."""
    means = result.means / np.linalg.norm(result.means, axis=1, keepdims=True)
    learned = (means @ means.T)[np.ix_(order, order)]
    target = result.frame.target[np.ix_(order, order)]
    labels = [names[i] for i in order]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["learned: cos(μ_i, μ_j)", "the frame's targets S"],
                        horizontal_spacing=0.12)
    for col, matrix in enumerate((learned, target), start=1):
        fig.add_heatmap(z=matrix, x=labels, y=labels, zmin=-1, zmax=1, colorscale=plots.COSINE_SCALE, row=1, col=col,
                        showscale=col == 2, hovertemplate="%{y} · %{x}<br>cos = %{z:.3f}<extra></extra>")
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(showticklabels=False, row=1, col=2)  # same classes as the left panel
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
    return fig
