"""Cached computations and plotly figures for the Frames page.

Cached helpers key on the hierarchy's ``source`` (a bundled name, or the path of a saved upload, whose
name is the upload's SHA-256 prefix, so it identifies the content) and take the Hierarchy itself as an
unhashed ``_hierarchy`` argument. Figure builders below them are plain functions: arrays in, figures out.

Heatmaps of up to ``HOVER_MAX_K`` classes are plotly cells whose hover names both classes and their
LCA. Larger ones are one PNG picture (``heatmap_png``: 256-colour palette, groups outlined, a colour bar),
so a 1010 × 1010 matrix travels as ~20 kB instead of a million JSON cells and a γ change costs the browser
an image decode, not a plotly layout. Every such matrix takes one value per LCA distance, so a γ change is a
uint8 gather of the cached tree-order distances (``tree_order_distances``). Other pages draw their large
matrices as plotly image traces (``heatmap_figure(image=…)``).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import re
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import sample_colorscale

from app import plots
from core import Hierarchy, etf, haframe
from core.frames import Frame, cosines_by_distance, critical_min_similarity, export_frame, resolve_min_similarity
from core.ultrametric import TreeDistances, tree_min_eigenvalue_curve, tree_spectrum, tree_top_eigenvectors

HOVER_MAX_K = 200  # up to this many classes: plotly heatmap cells with names in the hover; beyond: an image
CELL_TEXT_MAX_K = 16  # up to this many classes the heatmap cells can print their values
CELL_TEXT_MIN_PX = 40  # …when a cell is at least this tall (the presenter layout's cells are)
BUILD_MAX_K = 300  # up to this many classes the page builds both frames to show their realised cosines (a γ change
# at K = 1010 then redraws without an O(K³) Gram matrix; the download still builds the exact frame)
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
    tree: TreeDistances  # the distances in O(nodes) form: no K×K matrix (K = 10,000 stays light)
    order: np.ndarray  # (K,) class indices in tree order
    labels: list[str]  # display names, tree order
    height: int
    groups: dict[int, int]  # level 1…H → number of ancestors (groups) at that level
    levels: list[int]  # the distances d > 0 that occur between classes

    def s_of_d(self, gamma: float, mapping: str, m: float) -> dict[int, float]:
        """Target cosine s(d) at each occurring distance."""
        dmax = max(self.levels)
        x = np.array(self.levels) / dmax
        e = np.exp(-gamma * x) if mapping == "exponential" else 1.0 - x
        return dict(zip(self.levels, ((1.0 - m) * e + m).tolist()))


@st.cache_resource(max_entries=8, show_spinner=False)
def tree_info(source: str, _hierarchy: Hierarchy) -> TreeInfo:
    h = _hierarchy
    tree = TreeDistances.from_hierarchy(h)
    order = h.tree_order()
    groups = {lvl: len(set(h.ancestor_at(lvl))) for lvl in range(1, h.height + 1)}
    branching = np.bincount(tree.parent[1:], minlength=len(tree.parent)) > 1
    levels = sorted({int(d) for d in tree.level[branching]})
    return TreeInfo(tree, order, [h.display(h.leaves[i]) for i in order], h.height, groups, levels)


@st.cache_data(**_CACHE)
def m_star(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float) -> float:
    return critical_min_similarity(tree_info(source, _hierarchy).tree, gamma, mapping)


OVERLAY_GAMMAS = (0.5, 1.0, 2.0, 5.0, 10.0)


@st.cache_data(**_CACHE)
def gamma_curves(source: str, _hierarchy: Hierarchy, gammas: tuple[float, ...]) -> dict[float, dict[int, float]]:
    """s(d) of the exponential mapping for each γ, each at its own m* (what "exact" would build)."""
    info = tree_info(source, _hierarchy)
    return {g: info.s_of_d(g, "exponential", m_star(source, _hierarchy, "exponential", g)) for g in gammas}


def default_exact_classes(info: TreeInfo, spans: list[tuple[int, int, str]]) -> list[int]:
    """Class indices for the exact view: two neighbours in tree order and one from another branch."""
    positions = [0, 1] + ([spans[1][0]] if len(spans) > 1 else [2] if len(info.order) > 2 else [])
    return [int(info.order[p]) for p in positions]


def resolve_m(source: str, hierarchy: Hierarchy, mapping: str, gamma: float, min_similarity) -> float:
    """m for the settings; raises FrameError (e.g. an infeasible m) with its message."""
    return resolve_min_similarity(tree_info(source, hierarchy).tree, min_similarity, gamma, mapping)


@st.cache_resource(max_entries=2, show_spinner="Building the frame…")  # K×d arrays: kept, never copied
def haframe_of(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float, dim: int,
               seed: int | None) -> Frame:
    return haframe(tree_info(source, _hierarchy).tree, gamma, m, dim, seed, mapping)


@st.cache_resource(max_entries=2, show_spinner=False)
def etf_of(num_classes: int, dim: int, seed: int | None) -> Frame:
    return etf(num_classes, dim, seed)


def export_haframe(source: str, hierarchy: Hierarchy, settings: tuple, fmt: str) -> bytes:
    """The HAFrame file, built on the download click (``settings`` = mapping, γ, m, d, seed)."""
    return export_frame(haframe_of(source, hierarchy, *settings), fmt, hierarchy.leaves)


@st.cache_resource(max_entries=4, show_spinner=False)  # γ-independent: computed once per hierarchy, never copied
def tree_order_distances(source: str, _hierarchy: Hierarchy, step: int = 1) -> np.ndarray:
    """(n, n) LCA distances between every ``step``-th tree position (n = ⌈K/step⌉), from the tree; the
    smallest unsigned dtype that holds the tree's height (uint8: 1 MB at K = 1010)."""
    info = tree_info(source, _hierarchy)
    positions = np.arange(0, len(info.order), step)
    dtype = np.uint8 if info.tree.max_level < 256 else np.uint16 if info.tree.max_level < 65536 else np.int64
    return info.tree.distances_between(positions, positions).astype(dtype)


def kind_values(info: TreeInfo, kind: str, mapping: str, gamma: float, m: float) -> np.ndarray:
    """(D_max + 1,) the value of a heatmap ``kind`` (haframe, etf, difference) between two classes at each LCA
    distance d (index 0: a class with itself) — every tree-ordered matrix of the page is this table
    gathered at the pairs' distances."""
    k = len(info.order)
    s = info.s_of_d(gamma, mapping, m)
    haf = np.array([1.0] + [s.get(d, 0.0) for d in range(1, max(info.levels) + 1)])
    simplex = np.full(len(haf), -1.0 / (k - 1))
    simplex[0] = 1.0
    return {"haframe": haf, "etf": simplex, "difference": haf - simplex}[kind]


def cosine_matrices(source: str, hierarchy: Hierarchy, mapping: str, gamma: float, m: float,
                    step: int = 1) -> dict[str, np.ndarray]:
    """Target cosines in tree order (every ``step``-th class): HAFrame, ETF and their difference."""
    info, dist = tree_info(source, hierarchy), tree_order_distances(source, hierarchy, step)
    return {kind: kind_values(info, kind, mapping, gamma, m)[dist] for kind in ("haframe", "etf", "difference")}


def colour_range(kind: str, matrix: np.ndarray, fitted: bool = False) -> tuple[float, float]:
    """(zmin, zmax) of a square matrix's colours, from its off-diagonal values (see ``value_range``)."""
    off = matrix[~np.eye(len(matrix), dtype=bool)] if len(matrix) > 1 else matrix.ravel()
    return value_range(kind, off, fitted)


def value_range(kind: str, off: np.ndarray, fitted: bool = False) -> tuple[float, float]:
    """(zmin, zmax): −1…1 for cosines (``fitted``: the off-diagonal values' own range, where the tree's
    structure lives), symmetric around 0 for differences; ``off`` holds the off-diagonal values."""
    if kind == "difference":
        top = max(float(np.abs(off).max()), 1e-9)
        return -top, top
    if not fitted:
        return -1.0, 1.0
    low, high = float(off.min()), float(off.max())
    if high - low < 1e-9:  # all off-diagonal cosines equal (the ETF): centre a small window on them
        return low - 0.05, high + 0.05
    return low, high


def image_step(k: int) -> int:
    return max(1, -(-k // IMAGE_MAX_PX))


@st.cache_data(**_CACHE)
def cosine_image(source: str, _hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float,
                 fitted: bool) -> tuple[tuple[str, int], tuple[float, float]]:
    """((PNG data URI, pixel step), colour range) of a tree-ordered cosine matrix; ``kind`` as in
    ``cosine_matrices``, drawn at ≤ IMAGE_MAX_PX pixels a side straight from the tree.

    The matrix takes one value per LCA distance, so each distance gets its colour index once and the image is
    one uint8 gather of the cached distances (no K×K float matrix per γ)."""
    index, step, zrange = cosine_index(source, _hierarchy, kind, mapping, gamma, m, fitted)
    return (index_png(index, DIFF_SCALE if kind == "difference" else COSINE_SCALE), step), zrange


def cosine_index(source: str, hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float, fitted: bool
                 ) -> tuple[np.ndarray, int, tuple[float, float]]:
    """(palette indices (n, n) uint8 of every step-th tree position, step, colour range) of a heatmap ``kind``."""
    info, step = tree_info(source, hierarchy), image_step(hierarchy.num_classes)
    values = kind_values(info, kind, mapping, gamma, m)
    zmin, zmax = value_range(kind, values[info.levels], fitted)
    return colour_index(values, zmin, zmax)[tree_order_distances(source, hierarchy, step)], step, (zmin, zmax)


HEATMAP_TITLES = {"haframe": "HAFrame", "etf": "Simplex ETF", "difference": "HAFrame − ETF"}


@st.cache_resource(max_entries=24, show_spinner=False)  # built once per setting (plotly's validation is the slow
def heatmap_of(source: str, _hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float, fitted: bool,
               outline: int, height: int, cells: bool) -> go.Figure:  # part); returned figures are never changed
    """One of the page's three heatmaps (``kind`` as in ``cosine_matrices``): plotly cells with the class
    names and LCA in the hover up to HOVER_MAX_K classes, a PNG image beyond; groups of level ``outline``
    outlined (0: none); ``height`` in pixels."""
    info, k = tree_info(source, _hierarchy), _hierarchy.num_classes
    spans = _hierarchy.group_spans(outline) if outline else []
    scale = DIFF_SCALE if kind == "difference" else COSINE_SCALE
    if k <= HOVER_MAX_K:
        z = cosine_matrices(source, _hierarchy, mapping, gamma, m)[kind]
        zmin, zmax = colour_range(kind, z, fitted)
        return heatmap_figure(HEATMAP_TITLES[kind], info.labels, spans, zmin=zmin, zmax=zmax, scale=scale, z=z,
                              lca=hover_lca(source, _hierarchy), height=height, cell_text=cells and k <= CELL_TEXT_MAX_K,
                              value_name="difference" if kind == "difference" else "cos")
    image, (zmin, zmax) = cosine_image(source, _hierarchy, kind, mapping, gamma, m, fitted)
    return heatmap_figure(HEATMAP_TITLES[kind], info.labels, spans, zmin=zmin, zmax=zmax, scale=scale, image=image,
                          height=height)


@st.cache_data(**_CACHE)
def heatmap_png(source: str, _hierarchy: Hierarchy, kind: str, mapping: str, gamma: float, m: float, fitted: bool,
                outline: int) -> bytes:
    """A large-K heatmap as one PNG picture (no plotly): the tree-ordered matrix at one pixel per class (every
    step-th class above IMAGE_MAX_PX), the groups of level ``outline`` outlined, a labelled colour bar at the right.
    The browser only decodes an image on a γ change, instead of plotly re-laying-out an image trace."""
    index, step, (zmin, zmax) = cosine_index(source, _hierarchy, kind, mapping, gamma, m, fitted)
    scale = DIFF_SCALE if kind == "difference" else COSINE_SCALE
    picture = Image.fromarray(colour_palette(scale)[index])
    spans = _hierarchy.group_spans(outline) if outline else []
    return compose_heatmap(picture, spans, step, _hierarchy.num_classes, zmin, zmax, scale)


def compose_heatmap(picture: Image.Image, spans: list[tuple[int, int, str]], step: int, k: int, zmin: float,
                    zmax: float, scale: str) -> bytes:
    """PNG bytes: ``picture`` (n×n pixels for every ``step``-th of K classes) with the ``spans`` blocks outlined on
    the diagonal and a colour bar (zmin…zmax, five labelled ticks) to its right."""
    n = picture.size[0]
    font = ImageFont.load_default(size=max(12, n // 45))
    bar_w, gap, label_w = max(14, n // 40), max(8, n // 80), font.getbbox("-0.0000")[2] + 8
    canvas = Image.new("RGB", (n + gap + bar_w + label_w, n), "white")
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for start, stop, _ in spans:
        if 1 < stop - start < k:
            a, b = start / step, stop / step - 1
            draw.rectangle([a, a, b, b], outline=(20, 20, 20), width=max(1, n // 600))
    gradient = colour_palette(scale)[::-1]  # top = zmax
    rows = np.linspace(0, len(gradient) - 1, n).astype(int)
    canvas.paste(Image.fromarray(np.repeat(gradient[rows][:, None, :], bar_w, axis=1)), (n + gap, 0))
    for t in np.linspace(0.0, 1.0, 5):
        y = min(n - 1, int(round((1.0 - t) * (n - 1))))
        draw.line([n + gap + bar_w, y, n + gap + bar_w + 4, y], fill=(60, 60, 60))
        anchor = "ls" if t == 0.0 else "lt" if t == 1.0 else "lm"
        draw.text((n + gap + bar_w + 6, y), f"{zmin + t * (zmax - zmin):.3f}", fill=(40, 40, 40), font=font,
                  anchor=anchor)  # ASCII minus: the default font has no U+2212
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


@st.cache_resource(max_entries=4, show_spinner=False)
def exact_subtrees(source: str, _hierarchy: Hierarchy) -> list[int]:
    """Inner nodes with 2–4 classes below them (the exact view's subtree choices)."""
    tree = tree_info(source, _hierarchy).tree
    size = tree.stop - tree.start
    inner = np.ones(_hierarchy.num_nodes, dtype=bool)
    inner[_hierarchy.leaf_ids] = False
    return np.flatnonzero(inner & (size >= 2) & (size <= 4)).tolist()


def search_classes(labels: list[str], query: str, limit: int) -> list[int]:
    """Tree positions whose label contains ``query`` (case-insensitive), or whose position starts with it
    when it is a number; at most ``limit``, in tree order."""
    query = query.strip().lower()
    if not query:
        return list(range(min(limit, len(labels))))
    found = [p for p, label in enumerate(labels) if query in label.lower() or (query.isdigit() and
                                                                             str(p).startswith(query))]
    return found[:limit]


@st.cache_data(**_CACHE)
def hover_lca(source: str, _hierarchy: Hierarchy) -> np.ndarray:
    """(K, K) hover strings 'LCA name (d = …)' for every class pair, tree order (small K)."""
    h, info = _hierarchy, tree_info(source, _hierarchy)
    positions = np.arange(len(info.order))
    lca = info.tree.lca(positions, positions)
    dist = info.tree.level[lca]
    node_text = {n: h.display(h.names[n]) for n in np.unique(lca)}
    return np.array([[f"{node_text[n]} (d = {d})" for n, d in zip(row_n, row_d)] for row_n, row_d in zip(lca, dist)],
                    dtype=object)


@st.cache_data(**_CACHE)
def realised_stats(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float, dim: int,
                   seed: int | None) -> dict[str, dict[int, dict[str, float]]]:
    """Box statistics of the realised cosines W·Wᵀ of both built frames at each LCA distance
    (K ≤ BUILD_MAX_K: the page builds the frames to show that they hit their targets)."""
    info = tree_info(source, _hierarchy)
    dist = info.tree.dense()
    out = {}
    for name, frame in (("HAFrame", haframe_of(source, _hierarchy, mapping, gamma, m, dim, seed)),
                        ("ETF", etf_of(_hierarchy.num_classes, dim, seed))):
        gram = frame.weights @ frame.weights.T
        out[name] = {d: _box(values) for d, values in cosines_by_distance(gram, dist).items()}
    return out


def _box(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [0, 25, 50, 75, 100])
    return dict(min=q[0], q1=q[1], median=q[2], q3=q[3], max=q[4], mean=float(values.mean()), n=len(values))


def target_levels(info: TreeInfo, gamma: float, mapping: str, m: float) -> dict[str, dict[int, float]]:
    """s(d): the target cosine at each distance d (a function of d alone), HAFrame and ETF."""
    k = len(info.order)
    return {"HAFrame": info.s_of_d(gamma, mapping, m), "ETF": {d: -1.0 / (k - 1) for d in info.levels}}


@st.cache_data(**_CACHE)
def spectrum(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float) -> dict[str, np.ndarray]:
    """{frame: eigenvalues of its Gram matrix, ascending}, the HAFrame's from the tree (no K×K matrix)."""
    k = _hierarchy.num_classes
    simplex = np.full(k, k / (k - 1))
    simplex[0] = 0.0  # the ETF's Gram matrix: eigenvalue 0 (the vectors sum to zero), K/(K−1) K−1 times
    return {"HAFrame": tree_spectrum(tree_info(source, _hierarchy).tree, gamma, mapping, m), "ETF": simplex}


@st.cache_data(**_CACHE)
def feasibility(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(m values spanning m* and the entered m, λ_min(S(m))) — also for an infeasible m."""
    star = m_star(source, _hierarchy, mapping, gamma)
    pad = max(0.05, 0.5 * abs(star))
    ms = np.linspace(max(-1.0, min(star - pad, m - 0.02)), min(0.99, max(star, m, 0.0) + pad), 81)
    return ms, tree_min_eigenvalue_curve(tree_info(source, _hierarchy).tree, gamma, mapping, ms)


@st.cache_data(**_CACHE)
def coordinates_3d(source: str, _hierarchy: Hierarchy, mapping: str, gamma: float, m: float
                   ) -> tuple[np.ndarray, float]:
    """(K, 3) HAFrame vectors along S(m)'s top 3 principal axes (class-index order) and the share of
    ‖W‖²_F (= trace S = K) they keep; Lanczos on the tree for large K."""
    vals, vecs = tree_top_eigenvectors(tree_info(source, _hierarchy).tree, gamma, mapping, m, 3)
    top = np.clip(vals, 0.0, None)
    coords = vecs * np.sqrt(top)
    if coords.shape[1] < 3:
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    return coords, float(top.sum() / _hierarchy.num_classes)


def spread_coincident(coords: np.ndarray, names: list[str]) -> tuple[np.ndarray, int, int]:
    """Coordinates where classes that project onto the same point are spread on a small ring around
    it (perpendicular to the point's direction), so no two classes share a dot. Returns (coordinates,
    number of such points, number of classes on them). The ring radius is a few % of the view."""
    scale = float(np.abs(coords).max()) or 1.0
    keys = np.round(coords / (1e-6 * scale)).astype(np.int64)
    _, group, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    out = coords.copy()
    radius = 0.06 * scale
    crowded = np.flatnonzero(counts > 1)
    for g in crowded:
        members = np.flatnonzero(group == g)
        centre = coords[members[0]]
        axis = centre / (np.linalg.norm(centre) or 1.0) if np.linalg.norm(centre) > 1e-12 else np.array([0, 0, 1.0])
        helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
        e1 = np.cross(axis, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(axis, e1)
        angles = 2 * np.pi * np.arange(len(members)) / len(members)
        out[members] = centre + radius * (np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2)
    return out, len(crowded), int(counts[crowded].sum())


def exact_view(target: np.ndarray) -> tuple[np.ndarray, bool]:
    """Exact 3-D coordinates for 2–4 frame vectors with Gram matrix ``target`` (n×n).

    n ≤ 3: the vectors themselves (they span ≤ 3 dimensions; lengths and angles exact). n = 4: the
    tips' tetrahedron (any 4 points lie in a 3-D affine space; edge lengths = the chord lengths
    √(2 − 2·cos), exact). Returns (coordinates (n, 3), whether these are the tips rather than vectors)."""
    n = len(target)
    tips = n == 4
    gram = target
    if tips:  # centre the tips: their own Gram matrix has rank ≤ 3
        centre = np.eye(n) - 1.0 / n
        gram = centre @ target @ centre
    vals, vecs = np.linalg.eigh(gram)
    top = np.argsort(vals)[::-1][:3]
    coords = vecs[:, top] * np.sqrt(np.clip(vals[top], 0.0, None))
    if coords.shape[1] < 3:
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    return coords, tips


def angles_table(target: np.ndarray, names: list[str]) -> list[dict]:
    """One row per pair: cosine and angle in degrees."""
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            cos = float(np.clip(target[i, j], -1.0, 1.0))
            rows.append({"class A": names[i], "class B": names[j], "cosine": round(cos, 4),
                         "angle (°)": round(float(np.degrees(np.arccos(cos))), 2)})
    return rows


# --------------------------------------------------------------------------- images
@functools.lru_cache(maxsize=16)
def colour_palette(scale: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours sampled evenly along a plotly colour scale (cached: do not modify)."""
    colours = sample_colorscale(scale, np.linspace(0, 1, n))  # 'rgb(r, g, b)' strings
    return np.array([[int(float(v)) for v in re.findall(r"[\d.]+", c)[:3]] for c in colours], dtype=np.uint8)


_PALETTES: dict[str, bytes] = {}


def colour_index(values: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    """uint8 palette indices (0…255) of ``values`` on the zmin…zmax scale (clipped)."""
    return np.clip(np.rint((values - zmin) / (zmax - zmin) * 255), 0, 255).astype(np.uint8)


def matrix_png(matrix: np.ndarray, zmin: float, zmax: float, scale: str) -> tuple[str, int]:
    """Colour-map a matrix into a palette PNG data URI; returns (URI, step) where step > 1 means every
    step-th row and column was kept (matrices over ``IMAGE_MAX_PX`` a side)."""
    step = max(1, -(-len(matrix) // IMAGE_MAX_PX))
    return index_png(colour_index(matrix[::step, ::step], zmin, zmax), scale), step


def index_png(index: np.ndarray, scale: str) -> str:
    """A 2-D uint8 array of palette indices as a palette PNG data URI, colours from ``scale``."""
    if scale not in _PALETTES:
        _PALETTES[scale] = colour_palette(scale).tobytes()
    image = Image.fromarray(index, mode="L").convert("P")
    image.putpalette(_PALETTES[scale])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# --------------------------------------------------------------------------- figures
def heatmap_figure(title: str, labels: list[str], spans: list[tuple[int, int, str]], *, zmin: float, zmax: float,
                   scale: str, z: np.ndarray | None = None, lca: np.ndarray | None = None, value_name: str = "cos",
                   image: tuple[str, int] | None = None, cell_text: bool = False, height: int = 340) -> go.Figure:
    """A tree-ordered K×K heatmap with the groups in ``spans`` outlined along the diagonal.

    Pass ``z`` and ``lca`` (hover strings from ``hover_lca``) for plotly cells on category axes (hover: both
    class names, their LCA, the value), or ``image`` (``matrix_png``'s result) for a picture on numeric axes
    whose hover gives tree-order positions only. ``cell_text`` prints each cell's value (small K);
    ``height`` in pixels (the presenter layout draws larger).
    """
    k = len(labels)
    layout: dict = {}
    if image is None:
        names = _unique(labels)
        traces = [go.Heatmap(z=z, x=names, y=names, zmin=zmin, zmax=zmax, colorscale=scale, customdata=lca,
                             colorbar=dict(thickness=10),
                             texttemplate="%{z:.2f}" if cell_text and height >= CELL_TEXT_MIN_PX * k else None,
                             textfont=dict(size=max(9, min(16, height // (3 * k)))),
                             hovertemplate=f"%{{y}} · %{{x}}<br>LCA: %{{customdata}}<br>{value_name} = %{{z:.4f}}"
                                           "<extra></extra>")]
        layout["shapes"] = [dict(type="rect", x0=a - 0.5, x1=b - 0.5, y0=a - 0.5, y1=b - 0.5, layer="above",
                                 line=dict(color="rgba(20,20,20,0.75)", width=1)) for a, b, _ in spans if 1 < b - a < k]
        axis = dict(type="category", showticklabels=k <= TICK_MAX_K)
    else:
        uri, step = image
        traces = [go.Image(source=uri, x0=0, y0=0, dx=step, dy=step,
                           hovertemplate="row %{y} · column %{x}<extra>tree-order positions</extra>"),
                  go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",  # the colour bar
                             marker=dict(color=[zmin], cmin=zmin, cmax=zmax, colorscale=scale, showscale=True,
                                         colorbar=dict(thickness=10)))]
        outline = _outline(spans, k)
        traces += [outline] if outline is not None else []
        axis = dict(showticklabels=False)
    axis.update(range=[-0.5, k - 0.5], showgrid=False, zeroline=False, ticks="", constrain="domain")
    big = height >= 500
    # One constructor call with the whole layout: plotly's update_layout walks every property path and costs
    # ~0.1 s a figure, a noticeable part of a γ change at K = 1010.
    layout.update(title=dict(text=title, font=dict(size=22 if big else 14), x=0.5, xanchor="center"), height=height,
                  margin=dict(l=4, r=4, t=44 if big else 30, b=4), font=dict(size=16 if big else 12),
                  showlegend=False, xaxis=dict(axis, tickangle=-60),
                  yaxis=dict(axis, range=[k - 0.5, -0.5], scaleanchor="x", scaleratio=1))
    return go.Figure(data=traces, layout=layout)


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


def distance_figure(stats: dict[str, dict[int, dict[str, float]]] | None, levels: dict[str, dict[int, float]]
                    ) -> go.Figure:
    """Box of the realised cosines at each LCA distance (both frames; None: not built) and the target line s(d)."""
    traces = []
    for name, by_d in (stats or {}).items():
        ds = list(by_d)
        col = lambda key: [by_d[d][key] for d in ds]  # noqa: E731
        traces.append(go.Box(x=ds, q1=col("q1"), median=col("median"), q3=col("q3"), lowerfence=col("min"),
                             upperfence=col("max"), mean=col("mean"), name=f"{name} pairs",
                             marker_color=COLOURS[name], offsetgroup=name))
    for name, by_d in levels.items():
        traces.append(go.Scatter(x=list(by_d), y=list(by_d.values()), mode="lines+markers", name=f"{name} s(d)",
                                 line=dict(color=COLOURS[name], dash="dot"),
                                 hovertemplate="d = %{x}<br>s(d) = %{y:.4f}<extra>" + name + "</extra>"))
    # the layout goes to the constructor: update_layout costs ~0.05 s a figure, paid on every γ change
    return go.Figure(data=traces, layout=dict(
        title="Cosine by LCA distance", height=380, boxmode="group", xaxis=dict(title="hierarchical distance d", dtick=1),
        yaxis=dict(title="cosine"), margin=dict(l=60, r=10, t=40, b=110, autoexpand=False),  # fixed margins: plotly's auto-margin
        legend=dict(orientation="h", y=-0.22, yanchor="top")))  # pass re-lays the chart out on every redraw


def gamma_overlay_figure(curves: dict[float, dict[int, float]], etf_level: float, current: float | None
                         ) -> go.Figure:
    """s(d) of several γ on one chart (the current γ drawn thick) and the ETF's flat −1/(K−1)."""
    colours = sample_colorscale("Viridis", np.linspace(0.0, 0.9, max(len(curves), 2)))
    ds = sorted({d for by_d in curves.values() for d in by_d})
    traces = []
    for colour, (gamma, by_d) in zip(colours, curves.items()):
        mine = current is not None and abs(gamma - current) < 1e-9
        traces.append(go.Scatter(x=list(by_d), y=list(by_d.values()), mode="lines+markers", name=f"γ = {gamma:g}",
                                 line=dict(color=colour, width=4 if mine else 2),
                                 hovertemplate=f"γ = {gamma:g}<br>d = %{{x}}<br>s(d) = %{{y:.4f}}<extra></extra>"))
    traces.append(go.Scatter(x=ds, y=[etf_level] * len(ds), mode="lines", name="ETF",
                             line=dict(color=COLOURS["ETF"], dash="dash"), hovertemplate="ETF: %{y:.4f}<extra></extra>"))
    return go.Figure(data=traces, layout=dict(
        title="Target cosine by distance, several γ (each at its own m*)", height=380,
        xaxis=dict(title="hierarchical distance d", dtick=1), yaxis=dict(title="cosine s(d)"),
        margin=dict(l=60, r=10, t=40, b=110, autoexpand=False),  # fixed margins: plotly's auto-margin
        legend=dict(orientation="h", y=-0.22, yanchor="top")))  # pass re-lays the chart out on every redraw


def exact_figure(coords: np.ndarray, names: list[str], tips: bool, colours: list[str]) -> go.Figure:
    """Three vectors drawn from the origin, or four tips joined into their tetrahedron (all edges)."""
    fig = go.Figure()
    n = len(coords)
    if not tips:
        for i in range(n):
            fig.add_scatter3d(x=[0, coords[i, 0]], y=[0, coords[i, 1]], z=[0, coords[i, 2]], mode="lines",
                              line=dict(color=colours[i], width=6), hoverinfo="skip", showlegend=False)
        fig.add_scatter3d(x=[0], y=[0], z=[0], mode="markers", marker=dict(size=3, color="black"),
                          name="origin", hoverinfo="name")
    else:
        for i in range(n):
            for j in range(i + 1, n):
                fig.add_scatter3d(x=coords[[i, j], 0], y=coords[[i, j], 1], z=coords[[i, j], 2], mode="lines",
                                  line=dict(color="rgba(90,90,90,0.7)", width=3), hoverinfo="skip", showlegend=False)
    fig.add_scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers+text", text=names,
                      textposition="top center", marker=dict(size=7, color=colours), showlegend=False,
                      hovertemplate="%{text}<extra></extra>")
    r = float(np.abs(coords).max()) * 1.25 or 1.0
    axis = dict(range=[-r, r], showbackground=False, title="", showticklabels=False)
    fig.update_layout(height=420, margin=dict(l=0, r=0, t=30, b=0),
                      title="the 4 tips (exact edge lengths)" if tips else "the vectors (exact lengths and angles)",
                      scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"))
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
