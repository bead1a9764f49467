"""Plotly figure builders shared by the pages (pure functions: arrays in, figures out), and the
Hierarchy page's collapsible outline (HTML)."""
from __future__ import annotations

import base64
import colorsys
import html
import math

import numpy as np
import pandas  # noqa: F401  (plotly imports it lazily; two script threads doing so at once see half a module)
import plotly.express as px
import plotly.graph_objects as go

from core import schema

COSINE_SCALE = "RdBu_r"
MAX_TICK_LABELS = 40  # heatmaps with more classes hide their tick labels (hover still names the cell)
MAX_HOVER_NAMES = 300  # above this, hover shows class indices instead of K×K name strings
MARKED_POINTS = 20  # curves of this many epochs or more are drawn without markers (see curve_mode)
SVG_MAX_MARKERS = 2000  # an animated projection with more markers (points + class means + frame vectors) uses WebGL


def metric_name(key: str) -> str:
    """A metric's label with its unit, from the metrics schema (core/schema.py)."""
    return schema.label(key)


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


OUTLINE_MAX_NODES = 4000  # deeper levels of bigger trees are left out of the outline (counts still shown)
OUTLINE_OPEN_NODES = 40  # levels open at first: as many as fit in this many nodes
OUTLINE_MAX_DEPTH = 60  # nor deeper than this: thousands of nested <details> hang the browser's layout


def tree_outline_html(parents: list[int], labels: list[str], leaf: list[bool]) -> str:
    """A collapsible indented tree (nested ``<details>``), nodes given in pre-order with parent ids.

    Internal nodes show their number of classes; the first levels start open. Trees over
    ``OUTLINE_MAX_NODES`` nodes are cut at the deepest level that keeps them under it, and every tree
    below ``OUTLINE_MAX_DEPTH`` levels (fold single-child chains first: ``tree_views.fold_chains``).
    Built iteratively, so any depth is fine here.
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
    shown = max(min(shown, OUTLINE_MAX_DEPTH), 1)
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


def _integer_ticks(values) -> dict:
    """Axis settings that put ticks on whole numbers only (epochs, distances)."""
    values = list(values)
    span = (max(values) - min(values)) if values else 1
    return dict(tick0=0, dtick=max(1, math.ceil(span / 10)))


def curve_mode(points: int) -> str:
    """Scatter mode for a curve of ``points`` epochs: each point marked while they are few (a lone epoch 0 shows),
    a plain line from :data:`MARKED_POINTS` on. plotly draws every marker as an SVG element of its own, and live
    pages redraw their curves every epoch: at 200 epochs the markers were 60 % of the Train page's browser CPU per
    redraw (Chromium, in place: 220 → 90 ms)."""
    return "lines+markers" if points < MARKED_POINTS else "lines"


def metric_curves(rows: list[dict], keys: list[str], title: str, series: str | None = None) -> go.Figure:
    """Lines of ``keys`` over epochs from metrics rows (optionally tagged with a ``series`` name)."""
    fig = go.Figure()
    for key in keys:
        xs = [r["epoch"] for r in rows if r.get(key) is not None]
        ys = [r[key] for r in rows if r.get(key) is not None]
        fig.add_scatter(x=xs, y=ys, mode=curve_mode(len(xs)), name=series if series else metric_name(key),
                        hovertemplate=f"epoch %{{x}}<br>{metric_name(key)} = %{{y:.4g}}<extra></extra>",
                        # a statistic on the training subsample is often within a hair of the test set's: dashed, so
                        # the line below it stays visible
                        line=dict(dash="dash") if key.endswith(schema.TRAIN_SUFFIX) else None)
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="epoch", **_integer_ticks(r["epoch"] for r in rows)),
                      showlegend=len(keys) > 1 or series is not None,
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    return fig


def training_panels(rows: list[dict], panels: list[tuple[str, list[str]]]) -> go.Figure:
    """Several ``(title, keys)`` panels of :func:`metric_curves` as one 2-column figure: a live page redraws one
    plotly chart per epoch instead of four (each chart costs the browser its own layout pass)."""
    from plotly.subplots import make_subplots

    columns = 2
    grid = (len(panels) + columns - 1) // columns
    fig = make_subplots(rows=grid, cols=columns, subplot_titles=[title for title, _ in panels],
                        horizontal_spacing=0.08, vertical_spacing=0.26 if len(panels) > columns else 0.1)
    ticks = _integer_ticks(r["epoch"] for r in rows)
    for i, (_, keys) in enumerate(panels):
        row, col = divmod(i, columns)
        legend = f"legend{i + 1}" if i else "legend"  # a legend under each panel, naming only its own lines
        for trace in metric_curves(rows, keys, "").data:
            fig.add_trace(trace.update(legend=legend, showlegend=len(keys) > 1), row=row + 1, col=col + 1)
        fig.update_xaxes(title_text="epoch", row=row + 1, col=col + 1, **ticks)
        domain_x = fig.get_subplot(row + 1, col + 1).xaxis.domain
        domain_y = fig.get_subplot(row + 1, col + 1).yaxis.domain
        # Stacked under its panel: a horizontal legend wider than its panel would widen the figure's right margin.
        fig.update_layout({legend: dict(orientation="v", x=domain_x[0], y=domain_y[0] - 0.09, yanchor="top",
                                        xanchor="left", font=dict(size=11))})
    # Fixed margins, wide enough for the tick labels and the bottom legends: with automatic margins plotly lays the
    # figure out twice per draw (measured: 118 → 69 ms per redraw in Chromium), and a live page redraws it per epoch.
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig.update_layout(height=400 * grid, margin=dict(l=50, r=10, t=40, b=90))


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


# --------------------------------------------------------------------------------------------- collapse
def _padded_range(values: np.ndarray) -> list[float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.06 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


def discrete_scale(colours: list[str]) -> list[list]:
    """A plotly colour scale that maps the integers 0…m−1 (with cmin −0.5, cmax m − 0.5) to ``colours``."""
    m = len(colours)
    return [[bound, c] for i, c in enumerate(colours) for bound in (i / m, (i + 1) / m)]


def typed(values: np.ndarray) -> dict:
    """A 1-D array as a plotly.js typed array (``{"dtype": "f4", "bdata": base64}``): what ``go.Figure`` sends for
    a numpy array, a quarter of its JSON text."""
    values = np.ascontiguousarray(values, values.dtype.newbyteorder("<"))
    return {"dtype": values.dtype.str[1:], "bdata": base64.b64encode(values.tobytes()).decode("ascii")}


def animated_projection(epochs: list[int], points: list[np.ndarray], colour_index: list[np.ndarray],
                        colours: list[str], predicted: list[list[str]], paths: list[str],
                        means: list[np.ndarray | None], frame: list[np.ndarray | None], class_names: list[str],
                        legend: list[tuple[str, str]], title: str, start: int) -> dict:
    """A projection over epochs with a Play button and an epoch slider (plotly animation frames), as the plotly
    figure dict that plotly.js draws (``st.plotly_chart`` and :func:`app.live_chart.live_chart` take it as it is).

    Per epoch i: ``points[i]`` (n, 2) samples coloured ``colours[colour_index[i]]`` with hover text
    ``predicted[i]``; ``means[i]`` (K, 2) class means and ``frame[i]`` (K, 2) frame/classifier vectors
    in the same projection (None: not drawn). ``paths`` (n,) is the true class's ancestor path (hover);
    ``legend`` is (group, colour) pairs, kept short by the caller. The axes are fixed across epochs
    so motion on screen is motion of the features; frames carry only what changes (coordinates as
    float32, colour indices as small integers, the predictions) to keep the page light.

    A dict, not a ``go.Figure``: plotly validates every frame's arrays element by element, which was most of a live
    page run's CPU for a figure rebuilt at every epoch (0.15 of 0.3 s at 31 epochs of 600 points);
    tests/app/test_plots.py checks that plotly validates it unchanged.

    SVG markers up to SVG_MAX_MARKERS, WebGL beyond. A live page updates its chart in place (app/live_chart.py), and
    updated in place in a browser without a GPU (software GL) SVG costs about half the CPU of WebGL at 600 points,
    as much at 1,800, and more beyond (1.2× at 2,500, 3.9× with K = 1010's means and vectors), while SVG's share of
    the page's main thread grows with every marker (bench/bench_plot_redraw.py).
    """
    kind = "scatter" if len(points[start]) + 2 * len(class_names) <= SVG_MAX_MARKERS else "scattergl"

    def vectors(i: int) -> list[np.ndarray]:
        return [np.asarray(v if v is not None else np.full((0, 2), np.nan), np.float32) for v in (means[i], frame[i])]

    def moving(i: int) -> list[dict]:
        xy = np.asarray(points[i], np.float32)
        out = [dict(type=kind, x=typed(xy[:, 0]), y=typed(xy[:, 1]), text=predicted[i],
                    marker=dict(color=typed(np.asarray(colour_index[i], np.uint16))))]
        return out + [dict(type=kind, x=typed(v[:, 0]), y=typed(v[:, 1])) for v in vectors(i)]

    base = moving(start)
    base[0]["marker"].update(size=6, opacity=0.8, colorscale=discrete_scale(colours), cmin=-0.5,
                             cmax=len(colours) - 0.5, showscale=False)
    data = [dict(**base[0], mode="markers", showlegend=False, customdata=paths, name="features",
                 hovertemplate="%{customdata}<br>predicted: %{text}<extra></extra>")]
    size = 9 if len(class_names) <= 50 else 6 if len(class_names) <= 200 else 4  # many classes: do not hide the points
    ink = "#222" if len(class_names) <= 200 else "rgba(34,34,34,0.45)"
    for trace, (name, symbol) in zip(base[1:], (("class means", "diamond"), ("frame vectors", "x"))):
        data.append(dict(**trace, mode="markers", name=name, text=class_names,
                         marker=dict(size=size, symbol=symbol, color="rgba(0,0,0,0)" if symbol == "diamond" else ink,
                                     line=dict(width=1.5 if size > 4 else 0.8, color=ink)),
                         hovertemplate=f"{name[:-1]}: %{{text}}<extra></extra>"))
    for group, colour in legend:  # legend entries only (empty traces)
        data.append(dict(type=kind, x=[None], y=[None], mode="markers", name=group, marker=dict(size=8, color=colour)))
    frames = [dict(data=moving(i), name=str(e), traces=[0, 1, 2]) for i, e in enumerate(epochs)]
    everything = np.vstack([p for p in points] + [m for m in means + frame if m is not None])
    play = dict(frame=dict(duration=700, redraw=True), transition=dict(duration=0), mode="immediate")  # from the first epoch
    layout = dict(
        title=dict(text=title), height=560, margin=dict(l=10, r=10, t=40, b=70),
        xaxis=dict(range=_padded_range(everything[:, 0]), showticklabels=False, zeroline=False),
        yaxis=dict(range=_padded_range(everything[:, 1]), showticklabels=False, zeroline=False,
                   scaleanchor="x", scaleratio=1),
        legend=dict(itemsizing="constant", font=dict(size=11)),
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.02, xanchor="left", yanchor="top",
                          pad=dict(t=4, r=8), showactive=False, buttons=[
                              dict(label="▶ Play", method="animate", args=[None, play]),
                              dict(label="❚❚ Pause", method="animate",
                                   args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(active=start, x=0.2, len=0.8, y=-0.02, yanchor="top", pad=dict(t=4),
                      currentvalue=dict(prefix="epoch ", font=dict(size=12)),
                      steps=[dict(label=str(e), method="animate",
                                  args=[[str(e)], dict(frame=dict(duration=0, redraw=True), mode="immediate",
                                                       transition=dict(duration=0))]) for e in epochs])])
    return dict(data=data, layout=layout, frames=frames)


# --------------------------------------------------------------------------------------------- mistakes
def height_colours(max_height: int) -> list[str]:
    """One colour per mistake height 1…H, light (a near miss: siblings) to dark (meet only at the root)."""
    from plotly.colors import sample_colorscale

    return sample_colorscale("OrRd", np.linspace(0.3, 1.0, max(1, max_height)).tolist())


def mistakes_over_epochs(epochs: list[int], table: np.ndarray, title: str) -> go.Figure:
    """Stacked bars: per epoch, the share (%) of evaluated images mistaken at each height 1…H.

    ``table`` is (E, H + 1) counts per distance (column 0 = correct), so each bar's total is the error rate.
    """
    totals = table.sum(axis=1, keepdims=True).clip(1)
    share = 100.0 * table / totals
    colours = height_colours(table.shape[1] - 1)
    fig = go.Figure()
    for h in range(1, table.shape[1]):
        fig.add_bar(x=epochs, y=share[:, h], name=f"height {h}", marker_color=colours[h - 1],
                    customdata=table[:, h],
                    hovertemplate=f"epoch %{{x}} · height {h}<br>%{{y:.1f}} % of images (%{{customdata}})"
                                  "<extra></extra>")
    fig.update_layout(barmode="stack", title=title, height=340, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="epoch", **_integer_ticks(epochs)), yaxis=dict(title="% of images"),
                      legend=dict(title="LCA height", orientation="h", yanchor="top", y=-0.25, x=0, traceorder="normal"))
    return fig


def mistake_histogram(counts: np.ndarray, title: str) -> go.Figure:
    """Bars: how many wrong predictions meet the truth at each height 1…H (``counts`` from height_counts)."""
    heights = list(range(1, len(counts)))
    mistakes = counts[1:]
    share = 100.0 * mistakes / max(1, mistakes.sum())
    fig = go.Figure(go.Bar(x=heights, y=mistakes, marker_color=height_colours(len(heights)), customdata=share,
                           hovertemplate="height %{x}: %{y} mistakes (%{customdata:.1f} %)<extra></extra>"))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
                      xaxis=dict(title="LCA height of the mistake (1 = sibling)", tick0=1, dtick=1),
                      yaxis=dict(title="mistakes", rangemode="nonnegative"))
    return fig


def confusion_figure(matrix: np.ndarray, labels: list[str], spans: list[tuple[int, int, str]], title: str,
                     lca: np.ndarray | None = None) -> go.Figure:
    """Tree-ordered confusion (rows true, columns predicted) as % of each true class, diagonal left out
    so the mistakes stand out; the tree's groups are outlined. Large K is drawn as an image."""
    from app.frame_views import TICK_MAX_K, heatmap_figure, matrix_png  # the Frames page's tree heatmaps

    rows = matrix.sum(axis=1, keepdims=True).clip(1)
    share = 100.0 * matrix / rows
    np.fill_diagonal(share, 0.0)
    top = float(share.max()) or 1.0
    if len(labels) > MAX_HOVER_NAMES or lca is None:
        return heatmap_figure(title, labels, spans, zmin=0.0, zmax=top, scale="Reds",
                              image=matrix_png(share, 0.0, top, "Reds")).update_layout(
            xaxis_title="predicted", yaxis_title="true")
    fig = heatmap_figure(title, labels, spans, zmin=0.0, zmax=top, scale="Reds", z=share, lca=lca,
                         value_name="% of true class")
    fig.update_traces(hovertemplate="true %{y} → predicted %{x}<br>LCA: %{customdata}<br>"
                                    "%{z:.1f} % of the true class<extra></extra>", selector=dict(type="heatmap"))
    fig.update_layout(height=460 if len(labels) > TICK_MAX_K else 420)
    return fig.update_layout(xaxis_title="predicted", yaxis_title="true")


# --------------------------------------------------------------------------------------------- compare
def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (1 = unchanged); NaN gaps are skipped."""
    if window <= 1:
        return values
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1): i + 1]
        chunk = chunk[~np.isnan(chunk)]
        out[i] = chunk.mean() if chunk.size else np.nan
    return out


def band_curves(series: list[dict], key: str, title: str) -> go.Figure:
    """Lines over epochs, with a shaded band where a series has one.

    Each series: ``name``, ``epochs``, ``mean`` and optionally ``low``/``high`` (e.g. a 95 % CI over
    seeds) and ``n`` (runs behind it). Colours follow the series order.
    """
    colours = palette(len(series))
    fig = go.Figure()
    for i, s in enumerate(series):
        colour = colours[i % len(colours)]
        if s.get("low") is not None:
            r, g, b = (int(colour.lstrip("#")[j:j + 2], 16) for j in (0, 2, 4))
            fig.add_scatter(x=list(s["epochs"]) + list(s["epochs"])[::-1],
                            y=list(s["high"]) + list(s["low"])[::-1], fill="toself", mode="lines",
                            line=dict(width=0), fillcolor=f"rgba({r},{g},{b},0.18)", hoverinfo="skip",
                            showlegend=False, legendgroup=s["name"])
        fig.add_scatter(x=s["epochs"], y=s["mean"], mode=curve_mode(len(s["epochs"])), name=s["name"],
                        line=dict(color=colour), marker=dict(size=4), legendgroup=s["name"],
                        hovertemplate=f"{html.escape(s['name'])}<br>epoch %{{x}}<br>{metric_name(key)} = "
                                      "%{y:.4g}<extra></extra>")
    epochs = [e for s in series for e in s["epochs"]]
    fig.update_layout(title=title, height=400, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="epoch", **_integer_ticks(epochs or [0])), yaxis=dict(title=metric_name(key)),
                      showlegend=True, legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig
