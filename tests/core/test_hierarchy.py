"""Unit tests of core.hierarchy.Hierarchy: structure, distances, ancestors, errors, deep trees."""
from __future__ import annotations

import numpy as np
import pytest

from core.hierarchy import DISTANCE_CONVENTIONS, Hierarchy, HierarchyError

# root ─┬─ A ─┬─ a1
#       │     └─ a2
#       └─ B ─┬─ b1
#             └─ b2
BALANCED = [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]

# root ─┬─ X ─┬─ x1            leaves x1, x2 at depth 2; y1, y2 at depth 3 (H = 3)
#       │     └─ x2
#       └─ Y ── Y1 ─┬─ y1
#                   └─ y2
UNBALANCED = [("root", "X"), ("root", "Y"), ("X", "x1"), ("X", "x2"), ("Y", "Y1"),
              ("Y1", "y1"), ("Y1", "y2")]


@pytest.fixture
def balanced() -> Hierarchy:
    return Hierarchy.from_edges(BALANCED, name="balanced")


@pytest.fixture
def unbalanced() -> Hierarchy:
    return Hierarchy.from_edges(UNBALANCED, name="unbalanced")


def chain_edges(depth: int) -> list[tuple[str, str]]:
    """A chain c0 → … → c<depth> with two leaves a, b under the last node."""
    edges = [(f"c{i}", f"c{i + 1}") for i in range(depth)]
    return edges + [(f"c{depth}", "a"), (f"c{depth}", "b")]


# ----------------------------------------------------------------------------- structure
def test_leaves_in_preorder_by_default(balanced, unbalanced):
    assert balanced.leaves == ["a1", "a2", "b1", "b2"]
    assert unbalanced.leaves == ["x1", "x2", "y1", "y2"]
    assert balanced.names[0] == "root" and balanced.num_nodes == 7 and balanced.num_classes == 4


def test_class_list_fixes_leaf_order(balanced):
    h = Hierarchy.from_edges(BALANCED, classes=["b2", "a1", "b1", "a2"])
    assert h.leaves == ["b2", "a1", "b1", "a2"]
    assert h.restrict_to(balanced.leaves).leaves == balanced.leaves


def test_depths_heights(unbalanced):
    depth = dict(zip(unbalanced.names, unbalanced.depths.tolist()))
    height = dict(zip(unbalanced.names, unbalanced.heights.tolist()))
    assert depth == {"root": 0, "X": 1, "x1": 2, "x2": 2, "Y": 1, "Y1": 2, "y1": 3, "y2": 3}
    assert height == {"root": 3, "X": 1, "x1": 0, "x2": 0, "Y": 2, "Y1": 1, "y1": 0, "y2": 0}
    assert unbalanced.height == 3
    assert unbalanced.level_counts() == [1, 2, 3, 2]
    assert unbalanced.children("root") == ["X", "Y"]


# ----------------------------------------------------------------------------- distances
def test_distances_balanced_tree_both_conventions_agree(balanced):
    expected = np.array([[0, 1, 2, 2], [1, 0, 2, 2], [2, 2, 0, 1], [2, 2, 1, 0]])
    for convention in DISTANCE_CONVENTIONS:
        dist = balanced.distance_matrix(convention)
        assert dist.dtype == np.int64
        np.testing.assert_array_equal(dist, expected)


def test_distances_unbalanced_tree_conventions_differ(unbalanced):
    # "depth": H − depth(LCA), H = 3. LCA(x1, x2) = X at depth 1 → 2; LCA(y1, y2) = Y1 at depth 2 → 1.
    depth = np.array([[0, 2, 3, 3], [2, 0, 3, 3], [3, 3, 0, 1], [3, 3, 1, 0]])
    # "height": height of the LCA's subtree: X → 1, Y1 → 1, root → 3.
    height = np.array([[0, 1, 3, 3], [1, 0, 3, 3], [3, 3, 0, 1], [3, 3, 1, 0]])
    np.testing.assert_array_equal(unbalanced.distance_matrix(), depth)
    np.testing.assert_array_equal(unbalanced.distance_matrix("depth"), depth)
    np.testing.assert_array_equal(unbalanced.distance_matrix("height"), height)


def test_distances_follow_class_order(balanced):
    h = Hierarchy.from_edges(BALANCED, classes=["b1", "a1", "b2", "a2"])
    pos = [balanced.leaves.index(c) for c in h.leaves]
    np.testing.assert_array_equal(h.distance_matrix(), balanced.distance_matrix()[np.ix_(pos, pos)])


def test_unknown_convention(balanced):
    with pytest.raises(ValueError, match="unknown distance convention"):
        balanced.distance_matrix("manhattan")


# ----------------------------------------------------------------------------- ancestors and LCA
def test_ancestor_at(unbalanced):
    assert unbalanced.ancestor_at(0) == ["root"] * 4
    assert unbalanced.ancestor_at(1) == ["X", "X", "Y", "Y"]
    assert unbalanced.ancestor_at(2) == ["x1", "x2", "Y1", "Y1"]
    assert unbalanced.ancestor_at(3) == ["x1", "x2", "y1", "y2"]  # x1, x2 are their own ancestors at 3
    with pytest.raises(ValueError, match="level must be in"):
        unbalanced.ancestor_at(4)


def test_ancestors_and_lca(unbalanced):
    assert unbalanced.ancestors("y2") == ["root", "Y", "Y1", "y2"]
    assert unbalanced.lca("y1", "y2") == "Y1"
    assert unbalanced.lca("x1", "y1") == "root"
    assert unbalanced.lca("x2", "x2") == "x2"
    lca = unbalanced.lca_matrix()
    assert unbalanced.names[lca[0, 1]] == "X"
    with pytest.raises(KeyError):
        unbalanced.ancestors("nope")


def test_tree_order(balanced):
    h = Hierarchy.from_edges(BALANCED, classes=["b2", "a1", "b1", "a2"])
    order = h.tree_order()
    assert [h.leaves[i] for i in order] == balanced.leaves
    np.testing.assert_array_equal(balanced.tree_order(), np.arange(4))


# ----------------------------------------------------------------------------- export
def test_edges_and_to_dict_round_trip(unbalanced):
    assert unbalanced.edges() == [("root", "X"), ("X", "x1"), ("X", "x2"), ("root", "Y"),
                                  ("Y", "Y1"), ("Y1", "y1"), ("Y1", "y2")]  # pre-order
    doc = unbalanced.to_dict()
    assert doc["classes"] == unbalanced.leaves
    again = Hierarchy.from_tree(doc["tree"], doc["classes"])
    assert again.edges() == unbalanced.edges()
    np.testing.assert_array_equal(again.distance_matrix(), unbalanced.distance_matrix())


def test_display_names_kept():
    tree = {"name": "r", "children": [{"name": "a", "display_name": "Apple"}, {"name": "b"}]}
    h = Hierarchy.from_tree(tree)
    assert h.display("a") == "Apple" and h.display("b") == "b"
    assert h.to_dict()["tree"]["children"][0]["display_name"] == "Apple"


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "edges, message",
    [
        ([("r", "a"), ("r", "b"), ("s", "a")], "node 'a' has two parents"),
        ([("r", "r")], "'r' is its own parent"),
        ([("a", "b"), ("b", "c"), ("c", "a")], "cycle"),
        ([("r", "a"), ("r", "b"), ("s", "c"), ("s", "d")], "2 roots"),
        ([("r", "a"), ("r", "b"), ("x", "y"), ("y", "x")], "cycle x → y → x"),
        ([("r", "a"), ("a", "b"), ("b", "c"), ("c", "a")], "cycle a → b → c → a"),
        ([("r", "a"), ("r", "z"), ("b", "a"), ("a", "b")], "cycle a → b → a"),
        ([("r", "a")], "1 leaf; at least 2"),
        ([], "empty"),
        ([("r", ""), ("r", "b")], "empty name"),
    ],
)
def test_from_edges_errors(edges, message):
    with pytest.raises(HierarchyError, match=message):
        Hierarchy.from_edges(edges, where="f.csv")


def test_error_messages_name_the_file():
    with pytest.raises(HierarchyError, match=r"^f\.csv: not a tree"):
        Hierarchy.from_edges([("r", "a"), ("r", "b"), ("s", "a")], where="f.csv")


@pytest.mark.parametrize(
    "classes, message",
    [
        (["a1", "a2", "b1"], "1 leaves are missing from the class list"),
        (["a1", "a2", "b1", "b2", "zz"], "1 class\\(es\\) are not leaves"),
        (["a1", "a1", "b1", "b2"], "duplicate class name"),
    ],
)
def test_class_list_errors(classes, message):
    with pytest.raises(HierarchyError, match=message):
        Hierarchy.from_edges(BALANCED, classes=classes)


@pytest.mark.parametrize(
    "tree, message",
    [
        ({"name": "r", "children": [{"name": "a"}, {"name": "a"}]}, "duplicate leaf name 'a'"),
        ({"name": "r", "children": [{"name": "a", "children": [{"name": "r"}]}, {"name": "b"}]},
         "'r' is its own ancestor"),
        ({"name": "r", "children": [{"x": 1}, {"name": "b"}]}, "has no \"name\""),
        ({"name": "r", "children": {"name": "a"}}, "must be a list"),
        ({"name": "r"}, "single node"),
        ({"name": "r", "children": [{"name": "a"}]}, "1 leaf"),
        ([1, 2], "must be an object"),
    ],
)
def test_from_tree_errors(tree, message):
    with pytest.raises(HierarchyError, match=message):
        Hierarchy.from_tree(tree, where="t.json")


def test_duplicate_message_shows_both_paths():
    tree = {"name": "r", "children": [{"name": "A", "children": [{"name": "x"}]},
                                      {"name": "B", "children": [{"name": "x"}]}]}
    with pytest.raises(HierarchyError, match=r"at r/A/x and r/B/x"):
        Hierarchy.from_tree(tree)


@pytest.mark.timeout(120)  # a generous bound (a quadratic walk would take far longer), not a timing assertion
def test_long_cycle_is_reported_briefly():
    loop = [(f"n{i}", f"n{(i + 1) % 30_000}") for i in range(30_000)]
    with pytest.raises(HierarchyError, match="cycle n0 → n1") as info:
        Hierarchy.from_edges([("r", "a"), ("r", "b")] + loop)
    assert len(str(info.value)) < 500 and "more" in str(info.value)


# ----------------------------------------------------------------------------- deep trees
def test_5000_level_chain():
    h = Hierarchy.from_edges(chain_edges(5000))
    assert h.leaves == ["a", "b"] and h.height == 5001 and h.num_nodes == 5003
    np.testing.assert_array_equal(h.distance_matrix(), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(h.distance_matrix("height"), [[0, 1], [1, 0]])
    assert h.lca("a", "b") == "c5000"
    assert h.ancestor_at(1) == ["c1", "c1"]
    assert len(h.ancestors("a")) == 5002
    again = Hierarchy.from_tree(h.to_dict()["tree"])
    assert again.edges() == h.edges()


def test_deep_tree_duplicate_is_reported_with_a_short_path():
    edges = chain_edges(5000)
    tree = Hierarchy.from_edges(edges).to_dict()["tree"]
    node = tree
    while node["children"][0]["children"]:
        node = node["children"][0]
    node["children"][1]["name"] = "a"  # the two leaves now share a name
    with pytest.raises(HierarchyError, match=r"duplicate leaf name 'a' \(at …/") as info:
        Hierarchy.from_tree(tree)
    assert len(str(info.value)) < 300


def test_group_spans_cover_tree_order_in_blocks():
    from core import load_bundled

    h = load_bundled("cifar100")
    spans = h.group_spans(1)
    assert len(spans) == 20 and spans[0][0] == 0 and spans[-1][1] == 100
    assert all(b - a == 5 for a, b, _ in spans)
    assert [s[2] for s in spans] == h.children(h.names[0])
