"""Collapse: penultimate features of a run, epoch by epoch, against its frame."""
import numpy as np
import streamlit as st

from app import plots
from app.common import RUNS_ROOT, projector, run_label
from app.projector import pca_2d
from core import list_runs
from core.metrics import cosine_matrix

st.title("Collapse")
runs = list_runs(RUNS_ROOT)
if not runs:
    st.info("No runs yet: start one on the Train page or with `python -m core.train`.")
    st.stop()
names = [r.name for r in runs]
active = st.session_state.get("active_run")
run = runs[st.selectbox("Run", range(len(runs)), index=names.index(active) if active in names else 0,
                        format_func=lambda i: run_label(runs[i]))]
status = run.status()
live = status.get("state") in ("running", "created")
try:
    hierarchy = run.hierarchy()
except (OSError, ValueError):  # not written yet, or a damaged/foreign run directory
    if status.get("state") == "failed":
        st.error(f"This run failed before its first evaluation: {status.get('error')}")
    elif live:
        st.info("This run is still preparing its data; its features appear here after the first evaluation.")
    else:
        st.error(f"Run {run.name} has no readable hierarchy.json, so its features cannot be shown.")
    st.stop()

groups_at = {lvl: len(set(hierarchy.ancestor_at(lvl))) for lvl in range(hierarchy.height, 0, -1)}
levels = list(groups_at)
readable = [lvl for lvl in levels if groups_at[lvl] <= 24]  # colours stay distinguishable
c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
method = c1.radio("Projection", ["UMAP", "PCA"], horizontal=True)
level = c2.selectbox("Colour by", levels, index=levels.index(readable[0]) if readable else 0,
                     format_func=lambda lvl: "class" if lvl == hierarchy.height
                     else f"ancestor at depth {lvl} ({groups_at[lvl]} groups)")
follow = c3.toggle("Follow the latest epoch", value=live)


@st.fragment(run_every=1.0)
def wait_for_umap(key, features) -> None:
    """Poll the background UMAP; rerun the page once it is ready (or has failed)."""
    try:
        ready = projector().umap(key, features) is not None
    except RuntimeError:
        ready = True  # the page rerun shows the failure
    if ready:
        st.rerun()


@st.fragment(run_every=2.0 if live else None)
def view() -> None:
    epochs = run.snapshot_epochs()
    if not epochs:
        st.info("Waiting for the first snapshot…")
        return
    epoch = epochs[-1] if follow or len(epochs) == 1 else st.select_slider("Epoch", epochs, value=epochs[-1])
    snap = run.snapshot(epoch)
    features, labels = snap["features"], snap["labels"]
    points, note = pca_2d(features), "PCA"
    if method == "UMAP":
        try:
            umap_points = projector().umap((run.name, epoch), features)
        except RuntimeError as err:  # UMAP failed on this snapshot: say so and keep PCA
            st.warning(f"{err}; showing PCA instead.")
        else:
            if umap_points is not None:
                points, note = umap_points, "UMAP"
            else:
                note = "PCA (UMAP is computing; it replaces this when ready)"
                if not live:  # a live view reruns anyway
                    wait_for_umap((run.name, epoch), features)
    ancestors = hierarchy.ancestor_at(level)
    order = hierarchy.tree_order()
    colour = [hierarchy.display(ancestors[y]) for y in labels]
    hover = [hierarchy.display(hierarchy.leaves[y]) for y in labels]
    groups = list(dict.fromkeys(hierarchy.display(ancestors[i]) for i in order))
    branch_of = dict(zip((hierarchy.display(a) for a in ancestors), hierarchy.ancestor_at(min(1, level))))
    colours = plots.tree_palette(groups, [branch_of[g] for g in groups])
    st.plotly_chart(plots.projection_scatter(points, colour, hover, f"Epoch {epoch} features · {note}", groups,
                                             colours), key="scatter")

    tick = [hierarchy.display(hierarchy.leaves[i]) for i in order]
    means = snap["class_means"]
    target = run.frame()["target"]
    left, right = st.columns(2)
    left.plotly_chart(plots.cosine_heatmap(cosine_matrix(np.nan_to_num(means))[np.ix_(order, order)], tick,
                                           f"Class-mean cosines, epoch {epoch}"), key="means")
    right.plotly_chart(plots.cosine_heatmap(target[np.ix_(order, order)], tick, "Target cosines (the frame)"),
                       key="target")
    rows = run.metrics()
    same = all(r.get("frame_dev_mean") is not None and r.get("haf_dev_mean") is not None
               and abs(r["frame_dev_mean"] - r["haf_dev_mean"]) < 1e-9 for r in rows)  # frame = HAFrame
    keys = ["frame_dev_mean", "frame_dev_std"] + ([] if same else ["haf_dev_mean"])
    st.plotly_chart(plots.metric_curves(rows, keys, "Deviation from the target over epochs"), key="devcurve")
    st.caption("Frame deviation: mean |cos(μᵢ, μⱼ) − targetᵢⱼ| over class pairs (and its std) against this "
               "run's frame (for a learnable head: centred means against the simplex ETF); HAFrame deviation: the "
               "same against the hierarchy's HAFrame"
               + (" (not drawn: this run's frame is that HAFrame, so the two lines coincide)" if same else "")
               + ". Class means μ are over the whole test set; the scatter shows a class-balanced subset of it.")


view()
