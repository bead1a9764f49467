"""Hierarchy: the class tree, its distance matrix, where any class sits, and exports."""
import re

import numpy as np
import pandas as pd
import streamlit as st

from app import plots, tree_views
from app.common import choose_hierarchy, tree_labels
from core import HierarchyError
from core.formats import to_csv_edges, to_isa, to_json, to_newick

MAX_MATCHES = 200  # search results listed (the count says how many matched)
CONVENTIONS = {"depth": "depth: H − depth(LCA)", "height": "height: height of the LCA's subtree"}
TITLES = {"depth": "Hierarchical distance H − depth(LCA)", "height": "Hierarchical distance: height of the LCA"}

st.title("Hierarchy")
picked = choose_hierarchy()
if picked is None:
    st.stop()
hierarchy, source = picked
depths = hierarchy.depths
is_leaf = np.zeros(hierarchy.num_nodes, dtype=bool)
is_leaf[hierarchy.leaf_ids] = True

cols = st.columns(4)
cols[0].metric("classes (K)", hierarchy.num_classes)
cols[1].metric("height H", hierarchy.height)
cols[2].metric("nodes", hierarchy.num_nodes)
cols[3].metric("internal nodes", hierarchy.num_nodes - hierarchy.num_classes)

left, right = st.columns(2)
with left:
    st.subheader("Tree")
    sunburst, icicle, outline = st.tabs(["Sunburst", "Icicle", "Outline"], key="tree_view", on_change="rerun")
    parent_ids = hierarchy.parents.tolist()
    labels = [hierarchy.display(n) for n in hierarchy.names]
    below = tree_views.classes_below(parent_ids, is_leaf.tolist())
    if sunburst.open:
        fig, folded = tree_views.tree_sunburst(parent_ids, labels, list(hierarchy.names), below)
        sunburst.plotly_chart(fig, key="sunburst")
        sunburst.caption(f"Click a wedge to zoom into a branch (the centre zooms back out); {tree_views.SUNBURST_RINGS} "
                         "rings at a time." + (f" {folded:,} single-child nodes are folded into their chains "
                                               "(“a → … → z”), so the leaves stay within reach." if folded else ""))
    if icicle.open:
        fig, folded = tree_views.tree_icicle(parent_ids, labels, list(hierarchy.names), below)
        icicle.plotly_chart(fig, key="icicle")
        icicle.caption("The root on the left, one column per level; click a box to zoom into a branch."
                       + (f" {folded:,} single-child nodes folded into chains." if folded else ""))
    if outline.open:  # single-child chains folded as in the figures: a 5,000-level chain is a handful of lines
        kept, kept_parents, kept_labels, folded = tree_views.fold_chains(parent_ids, labels)
        has_child = np.zeros(len(kept), dtype=bool)
        has_child[[p for p in kept_parents if p >= 0]] = True
        with outline.container(height=460):
            st.html(plots.tree_outline_html(kept_parents, kept_labels, (~has_child).tolist()))
        outline.caption("Click a node to fold or unfold it; the number is how many classes lie below."
                        + (f" {folded:,} single-child nodes folded into chains." if folded else ""))
with right:
    st.subheader("Distances")
    convention = st.radio("Distance convention", list(CONVENTIONS), format_func=CONVENTIONS.get, horizontal=True,
                          key="convention")
    pairs = hierarchy.num_classes * (hierarchy.num_classes - 1) // 2
    if hierarchy.num_classes <= plots.MAX_HOVER_NAMES:  # plotly cells, class names in the hover
        order, class_names = tree_labels(hierarchy)
        distances = hierarchy.distance_matrix(convention)
        st.plotly_chart(plots.distance_heatmap(distances[np.ix_(order, order)], class_names, TITLES[convention]),
                        key="distances")
        other = hierarchy.distance_matrix("height" if convention == "depth" else "depth")
        differing = int((np.triu(distances != other, 1)).sum())
        here = ("for this hierarchy they are identical (every class sits at depth H)" if differing == 0
                else f"here they differ on {differing:,} of {pairs:,} class pairs")
    else:  # an image drawn from the tree at screen resolution: no K×K matrix, no per-cell JSON
        st.plotly_chart(tree_views.distance_image(source, hierarchy, convention, TITLES[convention]), key="distances")
        leaf_depths = hierarchy.depths[hierarchy.leaf_ids]
        here = ("for this hierarchy they are identical (every class sits at depth H)"
                if (leaf_depths == leaf_depths.max()).all()
                else "here they differ (classes sit at different depths)")
    st.caption("Classes in tree order, so subtrees form blocks. The two conventions differ only on unbalanced "
               f"trees (classes at different depths), such as tieredImageNet-H; {here}. Training runs use "
               "'depth', the reference's default.")

find, levels = st.columns([2, 1])
with find:
    st.subheader("Find a class")
    query = st.text_input("Search classes", placeholder="part of a class name, e.g. beta", key="class_search",
                          help="Case-insensitive; matches class names and display names.").strip()
    if query:
        needle = query.casefold()
        matches = [leaf for leaf in hierarchy.leaves
                   if needle in leaf.casefold() or needle in hierarchy.display(leaf).casefold()]
        if not matches:
            st.info(f"No class name contains “{query}”.")
        else:
            st.caption(f"{len(matches)} of {hierarchy.num_classes} classes match"
                       + (f"; the first {MAX_MATCHES} are listed." if len(matches) > MAX_MATCHES else "."))
            rows = [{"class": hierarchy.display(leaf),
                     "path from the root": " → ".join(hierarchy.display(n) for n in hierarchy.ancestors(leaf)[:-1])}
                    for leaf in matches[:MAX_MATCHES]]
            st.dataframe(pd.DataFrame(rows), hide_index=True, height=min(36 + 35 * len(rows), 400))
with levels:
    st.subheader("Nodes per level")
    nodes = np.bincount(depths)
    leaves = np.bincount(depths[hierarchy.leaf_ids], minlength=len(nodes))
    st.dataframe(pd.DataFrame({"depth": range(len(nodes)), "nodes": nodes, "classes": leaves}), hide_index=True,
                 height=min(38 + 35 * len(nodes), 600))

st.subheader("Export")
stem = re.sub(r"[^\w.-]+", "_", hierarchy.name).strip("._") or "hierarchy"
exports = [("JSON", to_json, "json", "application/json"), ("CSV edges", to_csv_edges, "csv", "text/csv"),
           ("Newick", to_newick, "nwk", "text/plain")]
buttons = st.columns(4)
for column, (label, writer, suffix, mime) in zip(buttons, exports):
    column.download_button(label, writer(hierarchy), file_name=f"{stem}.{suffix}", mime=mime, on_click="ignore",
                           icon=":material/download:", width="stretch", key=f"export_{suffix}")
try:
    isa, isa_problem = to_isa(hierarchy), None
except HierarchyError as err:
    isa, isa_problem = "", str(err)
buttons[3].download_button("isa.txt", isa, file_name=f"{stem}_isa.txt", mime="text/plain", on_click="ignore",
                           icon=":material/download:", width="stretch", key="export_isa",
                           disabled=isa_problem is not None, help=isa_problem)
st.caption("All four read back in through the sidebar's upload. JSON keeps the class order and display names; "
           "CSV, Newick and isa.txt list classes in tree order."
           + (f" isa.txt is unavailable: {isa_problem}." if isa_problem else ""))
