"""Cached computations and plotly figures for the Frames page.

Cached helpers key on the hierarchy's ``source`` (a bundled name, or the path of a saved upload, whose
name is the upload's SHA-256 prefix, so it identifies the content) and take the Hierarchy itself as an
unhashed ``_hierarchy`` argument. Figure builders below them are plain functions: arrays in, figures out.

Heatmaps of up to ``HOVER_MAX_K`` classes are plotly cells whose hover names both classes and their
LCA. Larger ones are drawn as one PNG image (colour-mapped here with a 256-colour palette), so a
1010 × 1010 matrix travels as ~20 kB instead of a million JSON cells.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from plotly.colors import sample_colorscale

from app import plots
from core import Hierarchy, etf, haframe
from core.frames import Frame, coordinates_3d, cosines_by_distance, critical_min_similarity, min_eigenvalue_curve

HOVER_MAX_K = 200  # up to this many classes: plotly heatmap cells with names in the hover; beyond: an image
TICK_MAX_K = 24  # heatmaps label their rows/columns up to this many classes
IMAGE_MAX_PX = 1200  # a larger matrix is subsampled to at most this many pixels a side
LEGEND_MAX_GROUPS = 40  # the 3-D view lists groups in a legend up to this many; beyond, a colour scale
COSINE_SCALE = plots.COSINE_SCALE
DIFF_SCALE = "PuOr_r"
COLOURS = {"HAFrame": "#1f77b4", "ETF": "#ff7f0e"}
_CACHE = dict(max_entries=32, show_spinner=False)


# --------------------------------------------------------------------------- cached computations
@dataclass(frozen=True)
class TreeInfo:
    distances: np.ndarray  # (K, K) int, class-index order
    order: np.ndarray  # (K,) class indices in tree order
    labels: list[str]  # display names, tree order
    height: int
    groups: dict[int, int]  # level 1…H → number of ancestors (groups) at that level
    level_pairs: dict[int, tuple[int, int]]  # distance d → one class pair at that distance


@st.cache_data(**_CACHE)
def tree_info(source: str, _hierarchy: Hierarchy) -> TreeInfo:
    h = _hierarchy
    order = h.tree_order()
    groups = {lvl: len(set(h.ancestor_at(lvl))) for lvl in range(1, h.height + 1)}
    dist = h.distance_matrix()
    pairs = {int(d): divmod(int(np.argmax(dist == d)), len(dist)) for d in np.unique(dist) if d > 0}
    return TreeInfo(dist, order, [h.display(h.leaves[i]) for i in order], h.height, groups, pairs)


@st.cache_data(**_CACHE)
def m_star(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float) -> float:
    return critical_min_similarity(tree_info(source, _hierarchy).distances, gamma, mapping)


def frames(source: str, hierarchy: Hierarchy, mapping: str, gamma: float, min_similarity, dim: int,
           seed: int | None) -> tuple[Frame, Frame]:
    """(HAFrame, ETF) for the settings; raises FrameError (e.g. an infeasible m) with its message."""
    return (_haframe(source, hierarchy, mapping, gamma, min_similarity, dim, seed),
            _etf(hierarchy.num_classes, dim, seed))


@st.cache_data(max_entries=8, show_spinner=False)  # two K×K float arrays each (16 MB at K = d = 1010)
def _haframe(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, min_similarity, dim: int,
             seed: int | None) -> Frame:
    return haframe(tree_info(source, _hierarchy).distances, gamma, min_similarity, dim, seed, mapping)


@st.cache_data(max_entries=4, show_spinner=False)
def _etf(num_classes: int, dim: int, seed: int | None) -> Frame:
    return etf(num_classes, dim, seed)


def cosine_matrices(info: TreeInfo, target: np.ndarray) -> dict[str, np.ndarray]:
    """Target cosines in tree order: HAFrame (``target``, class-index order), ETF and their difference."""
    haf = target[np.ix_(info.order, info.order)]
    k = len(haf)
    simplex = np.full((k, k), -1.0 / (k - 1))
    np.fill_diagonal(simplex, 1.0)
    return {"haframe": haf, "etf": simplex, "difference": haf - simplex}


def colour_range(kind: str, matrix: np.ndarray) -> tuple[float, float]:
    if kind != "difference":
        return -1.0, 1.0
    top = max(float(np.abs(matrix).max()), 1e-9)
    return -top, top


def cosine_image(source: str, hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float,
                 target: np.ndarray) -> tuple[str, int]:
    """(PNG data URI, pixel step) of a tree-ordered cosine matrix; ``kind`` as in ``cosine_matrices``.

    Cached on the settings (mapping, γ, m), which determine ``target``, the HAFrame's S(m)."""
    if kind == "etf":  # the ETF does not depend on the settings: one image per hierarchy
        mapping, gamma, m = "exponential", 1.0, 0.0
    return _cosine_image(source, hierarchy, kind, mapping, gamma, m, target)


@st.cache_data(**_CACHE)
def _cosine_image(source: str, _hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float,
                  _target: np.ndarray) -> tuple[str, int]:
    matrix = cosine_matrices(tree_info(source, _hierarchy), _target)[kind]
    zmin, zmax = colour_range(kind, matrix)
    return matrix_png(matrix, zmin, zmax, DIFF_SCALE if kind == "difference" else COSINE_SCALE)


@st.cache_data(**_CACHE)
def hover_lca(source: str, _hierarchy: Hierarchy) -> np.ndarray:
    """(K, K) hover strings 'LCA name (d = …)' for every class pair, tree order."""
    h, info = _hierarchy, tree_info(source, _hierarchy)
    order = info.order
    lca = h.lca_matrix()[np.ix_(order, order)]
    dist = info.distances[np.ix_(order, order)]
    node_text = {n: h.display(h.names[n]) for n in np.unique(lca)}
    return np.array([[f"{node_text[n]} (d = {d})" for n, d in zip(row_n, row_d)] for row_n, row_d in zip(lca, dist)],
                    dtype=object)


def cosine_stats(source: str, hierarchy: Hierarchy, settings: tuple, haf: Frame, simplex: Frame
                 ) -> dict[str, dict[int, dict[str, float]]]:
    """Box statistics of the realised cosines W·Wᵀ at each LCA distance, per frame. ``settings`` =
    (mapping, γ, min_similarity, d, seed), which determine the frames."""
    dim, seed = settings[-2:]
    return {"HAFrame": _frame_stats(source, hierarchy, ("haframe", *settings), haf),
            "ETF": _frame_stats(source, hierarchy, ("etf", dim, seed), simplex)}


@st.cache_data(**_CACHE)
def _frame_stats(source: str, _hierarchy: Hierarchy, key: tuple, _frame: Frame) -> dict[int, dict[str, float]]:
    gram = _frame.weights @ _frame.weights.T
    return {d: _box(values) for d, values in cosines_by_distance(gram, tree_info(source, _hierarchy).distances).items()}


def _box(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [0, 25, 50, 75, 100])
    return dict(min=q[0], q1=q[1], median=q[2], q3=q[3], max=q[4], mean=float(values.mean()), n=len(values))


def target_levels(info: TreeInfo, target: np.ndarray) -> dict[str, dict[int, float]]:
    """s(d): the target cosine at each distance d (a function of d alone), HAFrame and ETF."""
    k = len(target)
    return {"HAFrame": {d: float(target[i, j]) for d, (i, j) in info.level_pairs.items()},
            "ETF": {d: -1.0 / (k - 1) for d in info.level_pairs}}


@st.cache_data(**_CACHE)
def spectral_views(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float, _target: np.ndarray):
    """Everything that needs S(m)'s eigendecomposition, from one ``eigh``: ({frame: eigenvalues ascending},
    (K, 3) HAFrame coordinates in class-index order, the share of ‖W‖² they keep, (m values, λ_min(S(m))))
    with the m values spanning m* and the chosen m. ``_target`` is S(m), fixed by (mapping, γ, m)."""
    target = _target
    k = len(target)
    eig = np.linalg.eigh(target)
    simplex = np.full(k, k / (k - 1))
    simplex[0] = 0.0  # the ETF's Gram matrix: eigenvalue 0 (the vectors sum to zero), K/(K−1) K−1 times
    coords, share = coordinates_3d(target, eig)
    star = m_star(source, _hierarchy, mapping, gamma)
    pad = max(0.05, 0.5 * abs(star))
    ms = np.linspace(max(-1.0, min(star - pad, m - 0.02)), min(0.99, max(star, m, 0.0) + pad), 81)
    return {"HAFrame": eig[0], "ETF": simplex}, coords, share, (ms, min_eigenvalue_curve(eig, m, ms))


# --------------------------------------------------------------------------- images
def colour_palette(scale: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours sampled evenly along a plotly colour scale."""
    colours = sample_colorscale(scale, np.linspace(0, 1, n))  # 'rgb(r, g, b)' strings
    return np.array([[int(float(v)) for v in re.findall(r"[\d.]+", c)[:3]] for c in colours], dtype=np.uint8)


_PALETTES: dict[str, bytes] = {}


def matrix_png(matrix: np.ndarray, zmin: float, zmax: float, scale: str) -> tuple[str, int]:
    """Colour-map a matrix into a palette PNG data URI; returns (URI, step) where step > 1 means every
    step-th row and column was kept (matrices over ``IMAGE_MAX_PX`` a side)."""
    step = max(1, -(-len(matrix) // IMAGE_MAX_PX))
    sub = matrix[::step, ::step]
    index = np.clip(np.rint((sub - zmin) / (zmax - zmin) * 255), 0, 255).astype(np.uint8)
    if scale not in _PALETTES:
        _PALETTES[scale] = colour_palette(scale).tobytes()
    image = Image.fromarray(index, mode="L").convert("P")
    image.putpalette(_PALETTES[scale])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), step


# --------------------------------------------------------------------------- figures
def heatmap_figure(title: str, labels: list[str], spans: list[tuple[int, int, str]], *, zmin: float, zmax: float,
                   scale: str, z: np.ndarray | None = None, lca: np.ndarray | None = None, value_name: str = "cos",
                   image: tuple[str, int] | None = None) -> go.Figure:
    """A tree-ordered K×K heatmap with the groups in ``spans`` outlined along the diagonal.

    Pass ``z`` and ``lca`` (hover strings from ``hover_lca``) for plotly cells on category axes (hover: both
    class names, their LCA, the value), or ``image`` (``matrix_png``'s result) for a picture on numeric axes
    whose hover gives tree-order positions only.
    """
    k = len(labels)
    fig = go.Figure()
    if image is None:
        names = _unique(labels)
        fig.add_heatmap(z=z, x=names, y=names, zmin=zmin, zmax=zmax, colorscale=scale, customdata=lca,
                        colorbar=dict(thickness=10),
                        hovertemplate=f"%{{y}} · %{{x}}<br>LCA: %{{customdata}}<br>{value_name} = %{{z:.4f}}"
                                      "<extra></extra>")
        fig.update_layout(shapes=[dict(type="rect", x0=a - 0.5, x1=b - 0.5, y0=a - 0.5, y1=b - 0.5, layer="above",
                                       line=dict(color="rgba(20,20,20,0.75)", width=1))
                                  for a, b, _ in spans if 1 < b - a < k])
        axis = dict(type="category", showticklabels=k <= TICK_MAX_K)
    else:
        uri, step = image
        fig.add_image(source=uri, x0=0, y0=0, dx=step, dy=step,
                      hovertemplate="row %{y} · column %{x}<extra>tree-order positions</extra>")
        fig.add_scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",  # the colour bar
                        marker=dict(color=[zmin], cmin=zmin, cmax=zmax, colorscale=scale, showscale=True,
                                    colorbar=dict(thickness=10)))
        outline = _outline(spans, k)
        if outline is not None:
            fig.add_trace(outline)
        axis = dict(showticklabels=False)
    axis.update(range=[-0.5, k - 0.5], showgrid=False, zeroline=False, ticks="", constrain="domain")
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=340, margin=dict(l=4, r=4, t=30, b=4),
                      showlegend=False, xaxis=dict(axis, tickangle=-60),
                      yaxis=dict(axis, range=[k - 0.5, -0.5], scaleanchor="x", scaleratio=1))
    return fig


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct for a category axis: a repeated name gets invisible zero-width spaces."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        out.append(label + "\u200b" * seen.get(label, 0))
        seen[label] = seen.get(label, 0) + 1
    return out


def _outline(spans: list[tuple[int, int, str]], k: int) -> go.Scatter | None:
    """One line trace drawing a square around each diagonal block (groups of more than one class)."""
    xs, ys = [], []
    for start, stop, _ in spans:
        if stop - start < 2 or stop - start == k:
            continue
        a, b = start - 0.5, stop - 0.5
        xs += [a, b, b, a, a, None]
        ys += [a, a, b, b, a, None]
    if not xs:
        return None
    return go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(20,20,20,0.75)", width=1), hoverinfo="skip",
                      showlegend=False)


def distance_figure(stats: dict[str, dict[int, dict[str, float]]], levels: dict[str, dict[int, float]]) -> go.Figure:
    """Box of the realised cosines at each LCA distance (both frames) and the target line s(d)."""
    fig = go.Figure()
    for name, by_d in stats.items():
        ds = list(by_d)
        col = lambda key: [by_d[d][key] for d in ds]  # noqa: E731
        fig.add_box(x=ds, q1=col("q1"), median=col("median"), q3=col("q3"), lowerfence=col("min"),
                    upperfence=col("max"), mean=col("mean"), name=f"{name} pairs", marker_color=COLOURS[name],
                    offsetgroup=name)
    for name, by_d in levels.items():
        fig.add_scatter(x=list(by_d), y=list(by_d.values()), mode="lines+markers", name=f"{name} s(d)",
                        line=dict(color=COLOURS[name], dash="dot"),
                        hovertemplate="d = %{x}<br>s(d) = %{y:.4f}<extra>" + name + "</extra>")
    fig.update_layout(title="Cosine by LCA distance", height=380, boxmode="group",
                      xaxis=dict(title="hierarchical distance d", dtick=1), yaxis=dict(title="cosine"),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def spectrum_figure(values: dict[str, np.ndarray], floor: float = 1e-6) -> go.Figure:
    """Eigenvalues (ascending) of both frames' targets on a log axis; values below ``floor`` (the zero at
    m = m*, the ETF's zero) are drawn at ``floor`` and hover shows the true value."""
    fig = go.Figure()
    for name, eig in values.items():
        fig.add_scatter(x=np.arange(1, len(eig) + 1), y=np.maximum(eig, floor), customdata=eig, name=name,
                        mode="lines+markers" if len(eig) <= 120 else "lines", line=dict(color=COLOURS[name]),
                        hovertemplate="#%{x}: λ = %{customdata:.4g}<extra>" + name + "</extra>")
    fig.add_annotation(text=f"values below {floor:g} (zeros) drawn at {floor:g}", xref="paper", yref="paper", x=1,
                       y=0.02, showarrow=False, font=dict(size=10, color="grey"), xanchor="right")
    fig.update_layout(title="Spectrum of S (eigenvalues, ascending)", height=360, xaxis_title="index",
                      yaxis=dict(title="eigenvalue (log scale)", type="log", exponentformat="power"),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def feasibility_figure(ms: np.ndarray, lam: np.ndarray, star: float, m: float) -> go.Figure:
    fig = go.Figure()
    fig.add_vrect(x0=float(ms[0]), x1=star, fillcolor="red", opacity=0.08, line_width=0)
    fig.add_scatter(x=ms, y=lam, mode="lines", name="λ_min(S(m))", line=dict(color=COLOURS["HAFrame"]),
                    hovertemplate="m = %{x:.4f}<br>λ_min = %{y:.4g}<extra></extra>")
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.add_vline(x=star, line=dict(color="red", dash="dash"), annotation_text=f"m* = {star:.4f}",
                  annotation_position="top left")
    fig.add_vline(x=m, line=dict(color="black", width=1.5), annotation_text=f"m = {m:.4f}",
                  annotation_position="bottom right")
    top = max(float(lam.max()), 1e-3)  # clip the plunge left of m* so the crossing stays visible
    fig.update_layout(title="Feasibility: smallest eigenvalue of S(m)", height=360, xaxis_title="min similarity m",
                      yaxis=dict(title="λ_min", range=[-1.5 * top, 1.15 * top]), showlegend=False,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def frame_3d_figure(coords: np.ndarray, names: list[str], groups: list[str], title: str) -> go.Figure:
    """Scatter of frame vectors in 3-D, coloured by group (legend for few groups, a colour scale else)."""
    fig = go.Figure()
    k = len(coords)
    if k <= 40:  # draw the vectors themselves as spokes from the origin
        spokes = np.full((3 * k, 3), np.nan)
        spokes[1::3] = coords
        spokes[0::3] = 0.0
        fig.add_scatter3d(x=spokes[:, 0], y=spokes[:, 1], z=spokes[:, 2], mode="lines", hoverinfo="skip",
                          line=dict(color="rgba(120,120,120,0.5)", width=2), showlegend=False)
    unique = list(dict.fromkeys(groups))
    group_arr = np.array(groups, dtype=object)
    if len(unique) <= LEGEND_MAX_GROUPS:
        palette = plots.palette(len(unique))
        for n, g in enumerate(unique):
            sel = group_arr == g
            fig.add_scatter3d(x=coords[sel, 0], y=coords[sel, 1], z=coords[sel, 2], mode="markers", name=g,
                              text=[c for c, s in zip(names, sel) if s],
                              marker=dict(size=4 if k > 100 else 6, color=palette[n % len(palette)]),
                              hovertemplate="%{text}<extra>" + g + "</extra>")
    else:
        code = np.array([unique.index(g) for g in groups])
        fig.add_scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers", showlegend=False,
                          text=[f"{n} · {g}" for n, g in zip(names, groups)], hovertemplate="%{text}<extra></extra>",
                          marker=dict(size=3, color=code, colorscale="Turbo"))
    r = float(np.abs(coords).max()) * 1.1 or 1.0
    axis = dict(range=[-r, r], showbackground=False, title="")
    fig.update_layout(title=title, height=520, margin=dict(l=0, r=0, t=40, b=0),
                      scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"),
                      legend=dict(itemsizing="constant"))
    return fig


def figure_html(fig: go.Figure) -> str:
    """A standalone HTML page of a figure (plotly.js from its CDN)."""
    return fig.to_html(include_plotlyjs="cdn", full_html=True)


def tag(source: str) -> str:
    """A short stable id of a hierarchy source, for widget keys."""
    return hashlib.sha1(source.encode()).hexdigest()[:8]


def slug(text: str) -> str:
    """A file-name-safe short form of a hierarchy name (a trailing parenthetical dropped)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", re.sub(r"\s*\(.*", "", text)).strip("_")[:40] or "hierarchy"
