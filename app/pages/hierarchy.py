"""Hierarchy: the class tree, its distance matrix, and where any class sits."""
import pandas as pd
import streamlit as st

from app import plots
from app.common import choose_hierarchy, tree_labels

st.title("Hierarchy")
picked = choose_hierarchy()
if picked is None:
    st.stop()
hierarchy, source = picked

cols = st.columns(3)
cols[0].metric("classes (K)", hierarchy.num_classes)
cols[1].metric("height H", hierarchy.height)
cols[2].metric("nodes", hierarchy.num_nodes)

left, right = st.columns(2)
with left:
    st.subheader("Tree")
    parents = ["" if p < 0 else hierarchy.names[p] for p in hierarchy.parents]
    labels = [hierarchy.display(n) for n in hierarchy.names]
    st.plotly_chart(plots.tree_sunburst(list(hierarchy.names), parents, labels), key="sunburst")
    st.caption("Click a wedge to zoom into a branch; the centre is the root.")
with right:
    st.subheader("Distances")
    order, names = tree_labels(hierarchy)
    distances = hierarchy.distance_matrix()[order][:, order]
    st.plotly_chart(plots.distance_heatmap(distances, names), key="distances")
    st.caption("d(a, b) = H − depth(LCA(a, b)): siblings are 1 apart, classes meeting only at the root H apart. "
               "Classes in tree order, so subtrees form blocks.")

find, levels = st.columns([2, 1])
with find:
    st.subheader("Find a class")
    leaf = st.selectbox("Class", hierarchy.leaves, format_func=hierarchy.display)
    st.write(" → ".join(hierarchy.display(n) for n in hierarchy.ancestors(leaf)))
with levels:
    st.subheader("Nodes per level")
    counts = hierarchy.level_counts()
    st.dataframe(pd.DataFrame({"depth": range(len(counts)), "nodes": counts}), hide_index=True)
