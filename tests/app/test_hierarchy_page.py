"""AppTest of the Hierarchy page's tree views: every sunburst wedge coloured, a readable icicle root, a
5,000-level chain whose leaves stay within the rings drawn (and an outline that stays shallow), a cycle in an
uploaded edge list reported as a cycle."""
from __future__ import annotations

import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import plots, tree_views
from app.common import UPLOAD_LABEL

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def hierarchy_page(bundled: str | None = None, upload: tuple[bytes, str] | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    if upload is not None:
        at.session_state["hierarchy_choice"] = UPLOAD_LABEL
        at.session_state["hierarchy_upload"] = upload
    at.run()  # the Hierarchy page is the default one
    if bundled is not None:
        at.sidebar.selectbox[0].select(bundled).run()
    return at


def open_tree_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["tree_view"] = label
    return at.run()


def chart(at: AppTest, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith(key))


def luminance(colour: str) -> float:
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def chain_csv(levels: int) -> bytes:
    """A chain root → n1 → … → n{levels} ending in two leaves (a chain alone would have one class)."""
    rows = ["parent,child", "root,n1"] + [f"n{i},n{i + 1}" for i in range(1, levels)]
    rows += [f"n{levels},leaf_a", f"n{levels},leaf_b"]
    return "\n".join(rows).encode()


def test_every_sunburst_wedge_has_its_own_visible_colour(runs_root):
    at = hierarchy_page("cifar100")
    assert not at.exception and not at.error
    trace = chart(at, "sunburst")["data"][0]
    colours, labels = trace["marker"]["colors"], trace["labels"]
    assert len(colours) == len(labels), "every node coloured explicitly (plotly's colourway runs out at 20 branches)"
    branches = {label: colours[i] for i, label in enumerate(labels) if trace["parents"][i] == trace["ids"][0]}
    assert {"vehicles_2", "non-insect_invertebrates"} <= set(branches)
    assert all(luminance(c) < 0.93 for c in colours[1:]), "no near-white wedge looks missing"
    assert len(set(branches.values())) == len(branches), "one hue per top-level branch"


def test_icicle_root_label_is_readable(runs_root):
    at = open_tree_tab(hierarchy_page("cifar100"), "Icicle")
    trace = chart(at, "icicle")["data"][0]
    assert trace["labels"][0].endswith("(100 classes)")
    fill, text = trace["marker"]["colors"][0], trace["textfont"]["color"][0]
    assert abs(luminance(fill) - luminance(text)) > 0.5, "the root's text contrasts with its box"


def test_deep_chain_keeps_its_leaves_within_reach(runs_root):
    at = hierarchy_page(upload=(chain_csv(5000), "chain.csv"))
    assert not at.exception and not at.error
    trace = chart(at, "sunburst")["data"][0]
    ids, parents = trace["ids"], trace["parents"]
    depth = {ids[0]: 0}
    for node, parent in zip(ids[1:], parents[1:]):
        depth[node] = depth[parent] + 1
    assert {"leaf_a", "leaf_b"} <= set(ids)
    assert max(depth["leaf_a"], depth["leaf_b"]) <= tree_views.SUNBURST_RINGS, "the leaves lie within the rings drawn"
    assert any("levels)" in label for label in trace["labels"]), "the chain is one labelled wedge"
    at = open_tree_tab(at, "Icicle")
    assert {"leaf_a", "leaf_b"} <= set(chart(at, "icicle")["data"][0]["ids"])
    at = open_tree_tab(at, "Outline")
    outline = at.get("html")[0].proto.body
    assert "leaf_a" in outline and "leaf_b" in outline, "the outline reaches the leaves"
    assert outline.count("<details") <= plots.OUTLINE_MAX_DEPTH, "no thousands-deep nesting (it hangs the browser)"


def test_outline_is_never_deeper_than_its_cap():
    """A caterpillar (a leaf and a branch at every level) cannot be folded: the outline is cut instead."""
    n = 500
    parents, labels, leaf, spine = [-1], ["root"], [False], 0
    for level in range(n):  # pre-order: each spine node's leaf, then its spine child (and everything below)
        parents += [spine, spine]
        labels += [f"leaf{level}", f"spine{level}"]
        leaf += [True, level == n - 1]
        spine = len(parents) - 1
    html = plots.tree_outline_html(parents, labels, leaf)
    depth = max_nesting(html)
    assert depth <= plots.OUTLINE_MAX_DEPTH and "leaf0" in html


def max_nesting(html: str) -> int:
    depth = deepest = 0
    for tag in re.findall(r"</?details", html):
        depth += 1 if tag == "<details" else -1
        deepest = max(deepest, depth)
    return deepest


def test_cycle_in_an_edge_list_is_reported_as_a_cycle(runs_root):
    at = hierarchy_page(upload=(b"parent,child\nr,a\nr,z\na,b\nb,c\nc,a\n", "loop.csv"))
    assert not at.exception
    messages = " ".join(e.value for e in at.sidebar.error)
    assert "cycle a → b → c → a" in messages and "loop.csv" in messages
