"""Frames: the Hierarchy-Aware Frame next to the simplex ETF — targets, spectrum, feasibility, 3-D and exact views.

Speed (a γ change at K = 1010 is redrawn within a second): the page body is a fragment, so a control change
reruns only it (not the app's sidebar); everything that does not depend on γ is cached per hierarchy; the
heatmaps are images above HOVER_MAX_K classes; the sections below them are lazy tabs, so only the open one
computes and draws its figures.
"""
import zlib
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from app import frame_views as fv
from app.common import choose_hierarchy
from core import FrameError, Hierarchy
from core.frames import EXPORT_FORMATS, MAPPINGS

FEASIBILITY_TEXT = (
    "K unit vectors with cosine matrix S exist exactly when no eigenvalue of S is negative; the eigenvalues always "
    "sum to K (the trace). **ETF**: one zero (its vectors sum to zero) and K−1 equal eigenvalues K/(K−1) — "
    "perfectly spread. **HAFrame**: small eigenvalues belong to differences between siblings, large ones to the "
    "coarse groups; at m = m\\* the smallest is exactly 0 and the frame spans K−1 dimensions. **Feasibility**: "
    "λ_min(S(m)) is negative left of m\\* (red: no frame exists) and positive right of it. *exact* takes m\\*, "
    "*grid* the reference's first grid value ≥ m\\* (up to 0.01 higher, a little less spread), *value* your own.")
SECTIONS = ["Cosine by distance", "Pair inspector", "Spectrum and feasibility", "The frame in 3-D", "Exact view",
            "Downloads"]
SEARCH_MIN_K = 1200  # above this many classes the class pickers search (a few matches) instead of listing all
SEARCH_LIMIT = 50


def controls(hierarchy: Hierarchy, source: str) -> dict:
    """The page's settings row; returns them as a dict (m still unresolved: ``min_similarity``)."""
    k, tag = hierarchy.num_classes, fv.tag(source)  # widgets whose options depend on the hierarchy: a key each
    c1, c2, c3, c4, c5 = st.columns([1.1, 1.5, 1.6, 1.0, 1.3])
    mapping = c1.radio("Mapping", MAPPINGS, key="frames_mapping")
    gamma = c2.slider("γ (decay rate)", 0.5, 10.0, 2.0, 0.5, key="frames_gamma", disabled=mapping == "linear",
                      help="Exponential mapping s(d) = (1 − m)·exp(−γ·d/D_max) + m: larger γ lets cosines fall faster "
                           "with the distance d. The linear mapping has no γ.")
    mode = c3.radio("min similarity m", ["exact", "grid", "value"], horizontal=True, key="frames_mode",
                    help="exact: the closed-form bound m*; grid: the reference's 100-point search; value: your own m")
    star = fv.m_star(source, hierarchy, mapping, gamma)
    min_similarity = mode
    if mode == "value":
        st.session_state.setdefault("frames_m_value", round(star + 0.05, 3))
        min_similarity = c3.number_input("m", -1.0, 0.99, step=0.01, format="%.4f", key="frames_m_value")
    dim = int(c4.number_input("dimension d", min_value=k, max_value=max(8 * k, 4096), value=k, step=1,
                              key=f"frames_dim_{tag}", help="Feature dimension d ≥ K of the classifier."))
    rotation = c5.radio("rotation", ["deterministic", "seeded random"], horizontal=True, key="frames_rotation")
    seed = int(c5.number_input("seed", 0, 2**31 - 1, 0, key="frames_seed")) if rotation == "seeded random" else None
    d1, d2, d3 = st.columns(3)
    fitted = d1.toggle("Colour scale fitted to the off-diagonal cosines", key="frames_fitted",
                       help="−1…1 shows where cosines sit absolutely; fitted stretches the colours over the range the "
                            "class pairs actually use, so the tree's steps stand out (and HAFrame and ETF look "
                            "different).")
    cells = d2.toggle("Values in the cells", key="frames_cells", disabled=k > fv.CELL_TEXT_MAX_K,
                      help=f"Prints each cosine in its cell (up to {fv.CELL_TEXT_MAX_K} classes; more than "
                           f"{340 // fv.CELL_TEXT_MIN_PX} only in the presenter layout, where the cells are large "
                           "enough).")
    presenter = d3.toggle("Presenter layout (large figures, one at a time)", key="frames_presenter")
    return dict(mapping=mapping, gamma=gamma, mode=mode, star=star, min_similarity=min_similarity, dim=dim,
                rotation=rotation, seed=seed, fitted=fitted, cells=cells, presenter=presenter, tag=tag)


def heatmaps(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    """The three target-cosine heatmaps (side by side, or one per tab in the presenter layout)."""
    k, info = hierarchy.num_classes, fv.tree_info(source, hierarchy)
    st.subheader("Target cosines")
    st.markdown(
        f"Each cell is the cosine the classifier asks for between two classes (rows and columns in tree order). "
        f"**HAFrame**: the cosine depends only on the LCA distance d, so siblings (small d, the outlined blocks) sit "
        f"close and classes from different branches far apart. **m** = {m:.4f} is the floor the cosines decay "
        f"towards; **m\\*** = {cfg['star']:.4f} is the most negative m for which K unit vectors with these cosines "
        f"exist — below it the matrix has a negative eigenvalue. **ETF**: every pair at −1/(K−1) = {-1 / (k - 1):.4f},"
        f" the widest equal spread K vectors allow, blind to the tree. **Difference**: where the HAFrame pulls pairs "
        f"together (positive) or pushes them further apart (negative) than the ETF.")
    levels = [lvl for lvl, n in info.groups.items() if 1 < n < k]
    outline = st.selectbox("Outline groups at level", levels or [0], key=f"frames_outline_{cfg['tag']}",
                           format_func=lambda lvl: f"level {lvl} ({info.groups[lvl]} groups)" if lvl else "none")
    height = 680 if cfg["presenter"] else 340
    places = st.tabs(list(fv.HEATMAP_TITLES.values()), key="frames_heat_tab", on_change="rerun") \
        if cfg["presenter"] else st.columns(3)
    for place, (kind, title) in zip(places, fv.HEATMAP_TITLES.items()):
        if getattr(place, "open", True) is False:  # presenter tabs are lazy: only the open one is drawn
            continue
        settings = ("linear", 0.0, 0.0) if kind == "etf" else (cfg["mapping"], cfg["gamma"], m)  # the ETF: one figure
        if k <= fv.HOVER_MAX_K:  # plotly cells: the hover names both classes and their LCA
            fig = fv.heatmap_of(source, hierarchy, kind, *settings, cfg["fitted"], outline or 0, height, cfg["cells"])
            figures[f"heatmap_{kind}"] = fig
            place.plotly_chart(fig, key=f"frames_heat_{kind}")
            continue
        # Large K: a plain picture (the browser decodes a PNG instead of plotly laying out an image trace each γ)
        png = fv.heatmap_png(source, hierarchy, kind, *settings, cfg["fitted"], outline or 0)
        figures[f"heatmap_{kind}"] = png
        box = place.container(key=f"frames_heat_{kind}")
        box.markdown(f"**{title}**" if not cfg["presenter"] else f"### {title}")
        box.image(png, width="stretch", caption="rows and columns: classes in tree order (use the pair inspector "
                                                "below for names)" + (f"; every {fv.image_step(k)}-th class"
                                                                       if fv.image_step(k) > 1 else ""))


def class_picker(place, label: str, labels: list[str], key: str, index: int = 0) -> int | None:
    """A tree position picked by name or position: every class listed up to SEARCH_MIN_K classes, beyond
    that a search box whose first SEARCH_LIMIT matches are listed (10,000 options would be sent every run)."""
    fmt = lambda p: f"{p} · {labels[p]}"  # noqa: E731
    if len(labels) <= SEARCH_MIN_K:
        return place.selectbox(label, range(len(labels)), index=index, format_func=fmt, key=key)
    query = place.text_input(f"{label}: search by name or position", key=f"{key}_q", placeholder=str(index))
    found = fv.search_classes(labels, query or str(index), SEARCH_LIMIT)
    if not found:
        place.caption(f"No class matches “{query}”.")
        return None
    return place.selectbox(f"{label} ({len(found)} shown)" if len(found) == SEARCH_LIMIT else label, found,
                           format_func=fmt, key=f"{key}_{zlib.crc32((query or '').encode()):08x}")


def pair_inspector(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    info, k = fv.tree_info(source, hierarchy), hierarchy.num_classes
    st.markdown(f"**Pair inspector** — with {k} classes the heatmaps are images whose hover gives tree-order "
                "positions only; pick two classes (type to search by position or name) to read their cosines.")
    p1, p2 = st.columns(2)
    a = class_picker(p1, "class A", info.labels, f"frames_pair_a_{cfg['tag']}")
    b = class_picker(p2, "class B", info.labels, f"frames_pair_b_{cfg['tag']}", index=1)
    if a is None or b is None:
        return
    d = int(info.tree.distances_between(np.array([a]), np.array([b]))[0, 0])
    ancestor = hierarchy.names[int(info.tree.lca(np.array([a]), np.array([b]))[0, 0])]
    cos = 1.0 if d == 0 else info.s_of_d(cfg["gamma"], cfg["mapping"], m)[d]
    etf_cos = 1.0 if d == 0 else -1.0 / (k - 1)
    st.markdown(f"LCA **{hierarchy.display(ancestor)}** · distance d = {d} · HAFrame cos **{cos:.4f}** · "
                f"ETF cos **{etf_cos:.4f}** · difference {cos - etf_cos:+.4f}")


def by_distance(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    k, info = hierarchy.num_classes, fv.tree_info(source, hierarchy)
    mapping, gamma = cfg["mapping"], cfg["gamma"]
    left, right = st.columns([3, 2])
    built = k <= fv.BUILD_MAX_K
    stats = fv.realised_stats(source, hierarchy, mapping, gamma, m, cfg["dim"], cfg["seed"]) if built else None
    figures["cosine_by_distance"] = fv.distance_figure(stats, fv.target_levels(info, gamma, mapping, m))
    left.plotly_chart(figures["cosine_by_distance"], key="frames_levels")
    right.markdown(
        "#### Cosine by distance\n"
        + ("The boxes hold every class pair's cosine in the built frame (W·Wᵀ), grouped by LCA distance d; the dotted "
           "lines are the targets s(d). Every pair at the same distance gets the same cosine — the boxes are flat — "
           if built else
           f"The dotted lines are the targets s(d) (with {k} classes the page does not build the frames just to draw "
           "boxes; the download builds the exact frame). Every pair at the same distance gets the same cosine ")
        + "because the frame sees the tree only through LCA depths. The HAFrame's staircase falls with d (exponentially "
        "for the exponential mapping, down towards m); the ETF's line is flat at −1/(K−1): a mistake between siblings "
        "costs as much as one between kingdoms.")
    if mapping == "exponential":
        gammas = tuple(sorted({*fv.OVERLAY_GAMMAS, float(gamma)}))
        figures["gamma_overlay"] = fv.gamma_overlay_figure(fv.gamma_curves(source, hierarchy, gammas), -1.0 / (k - 1),
                                                           gamma)
        left, right = st.columns([3, 2])
        left.plotly_chart(figures["gamma_overlay"], key="frames_gamma_overlay")
        right.markdown("#### Several γ at once\nEach curve is the exact frame's s(d) for one γ (each at its own m\\*, "
                       "the thick one is the slider's). Small γ keeps distant classes nearly as close as siblings; "
                       "large γ separates every branch almost as much as the ETF separates everything, and only the "
                       "closest relatives stay near each other.")


def spectrum_section(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    left, right = st.columns(2)
    ms, lam = fv.feasibility(source, hierarchy, cfg["mapping"], cfg["gamma"], m)
    figures["spectrum"] = fv.spectrum_figure(fv.spectrum(source, hierarchy, cfg["mapping"], cfg["gamma"], m))
    figures["feasibility"] = fv.feasibility_figure(ms, lam, cfg["star"], m)
    left.plotly_chart(figures["spectrum"], key="frames_spectrum")
    right.plotly_chart(figures["feasibility"], key="frames_feasibility")
    st.markdown(FEASIBILITY_TEXT)


def view_3d(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    info = fv.tree_info(source, hierarchy)
    left, right = st.columns([3, 1])
    colour_level = right.selectbox("Colour by ancestor at level", list(info.groups), key=f"frames_colour_{cfg['tag']}",
                                   format_func=lambda lvl: f"level {lvl} ({info.groups[lvl]} groups)")
    coords, share = fv.coordinates_3d(source, hierarchy, cfg["mapping"], cfg["gamma"], m)
    names = [hierarchy.display(n) for n in hierarchy.leaves]
    shown, crowded, on_rings = fv.spread_coincident(coords, names)
    exact = share > 1 - 1e-9
    view = "exact (the vectors span at most 3 dimensions)" if exact else \
        f"PCA: the top 3 principal axes keep {share:.1%} of the frame's variance (‖W‖² = K)"
    groups = [hierarchy.display(g) for g in hierarchy.ancestor_at(colour_level)]
    figures["frame_3d"] = fv.frame_3d_figure(
        shown, names, groups, f"HAFrame vectors ({'exact' if exact else f'PCA, {share:.1%} of the variance'})")
    left.plotly_chart(figures["frame_3d"], key="frames_3d")
    rings = (f" **{on_rings} classes project onto {crowded} shared points** (they differ only in the dropped "
             "dimensions): each such group is spread on a small ring around its point so every class has its own "
             "dot — for their true angles use the exact view." if crowded else "")
    right.markdown(
        f"View: **{view}**. Each point is one class's unit vector; classes sharing an ancestor cluster together, and "
        f"the clusters themselves follow the tree. Projection shrinks vectors towards the origin when K > 3.{rings}\n\n"
        f"**d = {cfg['dim']}, rotation {cfg['rotation']}.** The cosines fix the frame only up to a rotation, so d and "
        f"the rotation change no figure on this page — only the exported weights.")


def exact_section(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    info, k = fv.tree_info(source, hierarchy), hierarchy.num_classes
    names = [hierarchy.display(n) for n in hierarchy.leaves]
    st.markdown("**Exact view** — any 3 or 4 classes span at most 4 dimensions, so nothing has to be projected away.")
    e1, e2 = st.columns([3, 2])
    subtrees = fv.exact_subtrees(source, hierarchy)
    pick = None
    if len(subtrees) <= SEARCH_MIN_K:
        pick = e2.selectbox("…or a whole subtree of 2–4 classes", [None, *subtrees],
                            key=f"frames_exact_subtree_{cfg['tag']}",
                            format_func=lambda n: "—" if n is None else hierarchy.display(hierarchy.names[n]))
    if pick is not None:
        chosen = [int(info.order[p]) for p in range(info.tree.start[pick], info.tree.stop[pick])]
    elif k <= SEARCH_MIN_K:
        chosen = e1.multiselect("Classes (3 or 4; type to search)", range(k), max_selections=4,
                                default=fv.default_exact_classes(info, hierarchy.group_spans(1)),
                                format_func=lambda i: names[i], key=f"frames_exact_{cfg['tag']}")
    else:  # 10,000 options would travel with every run: pick each class by search
        cols = e1.columns(4)
        default = [int(np.argsort(info.order)[i]) for i in fv.default_exact_classes(info, hierarchy.group_spans(1))]
        picked = [class_picker(col, f"class {n + 1}", info.labels, f"frames_exact_{n}_{cfg['tag']}",
                               index=default[n] if n < len(default) else 0) for n, col in enumerate(cols[:3])]
        chosen = list(dict.fromkeys(int(info.order[p]) for p in picked if p is not None))
    if len(chosen) < 2:
        st.info("Pick at least two classes.")
        return
    target = info.s_of_d(cfg["gamma"], cfg["mapping"], m)
    idx = np.argsort(info.order)[chosen]  # tree positions of the chosen classes
    pair_d = info.tree.distances_between(idx, idx)
    gram = np.array([[1.0 if d == 0 else target[int(d)] for d in row] for row in pair_d])
    xyz, tips = fv.exact_view(gram)
    palette = fv.plots.palette(len(chosen))
    figures["exact_view"] = fv.exact_figure(xyz, [names[i] for i in chosen], tips, palette[:len(chosen)])
    x1, x2 = st.columns([3, 2])
    x1.plotly_chart(figures["exact_view"], key="frames_exact_view")
    x2.dataframe(pd.DataFrame(fv.angles_table(gram, [names[i] for i in chosen])), hide_index=True,
                 key="frames_exact_angles")
    x2.caption("Three classes: the vectors themselves, exact. Four: their tips form a tetrahedron whose edges are "
               "the exact chord lengths √(2 − 2·cos) (the origin lies off that 3-D slice). The table is the "
               "Gram matrix as angles.")


def figure_downloads(figures: dict) -> None:
    """One download per figure: a standalone HTML page (plotly.js from its CDN), or the PNG of a large-K heatmap."""
    with st.container(horizontal=True):
        for fig_name, fig in figures.items():
            if isinstance(fig, bytes):
                st.download_button(f"{fig_name.replace('_', ' ')} (png)", fig, f"{fig_name}.png", "image/png",
                                   key=f"frames_dl_{fig_name}", on_click="ignore", icon=":material/download:")
            else:
                st.download_button(f"{fig_name.replace('_', ' ')}", partial(fv.figure_html, fig), f"{fig_name}.html",
                                   "text/html", key=f"frames_dl_{fig_name}", on_click="ignore",
                                   icon=":material/download:")


def downloads(hierarchy: Hierarchy, source: str, cfg: dict, m: float, figures: dict) -> None:
    """The frame's files (built on click) and the heatmaps; each tab offers its own figures under them."""
    name = f"haframe_{fv.slug(hierarchy.name)}_K{hierarchy.num_classes}_d{cfg['dim']}"
    mimes = {"npy": "application/octet-stream", "pt": "application/octet-stream", "csv": "text/csv"}
    settings = (cfg["mapping"], cfg["gamma"], m, cfg["dim"], cfg["seed"])
    st.markdown("**The frame** (HAFrame weights, built on click)")
    with st.container(horizontal=True):
        for fmt in EXPORT_FORMATS:
            st.download_button(f"frame .{fmt}", partial(fv.export_haframe, source, hierarchy, settings, fmt),
                               f"{name}.{fmt}", mimes[fmt], key=f"frames_dl_{fmt}", on_click="ignore",
                               icon=":material/download:")
    st.markdown("**The heatmaps** (standalone HTML pages; PNG pictures above 200 classes). The other figures: "
                "under their own tab.")
    figure_downloads(figures)
    st.caption("Frame files hold the HAFrame's K × d weights in class-index order (.pt also holds the target matrix "
               "and m; .csv names each row's class). Figures are standalone HTML pages (plotly.js from its CDN).")


@st.fragment
def frames_body(hierarchy: Hierarchy, source: str) -> None:
    """Everything below the hierarchy picker: a control change reruns only this."""
    cfg = controls(hierarchy, source)
    try:
        m = fv.resolve_m(source, hierarchy, cfg["mapping"], cfg["gamma"], cfg["min_similarity"])
    except FrameError as err:  # keep the explanation on screen: the curve shows where the entered m lies
        st.error(str(err), icon=":material/block:")
        entered = float(cfg["min_similarity"]) if cfg["mode"] == "value" else cfg["star"]
        ms, lam = fv.feasibility(source, hierarchy, cfg["mapping"], cfg["gamma"], entered)
        st.plotly_chart(fv.feasibility_figure(ms, lam, cfg["star"], entered), key="frames_feasibility")
        st.markdown(FEASIBILITY_TEXT)
        return
    figures: dict = {}
    heatmaps(hierarchy, source, cfg, m, figures)
    sections = SECTIONS if hierarchy.num_classes > fv.HOVER_MAX_K else [s for s in SECTIONS if s != "Pair inspector"]
    draw = {"Cosine by distance": by_distance, "Pair inspector": pair_inspector, "Spectrum and feasibility":
            spectrum_section, "The frame in 3-D": view_3d, "Exact view": exact_section}
    # Lazy tabs: only the open section computes and sends its elements (a γ change redraws a few charts, not nine).
    for tab, section in zip(st.tabs(sections, key=f"frames_section_{len(sections)}", on_change="rerun"), sections):
        if tab.open:
            with tab:
                if section == "Downloads":
                    downloads(hierarchy, source, cfg, m, figures)
                    continue
                shown: dict = {}
                draw[section](hierarchy, source, cfg, m, shown)
                if shown:
                    st.caption("Download the figures of this tab (standalone HTML):")
                    figure_downloads(shown)


st.title("Frames")
st.caption("A frame is one fixed unit vector per class; the classifier pulls each class's features onto its vector. "
           "The HAFrame makes the cosine between two classes follow the tree, the simplex ETF spreads all classes "
           "equally.")
picked = choose_hierarchy()
if picked is None:
    st.stop()
frames_body(*picked)
