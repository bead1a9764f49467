"""Writers for downloads and round trips: JSON (class order kept), CSV edges, Newick, isa.txt.

All are iterative, so trees thousands of levels deep are written without recursion.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from core.hierarchy import Hierarchy, HierarchyError

def _children_counts(h: Hierarchy) -> np.ndarray:
    return np.bincount(h.parents[h.parents >= 0], minlength=h.num_nodes)


def to_json(h: Hierarchy) -> str:
    """``{"name", "classes", "tree"}`` JSON (class order kept), written without recursion."""
    kids = _children_counts(h)
    dump = _json_string
    out = [f'{{\n "name": {dump(h.name)},\n "classes": [{", ".join(dump(c) for c in h.leaves)}],\n "tree": ']
    stack: list[int] = []
    started: set[int] = set()  # nodes that already wrote a child
    for i, name in enumerate(h.names):
        parent = int(h.parents[i])
        while stack and stack[-1] != parent:
            stack.pop()
            out.append("]}")
        if parent >= 0:
            out.append("," if parent in started else "")
            started.add(parent)
        extra = f', "display_name": {dump(h.display_names[name])}' if name in h.display_names else ""
        out.append(f'\n{" " * min(len(stack) + 2, 40)}{{"name": {dump(name)}{extra}, "children": [')
        if kids[i]:
            stack.append(i)
        else:
            out.append("]}")
    out.append("]}" * len(stack))
    out.append("\n}\n")
    return "".join(out)


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_csv_edges(h: Hierarchy) -> str:
    """CSV edge list with a ``parent,child`` header (tree pre-order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["parent", "child"])
    writer.writerows(h.edges())
    return buffer.getvalue()


_NEWICK_SPECIAL = set("()[]',;:")


def _newick_label(name: str) -> str:
    """A Newick label, quoted when it has spaces or Newick punctuation."""
    if name and not any(ch in _NEWICK_SPECIAL or ch.isspace() for ch in name):
        return name
    return "'" + name.replace("'", "''") + "'"


def to_newick(h: Hierarchy) -> str:
    """Newick with every node labelled (``((a,b)x,c)root;``), written without recursion."""
    kids = _children_counts(h)
    out: list[str] = []
    stack: list[int] = []
    started: set[int] = set()
    for i, name in enumerate(h.names):
        parent = int(h.parents[i])
        while stack and stack[-1] != parent:
            out.append(")" + _newick_label(h.names[stack.pop()]))
        if parent >= 0:
            out.append("," if parent in started else "")
            started.add(parent)
        if kids[i]:
            out.append("(")
            stack.append(i)
        else:
            out.append(_newick_label(name))
    while stack:
        out.append(")" + _newick_label(h.names[stack.pop()]))
    return "".join(out) + ";\n"


def to_isa(h: Hierarchy) -> str:
    """``parent child`` lines (making-better-mistakes ``isa.txt``); names may not hold spaces."""
    for name in h.names:
        if not name or name.startswith("#") or any(ch.isspace() for ch in name):
            raise HierarchyError(
                f"node name {name!r} cannot be written as isa.txt (names there may not contain "
                "whitespace or start with '#'); use JSON, CSV or Newick"
            )
    return "".join(f"{parent} {child}\n" for parent, child in h.edges())
