"""HAFrame Studio — entry point: ``streamlit run app/main.py``."""
import os
import sys
from pathlib import Path

# Before torch (and its OpenMP) is loaded: a training thread of this server waits for its other OpenMP threads by
# spinning briefly (1000 turns), then sleeping. The server shares its cores with page runs and browsers: with
# OpenMP's default long spin a training whose second thread is pre-empted burns its own core waiting (a loaded
# 2-core machine once took 42–71 s per synthetic epoch), and with no spin at all (OMP_WAIT_POLICY=PASSIVE) every
# epoch pays a wake-up per parallel region. CLI, synthetic defaults, this 2-core machine, s per epoch: short spin
# 0.87 idle / 1.2 beside a process using 0.15 core / 2.3 beside two busy ones; passive 1.17 / 1.41 / 2.0; default
# spin 0.79 / 0.97 / 3.6–4.5. Set GOMP_SPINCOUNT or OMP_WAIT_POLICY in the environment to choose otherwise.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # make `core` and `app` importable

import streamlit as st  # noqa: E402

from app.common import hierarchy_badge, projector  # noqa: E402
from app.live import mark_page_run  # noqa: E402
from app.live_priority import page_thread  # noqa: E402

page_thread()  # this page run yields the cores to a training (app/live_priority.py)
st.set_page_config(page_title="HAFrame Studio", page_icon=":material/account_tree:", layout="wide")
projector()  # start compiling UMAP in the background as soon as the app is up

# Not "pages/": Streamlit would list that folder as a provisional menu before st.navigation runs.
PAGES = Path(__file__).parent / "views"
navigation = st.navigation([
    st.Page(PAGES / "primer.py", title="Primer", icon=":material/school:"),
    st.Page(PAGES / "hierarchy.py", title="Hierarchy", icon=":material/account_tree:", default=True),
    st.Page(PAGES / "frames.py", title="Frames", icon=":material/grid_on:"),
    st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
    st.Page(PAGES / "jobs.py", title="Jobs", icon=":material/queue:"),
    st.Page(PAGES / "collapse.py", title="Collapse", icon=":material/scatter_plot:"),
    st.Page(PAGES / "mistakes.py", title="Mistakes", icon=":material/rule:"),
    st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare_arrows:"),
])
hierarchy_badge()  # the hierarchy in use, named in the sidebar on every page
mark_page_run()  # app.live.watch: run files written after this moment make the page run again
navigation.run()
st.sidebar.caption("HAFrame Studio — hierarchy-aware neural collapse (Liang & Davis, ICCV 2023)")
