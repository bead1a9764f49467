"""Tree figures for the Hierarchy page: sunburst and icicle with explicit colours and unary chains folded.

* Colours are set per node (one hue per top-level branch, lighter with depth): left to plotly, a tree
  with more top-level branches than the theme's colourway cycles into its near-white greys, and those
  wedges look missing (CIFAR-100's "vehicles_2", "non-insect_invertebrates").
* A chain of single-child nodes becomes one node labelled "first → … → last (n levels)", so a
  5,000-level chain does not push the leaves beyond the rings drawn (``maxdepth``); a click on a
  wedge still zooms into its branch.
"""
from __future__ import annotations

import colorsys

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import frame_views, plots
from core import Hierarchy
from core.ultrametric import TreeDistances

SUNBURST_RINGS = 4
ICICLE_COLUMNS = 5


def fold_chains(parents: list[int], labels: list[str]) -> tuple[list[int], list[int], list[str], int]:
    """Merge every node whose parent has only this one child into that parent (nodes in pre-order).

    Returns (kept node ids, their parents as indices into the kept list (−1 root), labels, number of
    nodes folded away)."""
    children = [0] * len(parents)
    for p in parents[1:]:
        children[p] += 1
    rep = list(range(len(parents)))  # node → the kept node it was folded into
    chain: dict[int, list[str]] = {0: [labels[0]]}
    for node in range(1, len(parents)):
        parent = parents[node]
        if children[parent] == 1 and parent != 0:
            rep[node] = rep[parent]
            chain[rep[node]].append(labels[node])
        else:
            chain[node] = [labels[node]]
    kept = sorted(chain)
    position = {node: i for i, node in enumerate(kept)}
    new_parents = [-1 if node == 0 else position[rep[parents[node]]] for node in kept]
    new_labels = [_chain_label(chain[node]) for node in kept]
    return kept, new_parents, new_labels, len(parents) - len(kept)


def _chain_label(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} → {names[1]}"
    return f"{names[0]} → … → {names[-1]} ({len(names)} levels)"


def node_colours(parents: list[int]) -> list[str]:
    """One hue per top-level branch, each level below a little lighter; the root light grey."""
    depth = [0] * len(parents)
    branch = [-1] * len(parents)
    tops: list[int] = []
    for node in range(1, len(parents)):
        depth[node] = depth[parents[node]] + 1
        if parents[node] == 0:
            branch[node] = len(tops)
            tops.append(node)
        else:
            branch[node] = branch[parents[node]]
    hues = plots.palette(len(tops))
    colours = ["#e8e8e8"]
    for node in range(1, len(parents)):
        r, g, b = (int(hues[branch[node] % len(hues)].lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
        hue, light, sat = colorsys.rgb_to_hls(r, g, b)
        light = min(0.85, light + 0.09 * (depth[node] - 1))
        colours.append("#%02x%02x%02x" % tuple(round(255 * c) for c in colorsys.hls_to_rgb(hue, light, sat)))
    return colours


def text_colours(fills: list[str]) -> list[str]:
    """Near-black text on light fills, white on dark ones (relative luminance), so every label reads."""
    out = []
    for fill in fills:
        r, g, b = (int(fill.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
        out.append("#1a1a1a" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "#ffffff")
    return out


def _figure_args(parents: list[int], labels: list[str], names: list[str], num_classes: list[int]) -> dict:
    kept, new_parents, new_labels, folded = fold_chains(parents, labels)
    ids = [names[node] for node in kept]
    return dict(ids=ids, parents=["" if p < 0 else ids[p] for p in new_parents], labels=new_labels,
                customdata=[num_classes[node] for node in kept], branchvalues="remainder",
                marker=dict(colors=node_colours(new_parents), line=dict(color="white", width=0.5)),
                hovertemplate="%{label}<br>%{customdata} classes<extra></extra>"), folded


def tree_sunburst(parents: list[int], labels: list[str], names: list[str], num_classes: list[int]
                  ) -> tuple[go.Figure, int]:
    """(sunburst, number of single-child nodes folded into chains); the root in the centre."""
    args, folded = _figure_args(parents, labels, names, num_classes)
    fig = go.Figure(go.Sunburst(**args, maxdepth=SUNBURST_RINGS, insidetextorientation="radial",
                                insidetextfont=dict(color=text_colours(args["marker"]["colors"]))))
    fig.update_layout(height=480, margin=dict(l=0, r=0, t=10, b=0))
    return fig, folded


def tree_icicle(parents: list[int], labels: list[str], names: list[str], num_classes: list[int]
                ) -> tuple[go.Figure, int]:
    """(icicle with the root on the left, number of folded nodes); dark text on every box."""
    args, folded = _figure_args(parents, labels, names, num_classes)
    args["labels"] = [f"{args['labels'][0]} ({num_classes[0]} classes)"] + args["labels"][1:]
    fig = go.Figure(go.Icicle(**args, maxdepth=ICICLE_COLUMNS, tiling=dict(orientation="h"),
                              textfont=dict(color=text_colours(args["marker"]["colors"]), size=13)))
    fig.update_layout(height=480, margin=dict(l=0, r=0, t=10, b=0))
    return fig, folded


def classes_below(parents: list[int], is_leaf: list[bool]) -> list[int]:
    """Number of classes under every node (nodes in pre-order)."""
    counts = [1 if leaf else 0 for leaf in is_leaf]
    for node in range(len(parents) - 1, 0, -1):
        counts[parents[node]] += counts[node]
    return counts


@st.cache_data(max_entries=8, show_spinner=False)
def distance_image(source: str, _hierarchy: Hierarchy, convention: str, title: str) -> go.Figure:
    """A large hierarchy's distance matrix (tree order) as one PNG image, every n-th class when K is
    over ``frame_views.IMAGE_MAX_PX``; computed from the tree, not from a K×K matrix."""
    tree = TreeDistances.from_hierarchy(_hierarchy, convention)
    step = frame_views.image_step(tree.num_classes)
    positions = np.arange(0, tree.num_classes, step)
    dist = tree.distances_between(positions, positions).astype(float)
    uri, _ = frame_views.matrix_png(dist, 0.0, float(dist.max()), "Viridis")
    labels = [_hierarchy.display(_hierarchy.leaves[i]) for i in tree.order]
    return frame_views.heatmap_figure(title, labels, [], zmin=0.0, zmax=float(dist.max()), scale="Viridis",
                                      image=(uri, step), height=460)
