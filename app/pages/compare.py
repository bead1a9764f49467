"""Compare: final metrics and curves of several runs side by side."""
import pandas as pd
import streamlit as st

from app import plots
from app.common import RUNS_ROOT
from core import list_runs

st.title("Compare runs")
runs = {r.name: r for r in list_runs(RUNS_ROOT)}
if not runs:
    st.info("No runs yet: start one on the Train page or with `python -m core.train`.")
    st.stop()
chosen = st.multiselect("Runs", list(runs), default=list(runs)[:3])
rows = []
for name in chosen:
    metrics = runs[name].metrics()
    if metrics:
        config = runs[name].config()
        rows.append({"run": name, "classifier": config.frame.head, "dataset": config.data.name, **metrics[-1]})
if not rows:
    st.info("Pick runs that have finished at least one epoch.")
    st.stop()
columns = ["run", "classifier", "dataset", "epoch", "top1", "mistake_severity", "hdist@1", "hdist@5",
           "frame_dev_mean", "haf_dev_mean"]
st.dataframe(pd.DataFrame(rows)[columns], hide_index=True)
key = st.selectbox("Curve", ["top1", "mistake_severity", "hdist@1", "hdist@5", "frame_dev_mean", "haf_dev_mean",
                             "train_loss"])
fig = None
for name in chosen:
    curve = plots.metric_curves(runs[name].metrics(), [key], key, series=name)
    fig = curve if fig is None else fig.add_traces(curve.data)
st.plotly_chart(fig, key="compare")
