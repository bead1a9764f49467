"""Frames: the Hierarchy-Aware Frame next to the simplex ETF — targets, spectrum, feasibility, 3-D view."""
from functools import partial

import streamlit as st

from app import frame_views as fv
from app.common import choose_hierarchy
from core import FrameError
from core.frames import EXPORT_FORMATS, MAPPINGS, export_frame

st.title("Frames")
st.caption("A frame is one fixed unit vector per class; the classifier pulls each class's features onto its vector. "
           "The HAFrame makes the cosine between two classes follow the tree, the simplex ETF spreads all classes "
           "equally.")
picked = choose_hierarchy()
if picked is None:
    st.stop()
hierarchy, source = picked
info = fv.tree_info(source, hierarchy)
k = hierarchy.num_classes
args = (source, hierarchy)
tag = fv.tag(source)  # widgets whose options depend on the hierarchy get a key per hierarchy

# ----------------------------------------------------------------------------- controls
c1, c2, c3, c4, c5 = st.columns([1.1, 1.5, 1.6, 1.0, 1.3])
mapping = c1.radio("Mapping", MAPPINGS, key="frames_mapping")
gamma = c2.slider("γ (decay rate)", 0.5, 10.0, 2.0, 0.5, key="frames_gamma", disabled=mapping == "linear",
                  help="Exponential mapping s(d) = (1 − m)·exp(−γ·d/D_max) + m: larger γ lets cosines fall faster "
                       "with the distance d. The linear mapping has no γ.")
mode = c3.radio("min similarity m", ["exact", "grid", "value"], horizontal=True, key="frames_mode",
                help="exact: the closed-form bound m*; grid: the reference's 100-point search; value: your own m")
star = fv.m_star(*args, mapping, gamma)
min_similarity = mode
if mode == "value":
    st.session_state.setdefault("frames_m_value", round(star + 0.05, 3))
    min_similarity = c3.number_input("m", -1.0, 0.99, step=0.01, format="%.4f", key="frames_m_value")
dim = int(c4.number_input("dimension d", min_value=k, max_value=max(8 * k, 4096), value=k, step=1,
                          key=f"frames_dim_{tag}", help="Feature dimension d ≥ K of the classifier."))
rotation = c5.radio("rotation", ["deterministic", "seeded random"], horizontal=True, key="frames_rotation")
seed = int(c5.number_input("seed", 0, 2**31 - 1, 0, key="frames_seed")) if rotation == "seeded random" else None

try:
    haf, simplex = fv.frames(*args, mapping, gamma, min_similarity, dim, seed)
except FrameError as err:
    st.error(str(err))
    st.stop()
m = haf.min_similarity

# ----------------------------------------------------------------------------- heatmaps
st.subheader("Target cosines")
st.markdown(
    f"Each cell is the cosine the classifier asks for between two classes (rows and columns in tree order). "
    f"**HAFrame**: the cosine depends only on the LCA distance d, so siblings (small d, the outlined blocks) sit "
    f"close and classes from different branches far apart. **m** = {m:.4f} is the floor the cosines decay "
    f"towards; **m\\*** = {star:.4f} is the most negative m for which K unit vectors with these cosines exist — "
    f"below it the matrix has a negative eigenvalue. **ETF**: every pair at −1/(K−1) = {-1 / (k - 1):.4f}, the "
    f"widest equal spread K vectors allow, blind to the tree. **Difference**: where the HAFrame pulls pairs "
    f"together (positive) or pushes them further apart (negative) than the ETF.")
levels = [lvl for lvl, n in info.groups.items() if 1 < n < k]
outline = st.selectbox("Outline groups at level", levels or [0], key=f"frames_outline_{tag}",
                       format_func=lambda lvl: f"level {lvl} ({info.groups[lvl]} groups)" if lvl else "none")
spans = hierarchy.group_spans(outline) if outline else []
small = k <= fv.HOVER_MAX_K
mats = fv.cosine_matrices(info, haf.target) if small else None
lca = fv.hover_lca(*args) if small else None
figures = {}
titles = {"haframe": "HAFrame", "etf": "Simplex ETF", "difference": "HAFrame − ETF"}
for col, (kind, title) in zip(st.columns(3), titles.items()):
    scale = fv.DIFF_SCALE if kind == "difference" else fv.COSINE_SCALE
    if small:
        zmin, zmax = fv.colour_range(kind, mats[kind])
        fig = fv.heatmap_figure(title, info.labels, spans, zmin=zmin, zmax=zmax, scale=scale, z=mats[kind],
                                lca=lca, value_name="difference" if kind == "difference" else "cos")
    else:
        image = fv.cosine_image(*args, kind, mapping, gamma, m, haf.target)
        zmin, zmax = fv.colour_range(kind, haf.target - simplex.target) if kind == "difference" else (-1.0, 1.0)
        fig = fv.heatmap_figure(title, info.labels, spans, zmin=zmin, zmax=zmax, scale=scale, image=image)
    figures[f"heatmap_{kind}"] = fig
    col.plotly_chart(fig, key=f"frames_heat_{kind}")

if not small:
    with st.container(border=True):
        st.markdown(f"**Pair inspector** — with {k} classes the heatmaps are images whose hover gives tree-order "
                    "positions only; pick two classes (by position or name) to read their cosines.")
        p1, p2 = st.columns(2)
        label = lambda p: f"{p} · {info.labels[p]}"  # noqa: E731
        a = p1.selectbox("class A", range(k), format_func=label, key=f"frames_pair_a_{tag}")
        b = p2.selectbox("class B", range(k), index=1, format_func=label, key=f"frames_pair_b_{tag}")
        i, j = int(info.order[a]), int(info.order[b])
        ancestor = hierarchy.lca(hierarchy.leaves[i], hierarchy.leaves[j])
        st.markdown(f"LCA **{hierarchy.display(ancestor)}** · distance d = {info.distances[i, j]} · HAFrame cos "
                    f"**{haf.target[i, j]:.4f}** · ETF cos **{simplex.target[i, j]:.4f}** · difference "
                    f"{haf.target[i, j] - simplex.target[i, j]:+.4f}")

# ----------------------------------------------------------------------------- by distance
left, right = st.columns([3, 2])
stats = fv.cosine_stats(*args, (mapping, gamma, min_similarity, dim, seed), haf, simplex)
figures["cosine_by_distance"] = fv.distance_figure(stats, fv.target_levels(info, haf.target))
left.plotly_chart(figures["cosine_by_distance"], key="frames_levels")
right.markdown(
    "#### Cosine by distance\n"
    "The boxes hold every class pair's cosine in the built frame (W·Wᵀ), grouped by LCA distance d; the dotted "
    "lines are the targets s(d). Every pair at the same distance gets the same cosine — the boxes are flat — "
    "because the frame sees the tree only through LCA depths. The HAFrame's staircase falls with d (exponentially "
    "for the exponential mapping, down towards m); the ETF's line is flat at −1/(K−1): a mistake between siblings "
    "costs as much as one between kingdoms.")

# ----------------------------------------------------------------------------- spectrum and feasibility
st.subheader("Spectrum and feasibility")
left, right = st.columns(2)
eigenvalues, coords, share, (ms, lam) = fv.spectral_views(*args, mapping, gamma, m, haf.target)
figures["spectrum"] = fv.spectrum_figure(eigenvalues)
figures["feasibility"] = fv.feasibility_figure(ms, lam, star, m)
left.plotly_chart(figures["spectrum"], key="frames_spectrum")
right.plotly_chart(figures["feasibility"], key="frames_feasibility")
st.markdown(
    "K unit vectors with cosine matrix S exist exactly when no eigenvalue of S is negative; the eigenvalues always "
    "sum to K (the trace). **ETF**: one zero (its vectors sum to zero) and K−1 equal eigenvalues K/(K−1) — "
    "perfectly spread. **HAFrame**: small eigenvalues belong to differences between siblings, large ones to the "
    "coarse groups; at m = m\\* the smallest is exactly 0 and the frame spans K−1 dimensions. **Feasibility**: "
    "λ_min(S(m)) is negative left of m\\* (red: no frame exists) and positive right of it. *exact* takes m\\*, "
    "*grid* the reference's first grid value ≥ m\\* (up to 0.01 higher, a little less spread), *value* your own.")

# ----------------------------------------------------------------------------- 3-D view
st.subheader("The frame in 3-D")
left, right = st.columns([3, 1])
colour_level = right.selectbox("Colour by ancestor at level", list(info.groups), key=f"frames_colour_{tag}",
                               format_func=lambda lvl: f"level {lvl} ({info.groups[lvl]} groups)")
exact = share > 1 - 1e-9
view = "exact (the vectors span at most 3 dimensions)" if exact else \
    f"PCA: the top 3 principal axes keep {share:.1%} of ‖W‖²"
figures["frame_3d"] = fv.frame_3d_figure(coords, [hierarchy.display(n) for n in hierarchy.leaves],
                                         [hierarchy.display(g) for g in hierarchy.ancestor_at(colour_level)],
                                         f"HAFrame vectors ({'exact' if exact else 'PCA'})")
left.plotly_chart(figures["frame_3d"], key="frames_3d")
right.markdown(
    f"View: **{view}**. Each point is one class's unit vector; classes sharing an ancestor cluster together, and "
    f"the clusters themselves follow the tree. Projection shrinks vectors towards the origin when K > 3.\n\n"
    f"**d = {dim}, rotation {rotation}.** The cosines fix the frame only up to a rotation, so d and the rotation "
    f"change no figure on this page — only the exported weights. With d > K the K-dimensional frame is placed in "
    f"R^d by a (seeded) random orthonormal map, or zero-padded when deterministic; choose d = your backbone's "
    f"feature width.")

# ----------------------------------------------------------------------------- downloads
st.subheader("Downloads")
name = f"haframe_{fv.slug(hierarchy.name)}_K{k}_d{dim}"
mimes = {"npy": "application/octet-stream", "pt": "application/octet-stream", "csv": "text/csv"}
st.markdown("**The frame** (HAFrame weights)")
with st.container(horizontal=True):
    for fmt in EXPORT_FORMATS:
        st.download_button(f"frame .{fmt}", partial(export_frame, haf, fmt, hierarchy.leaves), f"{name}.{fmt}",
                           mimes[fmt], key=f"frames_dl_{fmt}", on_click="ignore", icon=":material/download:")
st.markdown("**Figures** (standalone HTML)")
with st.container(horizontal=True):
    for fig_name, fig in figures.items():
        st.download_button(f"{fig_name.replace('_', ' ')}", partial(fv.figure_html, fig), f"{fig_name}.html",
                           "text/html", key=f"frames_dl_{fig_name}", on_click="ignore", icon=":material/download:")
st.caption("Frame files hold the HAFrame's K × d weights in class-index order (.pt also holds the target matrix and "
           "m; .csv names each row's class). Figures are standalone HTML pages (plotly.js from its CDN).")
