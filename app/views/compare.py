"""Compare: runs side by side — settings beside final metrics, seed groups as mean ± 95 % CI, curves, exports."""
from functools import partial

import streamlit as st

from app import compare_views as cmp
from app import plots
from app.common import labelled_key, run_label
from app.live import in_section_run, live_section, watch
from app.live_chart import live_chart
from core import schema
from core.published import SOURCE

st.title("Compare runs")
infos, problems = cmp.load_runs()
for problem in problems:
    st.warning(problem)
if not infos:
    st.info("No runs yet: start one on the Train page or with `python -m core.train`.")
    st.stop()

by_name = {i.run.name: i for i in infos}
first_scope = infos[0].comparable
labels = {name: run_label(info.run) for name, info in by_name.items()}
remembered = [n for n in st.session_state.get("compare_runs", []) if n in by_name]
chosen = st.multiselect("Runs", list(by_name), format_func=labels.get,
                        key=labelled_key("compare_runs", list(labels.values())),
                        default=remembered or [i.run.name for i in infos if i.comparable == first_scope][:8])
st.session_state["compare_runs"] = chosen
selected = [by_name[n] for n in chosen if n in by_name]
if not selected:
    st.info("Pick runs to compare.")
    st.stop()


@live_section
def compare(selected: list) -> None:
    """Everything drawn from the chosen runs' files: rerun alone when a live one among them writes."""
    if in_section_run():  # the infos are those of the last whole-page run: re-read what changed since
        selected = cmp.reload(selected)
    scopes = sorted({i.scope for i in selected})
    if len({i.comparable for i in selected}) > 1:
        st.warning(f"These runs use different datasets or hierarchies ({'; '.join(scopes)}): their mistake severities "
                   "and hierarchical distances are measured in different trees and are not comparable.")
    c1, c2 = st.columns(2)
    group = c1.toggle("Group runs that differ only by seed (mean ± 95 % CI)", value=True, key="group_seeds")
    reference = c2.toggle("Show published reference rows", value=True, key="reference_rows",
                          help=f"{SOURCE}: Tables 1, 2, 4, 5; 5 seeds; not measured by this app.")

    table = cmp.final_table(selected, group, reference)
    st.dataframe(table, hide_index=True, column_config=cmp.table_config(table), placeholder=cmp.MISSING,
                 key="final_table")
    st.caption("Last evaluated epoch of each run (seed groups: mean, “±” the 95 % t-interval half-width, sample std). "
               f"Rows whose source is “{SOURCE}” are that paper's published numbers (mistake severity and HD@k as LCA "
               "heights), shown for reference only — never results of this app; the HAFrame paper's own tables were not "
               f"available. {cmp.MISSING_HELP}")
    d1, d2 = st.columns(2)  # the files are written when clicked, not at every epoch of a live run
    d1.download_button("Table as CSV", partial(cmp.table_csv, table), "compare_table.csv", "text/csv",
                       key="csv_table", on_click="ignore", icon=":material/download:")
    d2.download_button("Every run's metrics as CSV", partial(cmp.metrics_csv, selected), "run_metrics.csv",
                       "text/csv", key="csv_metrics", on_click="ignore", icon=":material/download:")

    keys = schema.keys_in([r for i in selected for r in i.rows])
    if not keys:
        st.info("None of these runs has finished an evaluation yet.")
        watch(*(i.run for i in selected))
        st.stop()
    m1, m2 = st.columns([3, 1])
    key = m1.selectbox("Metric over epochs", keys, index=keys.index("top1") if "top1" in keys else 0,
                       format_func=schema.label, key="compare_metric")
    window = m2.slider("Smoothing (epochs)", 1, 10, 1, key="smoothing")
    title = schema.label(key) + (" — different hierarchies, not comparable" if len(scopes) > 1
                                 and schema.metric(key).group == "severity" else "")
    live_chart(plots.band_curves(cmp.curve_series(selected, key, group, window), key, title), key="compare")

    st.subheader("Collapse and mistakes side by side")
    cmp.side_by_side(selected, group)
    with st.expander("Name, annotate or delete a run"):
        cmp.manage(infos)
    watch(*(i.run for i in selected))  # live runs among them: this section reruns when their files change


compare(selected)
