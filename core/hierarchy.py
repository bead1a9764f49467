"""Class hierarchies: a rooted tree whose leaves are the classes.

A :class:`Hierarchy` stores the tree as flat arrays (node names, parent ids, depths), so every
algorithm here is iterative: trees thousands of levels deep never touch the recursion limit.

Leaf order (``Hierarchy.leaves``) is the class-index order: the file's explicit class list when it
has one (the reference hierarchies' ``"classes"``), otherwise the depth-first pre-order of the tree
with children in the order the file gives them. ``tree_order()`` maps the former to the latter for
display.

Distances (METHOD.md §1): ``d(a, b) = H − depth(LCA(a, b))`` with depth(root) = 0 and H the
deepest leaf's depth (the reference's convention, default), or the height of the LCA's subtree
(``convention="height"``). The two agree when every leaf sits at depth H; on unbalanced trees such
as tieredImageNet-H they differ, and the reference's files follow the first.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Hierarchy", "HierarchyError", "DISTANCE_CONVENTIONS"]

DISTANCE_CONVENTIONS = ("depth", "height")


class HierarchyError(ValueError):
    """A hierarchy or distance file is invalid; the message names the problem and where."""


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A rooted tree over named nodes; node 0 is the root.

    names:    (N,) node names, unique.
    parents:  (N,) parent node id, −1 for the root.
    leaf_ids: (K,) node ids of the leaves, in class-index order.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    leaf_ids: np.ndarray
    name: str = "hierarchy"
    display_names: dict[str, str] = field(default_factory=dict)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str]],
        classes: Sequence[str] | None = None,
        name: str = "hierarchy",
        display_names: dict[str, str] | None = None,
        where: str = "",
    ) -> Hierarchy:
        """Build from ``(parent, child)`` pairs (child order = first appearance).

        Raises HierarchyError for a cycle (named node by node), a node with two parents, several
        roots, fewer than two leaves, or a class list that does not match the leaves. ``where``
        prefixes messages (e.g. the file name).
        """
        prefix = f"{where}: " if where else ""
        edges = [(str(parent), str(child)) for parent, child in edges]
        loop = find_cycle(edges)
        if loop and len(loop[0]) == 2:
            raise HierarchyError(f"{prefix}cycle: node '{loop[0][0]}' is its own parent")
        if loop:
            raise HierarchyError(f"{prefix}cycle {arrow_chain(loop[0])}")
        parent_of: dict[str, str] = {}
        children: dict[str, list[str]] = {}
        order: dict[str, None] = {}
        for parent, child in edges:
            if not parent or not child:
                raise HierarchyError(f"{prefix}a node has an empty name (edge '{parent}' → '{child}')")
            if child in parent_of and parent_of[child] != parent:
                raise HierarchyError(
                    f"{prefix}not a tree: node '{child}' has two parents "
                    f"('{parent_of[child]}' and '{parent}')"
                )
            if child in parent_of:
                continue  # a repeated identical edge
            parent_of[child] = parent
            children.setdefault(parent, []).append(child)
            order.setdefault(parent)
            order.setdefault(child)
        if not order:
            raise HierarchyError(f"{prefix}the hierarchy is empty")
        roots = [n for n in order if n not in parent_of]  # ≥ 1: the edges have no cycle
        if len(roots) > 1:
            listed = ", ".join(f"'{r}'" for r in roots[:5])
            raise HierarchyError(f"{prefix}not a tree: {len(roots)} roots ({listed})")
        names = _preorder(roots[0], children)  # every node: each has one parent and no cycle
        index = {n: i for i, n in enumerate(names)}
        parents = np.array([index[parent_of[n]] if n in parent_of else -1 for n in names])
        is_leaf = np.ones(len(names), bool)
        is_leaf[parents[parents >= 0]] = False
        tree_leaves = [names[i] for i in np.flatnonzero(is_leaf)]
        leaf_names = _match_classes(tree_leaves, classes, prefix)
        if len(leaf_names) < 2:
            raise HierarchyError(f"{prefix}the hierarchy has {len(leaf_names)} leaf; at least 2 are needed")
        leaf_ids = np.array([index[n] for n in leaf_names])
        return cls(tuple(names), parents, leaf_ids, name, dict(display_names or {}))

    @classmethod
    def from_tree(cls, tree: dict, classes: Sequence[str] | None = None, name: str | None = None,
                  where: str = "") -> Hierarchy:
        """Build from a nested ``{"name": str, "children": [...]}`` dict (iteratively).

        Leaves may omit ``children`` or give ``[]``; a ``display_name`` is kept when present.
        """
        prefix = f"{where}: " if where else ""
        if not isinstance(tree, dict) or "name" not in tree:
            raise HierarchyError(f"{prefix}the tree root must be an object with a \"name\"")
        edges: list[tuple[str, str]] = []
        display: dict[str, str] = {}
        parent_of: dict[str, str | None] = {}  # seen node → parent name (paths only for messages)
        stack: list[tuple[object, str | None]] = [(tree, None)]
        while stack:
            node, parent = stack.pop()
            if not isinstance(node, dict) or not isinstance(node.get("name"), (str, int)):
                raise HierarchyError(f"{prefix}a node under '{parent or 'the root'}' has no \"name\"")
            node_name = str(node["name"])
            if node_name in parent_of:
                here = _tree_path(node_name, parent, parent_of)
                if _is_ancestor(node_name, parent, parent_of):
                    raise HierarchyError(f"{prefix}cycle: '{node_name}' is its own ancestor ({here})")
                kind = "leaf" if not node.get("children") else "node"
                first = _tree_path(node_name, parent_of[node_name], parent_of)
                raise HierarchyError(f"{prefix}duplicate {kind} name '{node_name}' (at {first} and {here})")
            parent_of[node_name] = parent
            here = node_name
            if "display_name" in node:
                display[node_name] = str(node["display_name"])
            kids = node.get("children") or []
            if not isinstance(kids, list):
                raise HierarchyError(f"{prefix}\"children\" of '{here}' must be a list")
            for kid in kids:
                if isinstance(kid, dict) and "name" in kid:
                    edges.append((node_name, str(kid["name"])))
            stack.extend((kid, node_name) for kid in reversed(kids))
        if not edges:
            raise HierarchyError(f"{prefix}the tree has a single node; at least 2 leaves are needed")
        return cls.from_edges(edges, classes, name or str(tree["name"]), display, where)

    @classmethod
    def from_distances(cls, distances: np.ndarray, classes: Sequence[str], name: str = "distances",
                       where: str = "") -> Hierarchy:
        """The tree of an ultrametric (K, K) distance matrix, so that ``distance_matrix()`` gives it back.

        Classes closer than each distance level l form one node at depth D_max − l (named
        ``d<l>:<first class>``; the top level is ``root``); leaves sit at depth D_max. A matrix that
        is not an ultrametric (d(a,c) > max(d(a,b), d(b,c)) somewhere) has no such tree and raises
        HierarchyError. The matrix is assumed checked (square, symmetric, zero diagonal, ≥ 2 classes).
        """
        prefix = f"{where}: " if where else ""
        dist = np.asarray(distances)
        names = [str(c) for c in classes]
        off_diagonal_zero = (dist == 0) & ~np.eye(len(dist), dtype=bool)
        if off_diagonal_zero.any():
            i, j = np.argwhere(off_diagonal_zero)[0]
            raise HierarchyError(f"{prefix}classes '{names[i]}' and '{names[j]}' are at distance 0, so no tree "
                                 "tells them apart (distinct classes need a positive distance)")
        levels = np.unique(dist[dist > 0])
        edges: list[tuple[str, str]] = []
        child_of = list(names)  # current node of each class, level by level
        for level in levels:
            group = np.full(len(dist), -1)
            for i in range(len(dist)):
                if group[i] < 0:
                    members = np.flatnonzero(dist[i] <= level)
                    if (group[members] >= 0).any() or dist[np.ix_(members, members)].max() > level:
                        raise HierarchyError(f"{prefix}the distance matrix is not an ultrametric, so no tree has "
                                             f"these distances (classes '{names[i]}' … at level {level:g})")
                    group[members] = i
            parent_of: dict[str, str] = {}
            for i in np.unique(group):
                parent = "root" if level == levels[-1] else f"d{level:g}:{names[i]}"
                for j in np.flatnonzero(group == i):
                    parent_of.setdefault(child_of[j], parent)
                    child_of[j] = parent
            edges.extend((p, c) for c, p in parent_of.items())
        return cls.from_edges(edges, names, name, where=where)

    # ----------------------------------------------------------------- basic properties
    @property
    def num_nodes(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.leaf_ids)

    @cached_property
    def leaves(self) -> list[str]:
        """Leaf (class) names in class-index order."""
        return [self.names[i] for i in self.leaf_ids]

    @cached_property
    def index(self) -> dict[str, int]:
        """Node name → node id."""
        return {n: i for i, n in enumerate(self.names)}

    @cached_property
    def depths(self) -> np.ndarray:
        """(N,) depth of every node; the root has depth 0 (nodes are in pre-order)."""
        depth = np.zeros(self.num_nodes, dtype=np.int64)
        for i in range(1, self.num_nodes):  # pre-order: a parent precedes its children
            depth[i] = depth[self.parents[i]] + 1
        return depth

    @cached_property
    def heights(self) -> np.ndarray:
        """(N,) height of every node's subtree (leaves 0)."""
        height = np.zeros(self.num_nodes, dtype=np.int64)
        for i in range(self.num_nodes - 1, 0, -1):  # reverse pre-order: children first
            p = self.parents[i]
            height[p] = max(height[p], height[i] + 1)
        return height

    @property
    def height(self) -> int:
        """H: the deepest leaf's depth."""
        return int(self.depths[self.leaf_ids].max())

    def display(self, node: str) -> str:
        """A human-readable label for a node (its display name when the file gave one)."""
        return self.display_names.get(node, node)

    def children(self, node: str) -> list[str]:
        i = self.index[node]
        return [self.names[j] for j in np.flatnonzero(self.parents == i)]

    # ----------------------------------------------------------------- ancestors
    @cached_property
    def ancestor_ids(self) -> np.ndarray:
        """(K, H+1) node id of each leaf's ancestor at depth 0…H; −1 below the leaf's depth."""
        depth = self.depths
        table = np.full((self.num_classes, self.height + 1), -1, dtype=np.int64)
        for k, leaf in enumerate(self.leaf_ids):
            node = int(leaf)
            while node >= 0:
                table[k, depth[node]] = node
                node = int(self.parents[node])
        return table

    def ancestors(self, leaf: str) -> list[str]:
        """Path of node names from the root down to ``leaf`` (inclusive)."""
        if leaf not in self.index:
            raise KeyError(f"no node named '{leaf}'")
        path, node = [], self.index[leaf]
        while node >= 0:
            path.append(self.names[node])
            node = int(self.parents[node])
        return path[::-1]

    def ancestor_at(self, level: int) -> list[str]:
        """For each class, the name of its ancestor at depth ``level`` (0 = root).

        A leaf shallower than ``level`` is its own ancestor there.
        """
        if not 0 <= level <= self.height:
            raise ValueError(f"level must be in 0…{self.height}, got {level}")
        ids = self.ancestor_ids[:, : level + 1]
        last = (ids >= 0).sum(axis=1) - 1
        return [self.names[ids[k, last[k]]] for k in range(self.num_classes)]

    def level_counts(self) -> list[int]:
        """Number of nodes at each depth 0…max depth."""
        return np.bincount(self.depths).tolist()

    # ----------------------------------------------------------------- LCA and distances
    @cached_property
    def _lca(self) -> np.ndarray:
        """(K, K) node id of the lowest common ancestor of every class pair."""
        anc = self.ancestor_ids
        k = self.num_classes
        lca = np.full((k, k), anc[0, 0], dtype=np.int64)
        same = np.ones((k, k), dtype=bool)
        off_diagonal = ~np.eye(k, dtype=bool)
        for level in range(1, anc.shape[1]):
            col = anc[:, level]
            same &= (col[:, None] == col[None, :]) & (col[:, None] >= 0)
            if not (same & off_diagonal).any():
                break
            lca = np.where(same, col[:, None], lca)
        np.fill_diagonal(lca, self.leaf_ids)
        return lca

    def lca_matrix(self) -> np.ndarray:
        """(K, K) node ids of pairwise lowest common ancestors (diagonal: the leaf itself)."""
        return self._lca.copy()

    def lca(self, a: str, b: str) -> str:
        """Name of the lowest common ancestor of two classes."""
        pos = {n: i for i, n in enumerate(self.leaves)}
        return self.names[self._lca[pos[a], pos[b]]]

    def distance_matrix(self, convention: str = "depth") -> np.ndarray:
        """(K, K) int64 hierarchical distances between classes, zero diagonal.

        ``"depth"``: H − depth(LCA) (reference, METHOD.md §1); ``"height"``: height of the LCA.
        """
        if convention == "depth":
            dist = self.height - self.depths[self._lca]
        elif convention == "height":
            dist = self.heights[self._lca]
        else:
            raise ValueError(f"unknown distance convention '{convention}'; use one of {DISTANCE_CONVENTIONS}")
        np.fill_diagonal(dist, 0)
        return dist

    def group_spans(self, level: int = 1) -> list[tuple[int, int, str]]:
        """Runs of consecutive classes in tree order that share their ancestor at ``level``.

        Returns (start, stop, ancestor name) with positions in ``tree_order()`` (stop exclusive):
        the blocks to outline on a tree-ordered heatmap.
        """
        ancestors = np.array(self.ancestor_at(level), dtype=object)[self.tree_order()]
        cuts = np.flatnonzero(ancestors[1:] != ancestors[:-1]) + 1
        bounds = [0, *cuts.tolist(), self.num_classes]
        return [(a, b, str(ancestors[a])) for a, b in zip(bounds[:-1], bounds[1:])]

    def tree_order(self) -> np.ndarray:
        """(K,) class indices sorted into depth-first tree order (siblings adjacent)."""
        return np.argsort(self.leaf_ids, kind="stable")

    # ----------------------------------------------------------------- export
    def edges(self) -> list[tuple[str, str]]:
        """(parent, child) pairs in pre-order."""
        return [(self.names[p], self.names[i]) for i, p in enumerate(self.parents) if p >= 0]

    def to_dict(self) -> dict:
        """Nested ``{"name", "children"}`` tree plus the class order (built iteratively)."""
        nodes = [{"name": n, "children": []} for n in self.names]
        for i, node in enumerate(nodes):
            if self.names[i] in self.display_names:
                node["display_name"] = self.display_names[self.names[i]]
        for i in range(1, self.num_nodes):
            nodes[self.parents[i]]["children"].append(nodes[i])
        return {"name": self.name, "classes": self.leaves, "tree": nodes[0]}

    def restrict_to(self, classes: Sequence[str]) -> Hierarchy:
        """The same tree with its classes reordered to ``classes`` (which must be its leaves)."""
        return Hierarchy.from_edges(self.edges(), classes, self.name, self.display_names)


def _preorder(root: str, children: dict[str, list[str]]) -> list[str]:
    """Depth-first pre-order of the nodes reachable from ``root`` (iterative)."""
    out, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        out.append(node)
        stack.extend(reversed(children.get(node, [])))
    return out


def find_cycle(edges: Sequence[tuple[str, str]]) -> tuple[list[str], int] | None:
    """A directed cycle among ``(parent, child)`` edges: (``[a, b, …, a]``, index of the edge closing it).

    Iterative depth-first search (any depth); None when the edges have no cycle. A self-loop is the
    cycle ``[a, a]``.
    """
    children: dict[str, list[tuple[str, int]]] = {}
    for k, (parent, child) in enumerate(edges):
        children.setdefault(parent, []).append((child, k))
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in children:
        if start in state:
            continue
        path, stack = [start], [iter(children[start])]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            child, k = step
            if state.get(child) == 1:
                return path[path.index(child):] + [child], k
            if child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(children.get(child, ())))
    return None


def arrow_chain(names: list[str], keep: int = 6) -> str:
    """``a → b → c`` (long chains shortened in the middle)."""
    if len(names) > 2 * keep:
        names = names[:keep] + [f"… {len(names) - 2 * keep} more …"] + names[-keep:]
    return " → ".join(names)


def _tree_path(name: str, parent: str | None, parent_of: dict[str, str | None], keep: int = 8) -> str:
    """``root/…/parent/name`` for messages (at most ``keep`` components shown)."""
    parts = [name]
    while parent is not None and len(parts) < keep:
        parts.append(parent)
        parent = parent_of.get(parent)
    if parent is not None:
        parts.append("…")
    return "/".join(reversed(parts))


def _is_ancestor(name: str, parent: str | None, parent_of: dict[str, str | None]) -> bool:
    """Whether ``name`` is on the parent chain starting at ``parent``."""
    steps = 0
    while parent is not None and steps <= len(parent_of):
        if parent == name:
            return True
        parent, steps = parent_of.get(parent), steps + 1
    return False


def name_differences(first: Sequence[str], second: Sequence[str], only_first: str, only_second: str,
                     shown: int = 5) -> list[str]:
    """What tells two name lists apart, one phrase per side: "<count> <only_first><examples>" for the names of
    ``first`` missing from ``second``, and the same the other way round; [] when they hold the same names."""
    in_first, in_second = set(first), set(second)
    missing = [n for n in first if n not in in_second], [n for n in second if n not in in_first]
    return [f"{len(names)} {phrase}{names[:shown]}" for names, phrase in zip(missing, (only_first, only_second))
            if names]


def _match_classes(tree_leaves: list[str], classes: Sequence[str] | None, prefix: str) -> list[str]:
    """Return the leaf order: ``classes`` if given (validated), else tree pre-order."""
    if classes is None:
        return tree_leaves
    classes = [str(c) for c in classes]
    if len(set(classes)) < len(classes):
        counts = Counter(classes)
        dupes = sorted(c for c, n in counts.items() if n > 1)
        raise HierarchyError(f"{prefix}duplicate class name(s) in the class list: {dupes[:5]}")
    parts = name_differences(classes, tree_leaves, "class(es) are not leaves of the tree, e.g. ",
                             "leaves are missing from the class list, e.g. ")
    if parts:
        raise HierarchyError(f"{prefix}class list does not match the tree: " + "; ".join(parts))
    return classes
