"""Collapse: a run's penultimate features over its epochs (animated), against its frame."""
import streamlit as st

from app import collapse_views as cv
from app import plots
from app.live import live_section, metrics
from app.live_chart import live_chart
from core import RunDir, schema

st.title("Collapse")
picked = cv.pick_run("collapse_run")
if picked is None:
    st.stop()


@live_section
def collapse(run: RunDir) -> None:
    """Everything drawn from the run's files: rerun alone at each new epoch (and when a UMAP layout lands)."""
    hierarchy, epochs = cv.snapshots_or_wait(run, "Waiting for the first snapshot…")
    options = cv.colourings(hierarchy)
    c1, c2, c3 = st.columns([1, 2, 3], vertical_alignment="bottom")
    method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="projection")
    colouring = options[c2.selectbox("Colour by", range(len(options)), index=cv.default_colouring(options),
                                     format_func=lambda i: options[i].label, key="colour_by")]
    epoch = cv.epoch_slider(c3, "Epoch (heatmaps; the animation starts here)", epochs, "collapse_epoch")

    view = cv.projection(run, hierarchy, epochs, epoch, method, colouring)
    live_chart(view.figure, key="scatter")
    st.caption(f"{view.note}. ▶ Play animates the epochs; hover a point for its ancestor path, true and predicted "
               "class.")

    left, right = st.columns(2)
    means_fig, target_fig = cv.mean_heatmaps(run, hierarchy, epoch)
    live_chart(means_fig, key="means", container=left)
    live_chart(target_fig, key="target", container=right)

    rows = metrics(run)  # parsed once per change of metrics.jsonl
    keys = [k for k in schema.keys_in(rows, ("collapse",)) if not k.endswith(schema.TRAIN_SUFFIX)]
    haframe = run.frame_is_haframe()
    if haframe:  # this run's frame is the hierarchy's HAFrame: the two deviations are one number
        keys = [k for k in keys if not k.startswith("haf_dev")]
    chosen = st.multiselect("Collapse statistics over epochs", keys, default=[k for k in keys if k.startswith(
        "frame_dev_mean")] or keys[:1], format_func=schema.label, key="collapse_keys")
    pairs = [k for key in chosen for k in (key, key + schema.TRAIN_SUFFIX) if any(r.get(k) is not None for r in rows)]
    if pairs:
        live_chart(plots.metric_curves(rows, pairs, "Collapse statistics (test set; “· train”: training subsample)"),
                   key="devcurve")
    st.caption("Frame deviation: mean |cos(μᵢ, μⱼ) − targetᵢⱼ| over class pairs against this run's frame; centred: "
               "class means minus the global sample mean. NC1 = tr(Σ_W Σ_B⁺)/K; NC3: self-duality of classifier and "
               "class means; NC4: agreement of the prediction with the nearest class mean."
               + (" HAFrame deviation not offered: this run's frame is the hierarchy's HAFrame." if haframe else ""))
    cv.follow(run, view)


collapse(picked)
