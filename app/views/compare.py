"""Compare: final metrics and curves of several runs side by side."""
import pandas as pd
import streamlit as st

from app import plots
from app.common import RUNS_ROOT
from core import list_runs

CURVES = ["top1", "mistake_severity", "hdist@1", "hdist@5", "frame_dev_mean", "haf_dev_mean", "train_loss"]
COLUMNS = ["run", "classifier", "dataset", "epoch", *CURVES[:-1]]

st.title("Compare runs")
runs = {r.name: r for r in list_runs(RUNS_ROOT)}
if not runs:
    st.info("No runs yet: start one on the Train page or with `python -m core.train`.")
    st.stop()
chosen = st.multiselect("Runs", list(runs), default=list(runs)[:3])
metrics, rows = {}, []
for name in chosen:
    history = runs[name].metrics()
    try:
        config = runs[name].config()
    except (OSError, ValueError) as err:  # a damaged or foreign config.json: skip the run, say why
        st.warning(f"Skipping {name}: its config.json cannot be read ({err}).")
        continue
    if history:
        metrics[name] = history
        rows.append({"run": name, "classifier": config.frame.head, "dataset": config.data.name, **history[-1]})
if not metrics:
    st.info("Pick runs that have finished at least one epoch.")
    st.stop()
SHORT = {"top1": "top-1 %", "mistake_severity": "severity", "frame_dev_mean": "frame dev",
         "haf_dev_mean": "HAFrame dev"}
st.dataframe(pd.DataFrame(rows).reindex(columns=COLUMNS), hide_index=True,
             column_config={key: st.column_config.NumberColumn(SHORT.get(key, key), help=plots.metric_name(key),
                                                                format="%.3f") for key in CURVES[:-1]})
st.caption("Last evaluated epoch of each run. Top-1 in %; mistake severity and hier. distance in tree "
           "levels (lower is better); deviations are mean |cos − target| over class pairs.")
key = st.selectbox("Curve", CURVES, format_func=plots.metric_name, width=320)
st.plotly_chart(plots.compare_curves(metrics, key), key="compare")
