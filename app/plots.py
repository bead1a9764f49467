"""Plotly figure builders shared by the pages (pure functions: arrays in, figures out), and the
Hierarchy page's collapsible outline (HTML)."""
from __future__ import annotations

import colorsys
import html
import math

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

COSINE_SCALE = "RdBu_r"
MAX_TICK_LABELS = 40  # heatmaps with more classes hide their tick labels (hover still names the cell)
MAX_HOVER_NAMES = 300  # above this, hover shows class indices instead of K×K name strings

# Friendlier names for metrics columns (legends, titles).
METRIC_NAMES = {
    "top1": "top-1 accuracy (%)",
    "top5": "top-5 accuracy (%)",
    "mistake_severity": "mistake severity",
    "hdist@1": "avg. hier. distance @1",
    "hdist@5": "avg. hier. distance @5",
    "frame_dev_mean": "frame deviation (mean)",
    "frame_dev_std": "frame deviation (std)",
    "haf_dev_mean": "HAFrame deviation (mean)",
    "train_loss": "training loss",
    "train_ce": "cross-entropy",
    "train_cos": "cosine loss",
}


def metric_name(key: str) -> str:
    return METRIC_NAMES.get(key, key)


def cosine_heatmap(matrix: np.ndarray, labels: list[str], title: str, zmin: float = -1.0, zmax: float = 1.0,
                   scale: str = COSINE_SCALE, value_name: str = "cos") -> go.Figure:
    """K×K heatmap of cosines with square cells; rows/columns labelled by class (pass them in tree order).

    The axes are numeric (class position) with the labels as tick text, so two classes that share a
    display name stay two rows.
    """
    k = len(labels)
    positions = list(range(k))
    trace = dict(z=matrix, x=positions, y=positions, zmin=zmin, zmax=zmax, colorscale=scale,
                 colorbar=dict(thickness=12, len=0.9))
    if k <= MAX_HOVER_NAMES:
        names = np.asarray(labels, dtype=object)
        trace["customdata"] = np.stack(np.broadcast_arrays(names[:, None], names[None, :]), axis=-1)
        trace["hovertemplate"] = f"%{{customdata[0]}} · %{{customdata[1]}}<br>{value_name} = %{{z:.3f}}<extra></extra>"
    else:
        trace["hovertemplate"] = f"class %{{y}} · class %{{x}}<br>{value_name} = %{{z:.3f}}<extra></extra>"
    fig = go.Figure(go.Heatmap(**trace))
    show = k <= MAX_TICK_LABELS
    axis = dict(tickmode="array", tickvals=positions if show else [], ticktext=labels if show else [],
                ticks="", showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(title=title, height=460, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(axis, tickangle=-60),
                      yaxis=dict(axis, autorange="reversed", scaleanchor="x", scaleratio=1))
    return fig


def distance_heatmap(distances: np.ndarray, labels: list[str],
                     title: str = "Hierarchical distance H − depth(LCA)") -> go.Figure:
    fig = cosine_heatmap(distances, labels, title, 0, float(distances.max()), "Viridis", value_name="d")
    fig.update_traces(colorbar=dict(dtick=1), hovertemplate=fig.data[0].hovertemplate.replace("%{z:.3f}", "%{z}"))
    return fig


def tree_sunburst(names: list[str], parents: list[str], labels: list[str]) -> go.Figure:
    """Sunburst of a tree given node names, parent names ('' for the root) and display labels."""
    fig = go.Figure(go.Sunburst(ids=names, parents=parents, labels=labels, branchvalues="remainder",
                                hovertemplate="%{label}<extra></extra>", maxdepth=4,
                                insidetextorientation="radial"))
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=10, b=0))
    return fig


def tree_icicle(names: list[str], parents: list[str], labels: list[str]) -> go.Figure:
    """Icicle (root on the left, one column per level) of the same tree as :func:`tree_sunburst`;
    deep or wide trees stay readable, and a click zooms into a branch."""
    fig = go.Figure(go.Icicle(ids=names, parents=parents, labels=labels, branchvalues="remainder",
                              hovertemplate="%{label}<extra></extra>", maxdepth=5,
                              tiling=dict(orientation="h"), root=dict(color="#eeeeee")))
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=10, b=0))
    return fig


OUTLINE_MAX_NODES = 4000  # deeper levels of bigger trees are left out of the outline (counts still shown)
OUTLINE_OPEN_NODES = 40  # levels open at first: as many as fit in this many nodes


def tree_outline_html(parents: list[int], labels: list[str], leaf: list[bool]) -> str:
    """A collapsible indented tree (nested ``<details>``), nodes given in pre-order with parent ids.

    Internal nodes show their number of classes; the first levels start open. Trees over
    ``OUTLINE_MAX_NODES`` nodes are cut at the deepest level that keeps them under it. Built
    iteratively, so any depth is fine.
    """
    n = len(parents)
    depth = [0] * n
    classes = [1 if leaf[i] else 0 for i in range(n)]
    for i in range(1, n):
        depth[i] = depth[parents[i]] + 1
    for i in range(n - 1, 0, -1):  # pre-order: children come after their parent
        classes[parents[i]] += classes[i]
    per_level = np.bincount(depth)
    cumulative = np.cumsum(per_level)
    shown = int(np.searchsorted(cumulative, OUTLINE_MAX_NODES, side="right")) - 1  # deepest level kept
    shown = max(shown, 1)
    open_below = max(1, int(np.searchsorted(cumulative, OUTLINE_OPEN_NODES, side="right")) - 1)
    out = ['<div style="font-size:0.9rem;line-height:1.5">']
    stack: list[int] = []  # depths of the open <details>
    for i in range(n):
        if depth[i] > shown:
            continue
        while stack and stack[-1] >= depth[i]:
            stack.pop()
            out.append("</div></details>")
        label = html.escape(labels[i])
        if leaf[i]:
            out.append(f'<div style="padding-left:1.1em">• {label}</div>')
            continue
        count = f'<span style="opacity:0.6">({classes[i]} classes)</span>'
        if depth[i] == shown:  # the outline is cut below this level
            out.append(f'<div style="padding-left:1.1em"><b>{label}</b> {count} …</div>')
            continue
        out.append(f'<details{" open" if depth[i] < open_below else ""}><summary>'
                   f'<b>{label}</b> {count}</summary>'
                   f'<div style="padding-left:1.1em;border-left:1px solid rgba(128,128,128,0.3);margin-left:0.3em">')
        stack.append(depth[i])
    out.extend("</div></details>" for _ in stack)
    out.append("</div>")
    return "".join(out)


def palette(n: int) -> list[str]:
    """Enough distinct colours for ``n`` groups, all dark enough to see on white (the theme's own
    palette has near-white greys and only 10 colours)."""
    if n <= 10:
        return px.colors.qualitative.D3
    if n <= 24:
        return px.colors.qualitative.Dark24
    return px.colors.qualitative.Dark24 + px.colors.qualitative.Light24 + px.colors.qualitative.Alphabet


def tree_palette(groups: list[str], branches: list[str]) -> dict[str, str]:
    """Colours that follow the tree: one hue per top-level branch, shades of it for the groups inside.

    ``groups`` are the coloured groups (in tree order) and ``branches[i]`` the top-level branch of
    ``groups[i]``; siblings come out as neighbouring shades, so the legend reads like the tree.
    """
    names = list(dict.fromkeys(branches))
    hues = palette(len(names))
    members: dict[str, list[str]] = {}
    for group, branch in zip(groups, branches):
        members.setdefault(branch, []).append(group)
    colours = {}
    for b, branch in enumerate(names):
        r, g, bl = (int(hues[b % len(hues)].lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
        hue, light, sat = colorsys.rgb_to_hls(r, g, bl)
        inside = members[branch]
        n = len(inside)
        span = min(0.4, 0.16 * (n - 1))  # lightness range of the shades (dark to light), around the hue's own
        low = min(max(light - span / 2, 0.25), 0.68 - span)  # none too pale to see on white
        for j, group in enumerate(inside):
            t = j / (n - 1) if n > 1 else 0.5
            shade = low + span * t if n > 1 else light
            turned = (hue + 0.025 * min(n - 1, 3) * (t - 0.5)) % 1.0  # and a slight turn of the hue
            colours[group] = "#%02x%02x%02x" % tuple(round(255 * c) for c in colorsys.hls_to_rgb(turned, shade, sat))
    return colours


def projection_scatter(points: np.ndarray, colour: list[str], hover: list[str], title: str,
                       order: list[str] | None = None, colours: dict[str, str] | None = None) -> go.Figure:
    """2-D scatter of projected features coloured by class or ancestor (legend in ``order`` if given;
    ``colours`` maps group → colour, e.g. from :func:`tree_palette`)."""
    groups = order if order is not None else list(dict.fromkeys(colour))
    fig = px.scatter(x=points[:, 0], y=points[:, 1], color=colour, hover_name=hover, title=title,
                     labels={"x": "", "y": "", "color": ""}, render_mode="webgl",
                     category_orders={"color": groups}, color_discrete_sequence=palette(len(groups)),
                     color_discrete_map=colours or {})
    fig.update_traces(marker=dict(size=5, opacity=0.8))
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"),
                      xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    return fig


def _integer_ticks(values) -> dict:
    """Axis settings that put ticks on whole numbers only (epochs, distances)."""
    values = list(values)
    span = (max(values) - min(values)) if values else 1
    return dict(tick0=0, dtick=max(1, math.ceil(span / 10)))


def metric_curves(rows: list[dict], keys: list[str], title: str, series: str | None = None) -> go.Figure:
    """Lines of ``keys`` over epochs from metrics rows (optionally tagged with a ``series`` name)."""
    fig = go.Figure()
    for key in keys:
        xs = [r["epoch"] for r in rows if r.get(key) is not None]
        ys = [r[key] for r in rows if r.get(key) is not None]
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=series if series else metric_name(key),
                        hovertemplate=f"epoch %{{x}}<br>{metric_name(key)} = %{{y:.4g}}<extra></extra>")
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="epoch", **_integer_ticks(r["epoch"] for r in rows)),
                      showlegend=len(keys) > 1 or series is not None,
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    return fig


def compare_curves(runs: dict[str, list[dict]], key: str) -> go.Figure:
    """One line per run of metric ``key`` over epochs."""
    fig = go.Figure()
    for name, rows in runs.items():
        fig.add_traces(metric_curves(rows, [key], "", series=name).data)
    epochs = [r["epoch"] for rows in runs.values() for r in rows]
    fig.update_layout(title=metric_name(key), height=380, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="epoch", **_integer_ticks(epochs)), showlegend=True,
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig
