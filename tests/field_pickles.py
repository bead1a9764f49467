"""The field's three pickle kinds, written here in the originals' layout (nltk itself is never imported).

* nltk trees: ``nltk.tree.Tree`` is a ``list`` subclass with a ``_label`` attribute and no
  ``__reduce__``, so protocol ≥ 2 writes ``NEWOBJ(<module> Tree)``, the children with APPENDS and
  the state ``{"_label": label}`` with BUILD. :func:`nltk_classes` builds classes with exactly that
  shape under nltk's two module paths (``nltk.tree`` before nltk 3.6, ``nltk.tree.tree`` since)
  and registers them in ``sys.modules`` only while a pickle is being written, because the pickler
  looks the class up by name. Leaves are plain strings, as in making-better-mistakes' files.
* distance dicts: ``{(class_a, class_b): int}`` written with ``pickle.dump`` into ``lzma.open``
  (``.pkl.xz``), one or both orders per pair, plus entries involving internal nodes.
* HAF label rows: per class ``[class, parent label, grandparent label, …]`` (finest level first) as
  a list of lists, or the same as a 2-D numpy integer array.

Payloads (:func:`payloads`) reach a global outside the loaders' allow-list by every route the
pickle machine offers; each would create ``marker`` if it ever ran.
"""
from __future__ import annotations

import contextlib
import copyreg
import io
import lzma
import os
import pickle
import sys
import types

import numpy as np

from core.hierarchy import Hierarchy

NLTK_MODULES = ("nltk.tree", "nltk.tree.tree")


def _tree_class(module: str) -> type:
    """A class shaped like nltk's Tree (``list`` subclass, ``_label``, no custom reduce)."""

    def __init__(self, node, children=None):
        list.__init__(self, children)
        self._label = node

    return type("Tree", (list,), {"__init__": __init__, "__module__": module, "__qualname__": "Tree"})


@contextlib.contextmanager
def nltk_classes():
    """``{module: Tree class}``, importable by name only inside the ``with`` block."""
    classes = {module: _tree_class(module) for module in NLTK_MODULES}
    package, tree_package = types.ModuleType("nltk"), types.ModuleType("nltk.tree")
    tree_module = types.ModuleType("nltk.tree.tree")
    tree_package.Tree, tree_module.Tree = classes["nltk.tree"], classes["nltk.tree.tree"]
    package.tree, tree_package.tree = tree_package, tree_module
    fakes = {"nltk": package, "nltk.tree": tree_package, "nltk.tree.tree": tree_module}
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield classes
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def nltk_tree(hierarchy: Hierarchy, tree_class: type):
    """The hierarchy as nltk objects: internal nodes Trees, leaves plain strings (built bottom-up)."""
    built: dict[int, object] = {}
    for i in range(hierarchy.num_nodes - 1, -1, -1):  # reverse pre-order: children before parents
        kids = [built.pop(j) for j in np.flatnonzero(hierarchy.parents == i)]
        built[i] = tree_class(hierarchy.names[i], kids) if kids else hierarchy.names[i]
    return built[0]


def tree_pickle(hierarchy: Hierarchy, protocol: int = 4, module: str = "nltk.tree.tree") -> bytes:
    """``*_tree.pkl`` bytes as nltk would write them for ``hierarchy``."""
    with nltk_classes() as classes:
        tree = nltk_tree(hierarchy, classes[module])
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20 * hierarchy.height + 1000))
        try:
            return pickle.dumps(tree, protocol=protocol)
        finally:
            sys.setrecursionlimit(limit)


def distance_dict(hierarchy: Hierarchy, both_orders: bool = False, internal: bool = True) -> dict:
    """``{(a, b): d}`` over class pairs (``a < b`` unless ``both_orders``), plus internal-node entries.

    The internal entries pair every internal node with the first class only, so the nodes stay
    separable from the classes (as in the field's files, they need not follow the leaf formula).
    """
    leaves, dist = hierarchy.leaves, hierarchy.distance_matrix()
    entries = {}
    for i, a in enumerate(leaves):
        for j, b in enumerate(leaves):
            if a < b or (both_orders and a != b):
                entries[(a, b)] = int(dist[i, j])
    if internal:
        inner = [n for n in hierarchy.names if n not in set(leaves)]
        entries.update({(node, leaves[0]): 7 for node in inner})
    return entries


def distance_pickle(entries: dict, protocol: int = 4, compress: bool = True) -> bytes:
    """``pickle.dump`` of the dict, through ``lzma.open`` when ``compress`` (``*_distances.pkl.xz``)."""
    if not compress:
        return pickle.dumps(entries, protocol=protocol)
    buffer = io.BytesIO()
    with lzma.open(buffer, "wb") as handle:
        pickle.dump(entries, handle, protocol=protocol)
    return buffer.getvalue()


def label_rows(hierarchy: Hierarchy) -> tuple[list[list[int]], list[str]]:
    """HAF rows ``[class, level L−1 label, …, level 1 label]`` and the class names per row.

    Labels number the nodes of each depth in order of first appearance (HAF's files use such ids).
    Every leaf must sit at the same depth L.
    """
    depth = hierarchy.depths
    ids: dict[int, int] = {}
    counters: dict[int, int] = {}
    rows = []
    for leaf in hierarchy.leaf_ids:
        path = []
        node = int(leaf)
        while node > 0:
            if node not in ids:
                ids[node] = counters.get(depth[node], 0)
                counters[depth[node]] = ids[node] + 1
            path.append(ids[node])
            node = int(hierarchy.parents[node])
        rows.append(path)
    return rows, hierarchy.leaves


def labels_pickle(rows, protocol: int = 4, as_array: bool = False) -> bytes:
    """``*_tree_list_level<L>.pkl`` bytes: a list of lists, or ``np.array(rows)`` when ``as_array``."""
    return pickle.dumps(np.array(rows) if as_array else rows, protocol=protocol)


# ----------------------------------------------------------------------------------- payloads
class _Touch:
    """Reduces to ``posix.system('touch <marker>')``: runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _op_string(text: str) -> bytes:
    return f"{text}\n".encode()


def payloads(marker) -> dict[str, bytes]:
    """Route name → pickle bytes reaching ``posix.system`` (or another refused global) that would touch ``marker``."""
    command = f"touch '{marker}'".encode()
    short = bytes([len(command)]) + command
    source = f"__import__('os').system({command.decode()!r})".encode()  # for builtins.eval
    touch = _Touch(marker)
    evil = {
        **{f"REDUCE (protocol {p})": pickle.dumps(touch, protocol=p) for p in (0, 1, 2, 3)},
        **{f"STACK_GLOBAL + REDUCE (protocol {p})": pickle.dumps(touch, protocol=p) for p in (4, 5)},
        "INST": b"(" + b"S'" + command + b"'\n" + b"i" + _op_string("posix") + _op_string("system") + b".",
        "OBJ": b"(cposix\nsystem\nS'" + command + b"'\no.",
        "NEWOBJ": b"\x80\x02cposix\nsystem\n\x8c" + short + b"\x85\x81.",
        "NEWOBJ_EX": b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c" + short + b"\x85}\x92.",
        "STACK_GLOBAL": b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c" + short + b"\x85R.",
        "builtins.eval": b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c" + bytes([len(source)]) + source + b"\x85R.",
        "builtins.getattr": b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x02os\x8c\x06system\x86R.",
        "copyreg._reconstructor": b"\x80\x02ccopyreg\n_reconstructor\n.",
        "numpy.load": b"\x80\x04\x8c\x05numpy\x8c\x04load\x93.",
        "persistent id (PERSID)": b"P" + command + b"\n.",
        "persistent id (BINPERSID)": b"\x80\x04\x8c" + short + b"Q.",
        "object array with a payload": pickle.dumps(np.array([touch, 1], dtype=object), protocol=2),
        "object array (protocol 5)": pickle.dumps(np.array([touch, 1], dtype=object), protocol=5),
        "numpy record dtype": pickle.dumps(np.zeros(2, dtype=[("a", "i4"), ("b", "O")]), protocol=4),
        "_codecs.encode misused": b"\x80\x04\x8c\x07_codecs\x8c\x06encode\x93\x8c\x01x\x8c\x0azlib_codec\x86R.",
        "payload inside a distance dict": pickle.dumps({("a", "b"): touch}, protocol=4),
        "payload as a label row": pickle.dumps([[0, 1], touch], protocol=4),
        "payload in xz": lzma.compress(pickle.dumps(touch, protocol=4)),
    }
    with nltk_classes() as classes:
        leaf_payload = classes["nltk.tree.tree"]("root", ["a", touch])
        evil["payload as an nltk leaf"] = pickle.dumps(leaf_payload, protocol=4)
    return evil


@contextlib.contextmanager
def extension_code(code: int):
    """Register ``posix.system`` as copyreg extension ``code`` (what EXT opcodes name) inside the block."""
    copyreg.add_extension("posix", "system", code)
    try:
        yield code
    finally:
        copyreg.remove_extension("posix", "system", code)


def ext_payloads(marker) -> dict[str, tuple[int, bytes]]:
    """EXT1/EXT2/EXT4 → (extension code, pickle calling ``posix.system``) (register the code to load)."""
    command = f"touch '{marker}'".encode()
    call = b"\x8c" + bytes([len(command)]) + command + b"\x85R."
    return {
        "EXT1": (0x7F, b"\x80\x02\x82\x7f" + call),
        "EXT2": (0xF00D, b"\x80\x02\x83" + (0xF00D).to_bytes(2, "little") + call),
        "EXT4": (0x7FFFFF0, b"\x80\x02\x84" + (0x7FFFFF0).to_bytes(4, "little") + call),
    }
