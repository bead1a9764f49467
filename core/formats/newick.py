"""Newick trees: ``((a,b)x,c)root;`` with quoted labels, comments and (ignored) branch lengths."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from core.formats import common
from core.formats.common import where
from core.hierarchy import Hierarchy, HierarchyError

NEWICK_SUFFIXES = (".nwk", ".newick", ".tre", ".tree")

_NEWICK_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<punct>[(),;])|(?P<length>:\s*[^\s(),;:\[\]']*)|(?P<label>[^\s(),;:\[\]']+)"
)


def _newick_tokens(text: str, filename: str):
    """Yield ``(kind, value, pos)``: kind is ``(``, ``)``, ``,``, ``;``, ``:`` or ``label``."""
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in "['":  # comments and quoted labels: found with str.find, never backtracking
            end = _newick_closing(text, pos, filename)
            if char == "'":
                yield "label", text[pos + 1:end].replace("''", "'"), pos
            pos = end + 1
            continue
        match = _NEWICK_TOKEN.match(text, pos)
        if match is None:
            raise HierarchyError(f"{filename}: ']' without '[' ({where(text, pos)})")
        kind, value = match.lastgroup, match.group()
        if kind == "punct":
            yield value, value, pos
        elif kind == "length":
            _newick_length(value[1:].strip(), text, pos, filename)
            yield ":", value, pos
        elif kind == "label":
            yield "label", value, pos
        pos = match.end()


def _newick_closing(text: str, pos: int, filename: str) -> int:
    """Index of the ``]`` closing a comment, or the ``'`` closing a quoted label (``''`` skipped)."""
    char = text[pos]
    close, end = ("]" if char == "[" else "'"), pos
    while True:
        end = text.find(close, end + 1)
        if end < 0:
            what = "comment '[' is never closed" if char == "[" else "quoted label is never closed"
            raise HierarchyError(f"{filename}: {what} ({where(text, pos)}) — truncated?")
        if close == "]" or text[end + 1:end + 2] != "'":
            return end
        end += 1  # a doubled quote inside the label


def _newick_length(value: str, text: str, pos: int, filename: str) -> None:
    """Check a branch length is a number (its value is not used)."""
    try:
        float(value)
    except ValueError:
        raise HierarchyError(
            f"{filename}: branch length '{value[:20]}' at {where(text, pos)} is not a number"
        ) from None


class _NewickBuilder:
    """Nodes of a Newick tree, built token by token without recursion."""

    def __init__(self, text: str, filename: str):
        self.text, self.filename = text, filename
        self.labels: list[str | None] = []
        self.parents: list[int] = []
        self.positions: list[int] = []
        self.internal: list[bool] = []
        self.open: list[int] = []  # internal nodes whose ')' has not come yet
        self.last: int | None = None  # the node a label or length may still attach to
        self.has_label = self.has_length = False
        self.expect_node = True

    def fail(self, message: str, pos: int):
        raise HierarchyError(f"{self.filename}: {message} ({where(self.text, pos)})")

    def add(self, label: str | None, pos: int, internal: bool) -> int:
        if len(self.labels) >= common.MAX_NODES:
            self.fail(f"more than {common.MAX_NODES} nodes", pos)
        self.labels.append(label)
        self.parents.append(self.open[-1] if self.open else -1)
        self.positions.append(pos)
        self.internal.append(internal)
        self.last, self.has_label, self.has_length = len(self.labels) - 1, label is not None, False
        self.expect_node = internal
        return self.last

    def token(self, kind: str, value: str, pos: int) -> None:
        if kind == "(":
            if not self.expect_node:
                self.fail("unexpected '(' (missing ','?)", pos)
            self.open.append(self.add(None, pos, internal=True))
        elif kind in ",)":
            if not self.open and kind == ")":
                self.fail("unbalanced parentheses: ')' without a matching '('", pos)
            if not self.open:
                self.fail("',' outside any '(...)' (a tree has one root: wrap the list in parentheses)", pos)
            if self.expect_node:
                self.add(None, pos, internal=False)
            self.expect_node = kind == ","
            self.last = None if kind == "," else self.open.pop()
            self.has_label = self.has_length = False
        elif kind == "label":
            self.label(value, pos)
        elif kind == ":":
            if self.expect_node:
                self.add(None, pos, internal=False)
            if self.last is None or self.has_length:
                self.fail("unexpected branch length", pos)
            self.has_length = True

    def label(self, value: str, pos: int) -> None:
        if self.expect_node:
            self.add(value, pos, internal=False)
        elif self.last is not None and not self.has_label and not self.has_length:
            self.labels[self.last], self.has_label = value, True
        else:
            self.fail(f"unexpected label '{value[:40]}' (missing ',' or ')'?)", pos)

    def finish(self, end: int | None) -> None:
        """Check the tree was closed by ';' with balanced parentheses."""
        if self.open:
            unclosed = self.positions[self.open[-1]]
            self.fail(f"unbalanced parentheses: {len(self.open)} '(' never closed; the last one", unclosed)
        if end is None:
            self.fail("no ';' at the end of the tree (truncated?)", len(self.text))


def parse_newick(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """A single Newick tree ending in ``;``."""
    tree = _NewickBuilder(text, filename)
    end = None
    for kind, value, pos in _newick_tokens(text, filename):
        if end is not None:
            tree.fail("text after the tree's ';' (one tree per file)", pos)
        if kind == ";":
            if tree.open:
                tree.fail(f"unbalanced parentheses: ';' with {len(tree.open)} '(' still open", pos)
            if not tree.labels:
                tree.fail("no tree before ';'", pos)
            end = pos
            continue
        tree.token(kind, value, pos)
    tree.finish(end)
    names = _newick_names(tree)
    edges = [(names[p], names[i]) for i, p in enumerate(tree.parents) if p >= 0]
    if not edges:
        tree.fail("the tree has a single node; at least 2 leaves are needed", 0)
    return Hierarchy.from_edges(edges, classes, Path(filename).stem, where=filename)


def _newick_names(tree: _NewickBuilder) -> list[str]:
    """Node names: labels, ``node_<n>`` for unlabeled internal nodes; checks leaves and duplicates."""
    used = {label for label in tree.labels if label}
    names, seen, counter = [], {}, 0
    for i, label in enumerate(tree.labels):
        if not label:
            if not tree.internal[i]:
                tree.fail("a leaf has no name", tree.positions[i])
            while f"node_{counter}" in used:
                counter += 1
            label = f"node_{counter}"
            used.add(label)
        if label in seen:
            kind = "node" if tree.internal[i] else "leaf"
            tree.fail(f"duplicate {kind} name '{label[:40]}' (also at {where(tree.text, seen[label])})",
                      tree.positions[i])
        seen[label] = tree.positions[i]
        names.append(label)
    return names
