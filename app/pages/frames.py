"""Frames: the HAFrame's target cosines next to the simplex ETF's."""
import numpy as np
import streamlit as st

from app import plots
from app.common import choose_hierarchy, tree_labels
from core import FrameError, etf, haframe
from core.frames import cosine_by_distance, critical_min_similarity

st.title("Frames")
picked = choose_hierarchy()
if picked is None:
    st.stop()
hierarchy, _ = picked
distances = hierarchy.distance_matrix()

c1, c2, c3 = st.columns(3)
gamma = c1.slider("γ (decay rate)", 0.5, 10.0, 2.0, 0.5)
mapping = c2.radio("Mapping", ["exponential", "linear"], horizontal=True)
mode = c3.radio("min similarity m", ["exact", "grid", "value"], horizontal=True,
                help="exact: closed-form m*; grid: the reference's 100-point search; value: your own m")
m_star = critical_min_similarity(distances, gamma, mapping)
min_similarity = mode if mode != "value" else c3.number_input("m", -1.0, 0.99, round(m_star + 0.05, 3), 0.01)

try:
    hier = haframe(distances, gamma, min_similarity, seed=None, mapping=mapping)
except FrameError as err:
    st.error(str(err))
    st.stop()
simplex = etf(hierarchy.num_classes, seed=None)

order, names = tree_labels(hierarchy)
left, right = st.columns(2)
left.plotly_chart(plots.cosine_heatmap(hier.target[np.ix_(order, order)], names, "HAFrame target cosines"),
                  key="haf")
right.plotly_chart(plots.cosine_heatmap(simplex.target[np.ix_(order, order)], names, "Simplex ETF cosines"),
                   key="etf")
st.caption(f"m = {hier.min_similarity:.5f} (closed-form bound m* = {m_star:.5f}). In the HAFrame, siblings "
           "are close and distant branches far apart; the ETF keeps every pair at −1/(K−1).")
st.plotly_chart(plots.cosine_levels({"HAFrame": cosine_by_distance(hier.target, distances),
                                     "ETF": cosine_by_distance(simplex.target, distances)}), key="levels")
