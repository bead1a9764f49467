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
hierarchy = run.hierarchy()
live = run.status().get("state") in ("running", "created")

c1, c2, c3 = st.columns(3)
method = c1.radio("Projection", ["UMAP", "PCA"], horizontal=True)
level = c2.selectbox("Colour by", list(range(hierarchy.height, 0, -1)),
                     format_func=lambda l: "class" if l == hierarchy.height else f"ancestor at depth {l}")
follow = c3.toggle("Follow the latest epoch", value=live)


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
        umap_points = projector().umap((run.name, epoch), features)
        if umap_points is None:
            note = "PCA (UMAP is computing; it appears here when ready)"
        else:
            points, note = umap_points, "UMAP"
    ancestors = hierarchy.ancestor_at(level)
    colour = [hierarchy.display(ancestors[y]) for y in labels]
    hover = [hierarchy.display(hierarchy.leaves[y]) for y in labels]
    st.plotly_chart(plots.projection_scatter(points, colour, hover, f"Epoch {epoch} features · {note}"),
                    key="scatter")

    order = hierarchy.tree_order()
    tick = [hierarchy.display(hierarchy.leaves[i]) for i in order]
    means = snap["class_means"]
    target = run.frame()["target"]
    left, right = st.columns(2)
    left.plotly_chart(plots.cosine_heatmap(cosine_matrix(np.nan_to_num(means))[np.ix_(order, order)], tick,
                                           f"Class-mean cosines, epoch {epoch}"), key="means")
    right.plotly_chart(plots.cosine_heatmap(target[np.ix_(order, order)], tick, "Target cosines (the frame)"),
                       key="target")
    st.plotly_chart(plots.metric_curves(run.metrics(), ["frame_dev_mean", "frame_dev_std", "haf_dev_mean"],
                                        "Deviation from the target over epochs"), key="devcurve")
    st.caption("frame_dev: mean |cos(μᵢ, μⱼ) − targetᵢⱼ| and std of the difference over class pairs, against "
               "this run's frame; haf_dev: the same against the HAFrame of the hierarchy.")


view()
