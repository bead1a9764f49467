"""Mistakes: how far up the hierarchy a run's wrong predictions meet the truth, epoch by epoch."""
import pandas as pd
import streamlit as st

from app import collapse_views as cv
from app.live import live_section
from app.live_chart import live_chart
from core import RunDir

st.title("Mistakes")
picked = cv.pick_run("mistakes_run")
if picked is None:
    st.stop()


@live_section
def mistakes(run: RunDir) -> None:
    """Everything drawn from the run's files: rerun alone at each new epoch."""
    hierarchy, epochs = cv.snapshots_or_wait(run, "Waiting for the first evaluation…")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    epoch = cv.epoch_slider(c1, "Epoch", epochs, "mistakes_epoch")
    crm = c2.toggle("CRM re-ranking", key="crm", help="Rank classes by expected hierarchical cost −p·D instead of "
                    "by score (Karthik et al., ICLR 2021) and recompute every view below.")
    try:
        bars, hist, confusion, pairs = cv.mistake_tables(run, hierarchy, epochs, epoch, crm)
    except KeyError as err:  # a snapshot from an older version without CRM predictions
        st.warning(f"{err.args[0]}; turn CRM re-ranking off.")
        cv.follow(run)
        st.stop()
    live_chart(bars, key="heights_over_epochs")
    left, right = st.columns([2, 3])
    live_chart(hist, key="heights_hist", container=left)
    live_chart(confusion, key="confusion", container=right)
    st.subheader("Most frequent confusions")
    if pairs:
        st.dataframe(pd.DataFrame(pairs), hide_index=True, key="pairs", column_config={
            "share": st.column_config.NumberColumn("% of true class", format="%.1f"),
            "lca": "lowest common ancestor", "distance": st.column_config.NumberColumn("LCA height")})
    else:
        st.info("No mistakes at this epoch.")
    st.caption("LCA height: the hierarchical distance of the prediction from the truth (1 = a sibling class, the "
               "tree's height = they meet only at the root). Counts are over the whole evaluation set. The confusion "
               "matrix shows each true class's predictions (% of its images) in tree order, diagonal left out, the "
               "tree's top-level groups outlined.")
    cv.follow(run)


mistakes(picked)
