"""The field's own hierarchy pickles, read without running code.

making-better-mistakes, CRM, HAF, HAFrame, BiLT and Hier-COS ship three kinds of pickle:

* ``*_tree.pkl``: an ``nltk.tree.Tree`` (a list subclass; children are sub-trees or leaf names).
  nltk is never imported: the unpickler maps ``nltk.tree.Tree`` / ``nltk.tree.tree.Tree`` to
  :class:`PickledTree`, which only stores the children and the ``_label`` state nltk pickles.
  Class order: the leaves in tree order, as for Newick and edge lists.
* ``*_distances.pkl`` / ``.pkl.xz``: a dict ``{(class_a, class_b): distance}``. Lookups are
  symmetric (either order may be stored; both must agree); entries involving internal nodes are
  ignored. The classes are the ``classes`` passed in (a dataset's), otherwise the largest set of
  names whose every pair has an entry, sorted as ImageFolder sorts them. The tree is rebuilt with
  :meth:`Hierarchy.from_distances`.
* ``*_tree_list_level<L>.pkl`` (HAF): per class, a row of L integer labels from the finest level
  to the coarsest (``row[0]`` is the class, ``row[j]`` its ancestor at level L − j), as a list of
  lists or a 2-D numpy integer array. Nodes are named ``L<level>-<label>`` as HAF's graph code
  names them, under a ``root``; class order is row order.

Every pickle goes through :mod:`core.safe_pickle`: decompressed (xz, gzip, bz2) with a size cap,
then unpickled resolving only :data:`ALLOWED` globals; any other global is refused by name.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core import safe_pickle
from core.formats import common
from core.hierarchy import Hierarchy, HierarchyError

PICKLE_SUFFIXES = (".pkl", ".pickle")
COMPRESSED_SUFFIXES = (".xz", ".gz", ".bz2")
MAX_NAMES = 50_000  # distinct names in a distance dict (its matrix is names² entries)


class PickledTree(list):
    """Stand-in for ``nltk.tree.Tree``: the children (a list) and the label; nothing else runs.

    nltk (protocol ≥ 2) pickles a Tree as ``NEWOBJ(Tree)``, its children via APPENDS and the
    state ``{"_label": label}`` via BUILD; ``Tree(label, children)`` calls are accepted too.
    """

    __slots__ = ("label",)

    def __init__(self, label=None, children=()):
        if isinstance(children, str):  # as nltk: a string is not a list of children
            raise TypeError("Tree() argument 2 should be a list, not a string")
        super().__init__(children)
        self.label = label

    def __setstate__(self, state):
        if not isinstance(state, dict) or "_label" not in state:
            raise safe_pickle.UnsafePickleError(
                f"an nltk Tree's state must be a dict with '_label', found {type(state).__name__}")
        self.label = state["_label"]


_BUILTINS = {"set": set, "frozenset": frozenset, "list": list, "tuple": tuple, "dict": dict,
             "int": int, "float": float, "complex": complex, "bytes": bytes, "bytearray": bytearray}
ALLOWED: dict[tuple[str, str], object] = {
    **{(module, name): obj for module in ("builtins", "__builtin__") for name, obj in _BUILTINS.items()},
    ("nltk.tree", "Tree"): PickledTree,  # nltk < 3.6: nltk/tree.py
    ("nltk.tree.tree", "Tree"): PickledTree,  # nltk ≥ 3.6: the nltk/tree/ package
    **safe_pickle.NUMPY_ARRAYS,
}


def is_pickle_name(filename: str) -> bool:
    """Whether a file name says pickle (``x.pkl``, ``x.pickle``, ``x.pkl.xz``, ``x.xz``, …)."""
    suffixes = [s.lower() for s in filename.rsplit("/", 1)[-1].split(".")[1:]]
    dotted = [f".{s}" for s in suffixes]
    return any(s in PICKLE_SUFFIXES for s in dotted) or (dotted[-1:] and dotted[-1] in COMPRESSED_SUFFIXES)


def looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol ≥ 2 magic, or xz/gzip/bz2 magic (for uploads without an extension)."""
    return (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or data.startswith(
        (b"\xfd7zXZ\x00", b"\x1f\x8b", b"BZh"))


def load(data: bytes, filename: str) -> object:
    """Decompress (capped) and unpickle with the allow-list; every failure is a HierarchyError."""
    try:
        raw = safe_pickle.decompress(data, filename, common.MAX_PICKLE_BYTES)
        return safe_pickle.loads(raw, ALLOWED, filename, encoding="latin1")
    except safe_pickle.UnsafePickleError as err:
        raise HierarchyError(str(err)) from None


def parse_pickle(data: bytes, filename: str, classes: Sequence[str] | None = None) -> Hierarchy:
    """A tree, distance-dict or label-array pickle → Hierarchy (kind recognised by content)."""
    obj = load(data, filename)
    stem = filename.split(".", 1)[0] or "pickle"
    if isinstance(obj, PickledTree):
        return Hierarchy.from_edges(tree_edges(obj, filename), classes, stem, where=filename)
    if isinstance(obj, dict):
        distances, names = distance_table(obj, filename, classes)
        return Hierarchy.from_distances(distances, names, stem, where=filename)
    if _is_table(obj):
        edges, leaves = label_table(obj, filename)
        hierarchy = Hierarchy.from_edges(edges, leaves, stem, where=filename)
        return hierarchy.restrict_to(classes) if classes is not None else hierarchy
    raise HierarchyError(
        f"{filename}: the pickle holds {_describe(obj)}, not a hierarchy; expected an nltk Tree "
        "(*_tree.pkl), a distance dict {(class_a, class_b): distance} (*_distances.pkl[.xz]) or "
        "per-class label rows (*_tree_list_level*.pkl)")


def parse_distance_pickle(data: bytes, filename: str,
                          classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A distance-dict pickle → (K×K float64 matrix, K class names), unchecked."""
    obj = load(data, filename)
    if not isinstance(obj, dict):
        raise HierarchyError(f"{filename}: a distance pickle must hold a dict {{(class_a, class_b): "
                             f"distance}}, found {_describe(obj)}")
    return distance_table(obj, filename, classes)


# ----------------------------------------------------------------------------------- nltk trees
def _is_int(value) -> bool:
    """An integer in the 64-bit range (never a bool; huge ints are refused, not printed)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and -2**63 <= value < 2**64)


def _name(value, filename: str, what: str) -> str:
    """A node name from a label: str or int (never bool, never anything else)."""
    if isinstance(value, str) or _is_int(value):
        name = str(value)
        if name:
            return name
    raise HierarchyError(f"{filename}: {what} must be a non-empty name (str or int), found {_describe(value)}")


def tree_edges(root: PickledTree, filename: str) -> list[tuple[str, str]]:
    """(parent, child) name pairs of an nltk tree, walked iteratively; shared or cyclic subtrees refused."""
    edges: list[tuple[str, str]] = []
    seen: set[int] = {id(root)}
    root_name = _name(getattr(root, "label", None), filename, "the root's label")
    parent_of: dict[str, str | None] = {root_name: None}
    stack = [(root, root_name)]
    while stack:
        node, name = stack.pop()
        for child in node:
            if isinstance(child, PickledTree):
                if id(child) in seen:
                    raise HierarchyError(f"{filename}: the subtree under '{name}' appears twice in the tree "
                                         "(or contains itself); a hierarchy is a tree")
                seen.add(id(child))
                child_name = _name(getattr(child, "label", None), filename, f"a node under '{name}'")
                stack.append((child, child_name))
            else:
                child_name = _name(child, filename, f"a leaf under '{name}'")
            if child_name in parent_of:
                first = parent_of[child_name]
                raise HierarchyError(f"{filename}: duplicate name '{child_name}' (under "
                                     f"{repr(first) if first else 'nothing: it is the root'} and under '{name}')")
            parent_of[child_name] = name
            edges.append((name, child_name))
            if len(edges) > common.MAX_NODES:
                raise HierarchyError(f"{filename}: more than {common.MAX_NODES} nodes")
    if not edges:
        raise HierarchyError(f"{filename}: the tree has a single node; at least 2 leaves are needed")
    return edges


# ------------------------------------------------------------------------------ distance dicts
def _number(value, pair: tuple[str, str], filename: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise HierarchyError(f"{filename}: the distance of ('{pair[0]}', '{pair[1]}') must be a number, "
                             f"found {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise HierarchyError(f"{filename}: the distance of ('{pair[0]}', '{pair[1]}') = {number:g} "
                             "is not a finite non-negative number")
    return number


def distance_table(entries: dict, filename: str,
                   classes: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """(K, K) float64 matrix and class names from ``{(a, b): d}``; both orders must agree."""
    pairs: dict[tuple[str, str], float] = {}
    for key, value in entries.items():
        # the field's files: (str, str) → small int, checked inline (hundreds of thousands of entries)
        if (type(key) is tuple and len(key) == 2 and type(key[0]) is str and type(key[1]) is str and key[0]
                and key[1] and type(value) is int and 0 < value < 2**53 and key[0] != key[1]):
            a, b, d = key[0], key[1], value
        else:
            a, b, d = _entry(key, value, filename)
            if a == b:
                continue
        pair = (a, b) if a < b else (b, a)
        if pairs.setdefault(pair, d) != d:
            raise HierarchyError(f"{filename}: the distance of ('{a}', '{b}') is stored twice with different "
                                 f"values ({pairs[pair]:g} and {d:g}); lookups are symmetric")
    if not pairs:
        raise HierarchyError(f"{filename}: the distance dict has no pairs of distinct classes")
    names = sorted({n for pair in pairs for n in pair})
    if len(names) > MAX_NAMES:
        raise HierarchyError(f"{filename}: more than {MAX_NAMES} distinct names in the distance dict")
    if classes is None:
        names = _complete_names(names, pairs)
    else:
        names = [str(c) for c in classes]
        common.check_names(names, filename)
    if len(names) < 2:
        raise HierarchyError(f"{filename}: the distance dict has {len(names)} class(es); at least 2 are needed")
    position = {n: i for i, n in enumerate(names)}
    rows = np.array([(position[a], position[b], d) for (a, b), d in pairs.items() if a in position and b in position],
                    dtype=np.float64).reshape(-1, 3)
    i, j = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    matrix = np.zeros((len(names), len(names)))
    filled = np.eye(len(names), dtype=bool)
    matrix[i, j] = matrix[j, i] = rows[:, 2]
    filled[i, j] = filled[j, i] = True
    if not filled.all():
        i, j = np.argwhere(~filled)[0]
        raise HierarchyError(f"{filename}: no distance between '{names[i]}' and '{names[j]}' (neither order "
                             "is in the dict)")
    return matrix, names


def _entry(key, value, filename: str) -> tuple[str, str, float]:
    """One dict entry checked in full: a (name, name) key and a finite non-negative distance."""
    if not isinstance(key, tuple) or len(key) != 2:
        raise HierarchyError(f"{filename}: the dict's keys must be (class_a, class_b) pairs, found {_describe(key)}")
    a, b = (_name(k, filename, "a class in a distance key") for k in key)
    d = _number(value, (a, b), filename)
    if a == b and d != 0:
        raise HierarchyError(f"{filename}: the distance of ('{a}', '{a}') = {d:g}, but a class is at distance 0 "
                             "from itself")
    return a, b, d


def _complete_names(names: list[str], pairs: dict[tuple[str, str], float]) -> list[str]:
    """The largest set of names (greedily) in which every pair has a distance, in sorted order.

    The field's files also hold some entries between internal nodes and classes; those nodes lack
    pairs with most classes and drop out here.
    """
    position = {n: i for i, n in enumerate(names)}
    linked = np.eye(len(names), dtype=bool)
    for a, b in pairs:
        linked[position[a], position[b]] = linked[position[b], position[a]] = True
    keep = np.ones(len(names), dtype=bool)
    degree = linked.sum(axis=1)
    while keep.sum() > 2:
        kept_degree = np.where(keep, degree, np.iinfo(np.int64).max)
        weakest = int(np.argmin(kept_degree))
        if kept_degree[weakest] >= keep.sum():
            break
        keep[weakest] = False
        degree -= linked[weakest]
    return [n for n, k in zip(names, keep) if k]


# ------------------------------------------------------------------------------- label arrays
def _is_table(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    return isinstance(obj, (list, tuple)) and bool(obj) and all(isinstance(r, (list, tuple, np.ndarray)) for r in obj)


def label_table(table, filename: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Edges and class names of HAF's per-class label rows (finest level first)."""
    if not isinstance(table, np.ndarray):
        lengths = sorted({len(row) for row in table})
        if len(lengths) > 1:
            raise HierarchyError(f"{filename}: the label rows have different lengths {lengths[:5]}; every class "
                                 "needs one label per level")
        table = [[_label(v, filename, i) for v in row] for i, row in enumerate(table)]
    rows = np.asarray(table if isinstance(table, np.ndarray) else np.array(table, dtype=object))
    if rows.ndim != 2 or rows.shape[0] < 2 or rows.shape[1] < 1:
        raise HierarchyError(f"{filename}: label rows must form a K×L table with K ≥ 2 classes (found shape "
                             f"{rows.shape})")
    if isinstance(table, np.ndarray) and rows.dtype.kind not in "iu":
        raise HierarchyError(f"{filename}: the label array must hold integers, not {rows.dtype}")
    k, levels = rows.shape
    if k * levels > common.MAX_NODES:
        raise HierarchyError(f"{filename}: more than {common.MAX_NODES} labels")
    names = [[f"L{levels - j}-{int(rows[i, j])}" for j in range(levels)] for i in range(k)]
    parent_of: dict[str, tuple[str, int]] = {}
    edges: list[tuple[str, str]] = []
    for i, row in enumerate(names):
        chain = ["root", *reversed(row)]
        for parent, child in zip(chain[:-1], chain[1:]):
            if child in parent_of:
                first, line = parent_of[child]
                if first != parent:
                    raise HierarchyError(f"{filename}: row {i}: not a tree: '{child}' is under '{parent}' here but "
                                         f"under '{first}' in row {line}")
                continue
            parent_of[child] = (parent, i)
            edges.append((parent, child))
    leaves = [row[0] for row in names]
    seen: dict[str, int] = {}
    for i, leaf in enumerate(leaves):
        if leaf in seen:
            raise HierarchyError(f"{filename}: rows {seen[leaf]} and {i} are the same class '{leaf}' (the first "
                                 "column must differ from row to row)")
        seen[leaf] = i
    return edges, leaves


def _label(value, filename: str, row: int) -> int:
    if not _is_int(value):
        raise HierarchyError(f"{filename}: row {row}: labels must be integers, found {_describe(value)}")
    return int(value)


def _describe(obj) -> str:
    """A short description of an unpickled value for messages (type, never a long repr)."""
    if isinstance(obj, np.ndarray):
        return f"a numpy array of {obj.dtype} with shape {obj.shape}"
    if isinstance(obj, int) and not isinstance(obj, bool) and not _is_int(obj):
        return f"an int of {obj.bit_length()} bits"
    text = repr(obj) if isinstance(obj, (int, float, str, bytes)) else ""
    kind = type(obj).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}" + (f" {text[:40]}" if text else "")
