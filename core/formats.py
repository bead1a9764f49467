"""Readers and writers for hierarchy files and precomputed distance matrices.

Every reader refuses files over ``MAX_FILE_BYTES`` (folders over ``MAX_FOLDER_ENTRIES``
sub-folders) before parsing, never unpickles, is iterative (trees thousands of levels deep are
fine), and turns any problem into a :class:`~core.hierarchy.HierarchyError` whose message names
the file and the spot (line, column or node). No other exception escapes a reader for any bytes.

Hierarchy formats (chosen by extension; an upload without one is recognised by its content):

* JSON (``.json``): a tree ``{"name": ..., "children": [...]}``; or ``{"tree": <tree>,
  "classes": [...]}`` (the reference's files, whose ``classes`` fixes the class order); or an
  adjacency object ``{"parent": ["child", ...], ...}``.
* CSV edge list (``.csv``): a header row naming the columns ``parent`` and ``child`` (other
  columns are ignored), then one edge per row. Names are stripped of surrounding whitespace.
* Newick (``.nwk``, ``.newick``, ``.tre``, ``.tree``): ``((a,b)x,c)root;``. Labels after ``)``
  name internal nodes; unlabeled internal nodes are named ``node_<n>``; branch lengths
  (``:0.1``) and ``[comments]`` are ignored; ``'quoted labels'`` (``''`` for a quote) keep spaces
  and punctuation; underscores are kept as they are. Every leaf needs a name.
* ``isa.txt`` (``.txt``, the making-better-mistakes format): one ``parent child`` pair per line,
  whitespace-separated; blank lines and lines starting with ``#`` are skipped.
* A folder (``read_hierarchy(path_to_folder)``): nested sub-folders are the tree, the deepest
  folders are the classes (as torchvision ``ImageFolder`` expects), the root is the folder's own
  name; hidden folders (``.name``) and files are ignored; class order is ``sorted()`` of the leaf
  folder names, the order ``ImageFolder`` gives when pointed at the flattened class folders.

For CSV, Newick and isa files the class order is the depth-first order of the tree as written.
Pickles (``.pkl``, ``.pickle``) are refused with a note on converting them.

Distance matrices (:func:`load_distances`): ``.npz`` with arrays ``distances`` (K×K) and
``classes`` (K strings), read with ``allow_pickle=False``; or ``.csv`` with a header row of class
names and K rows of K numbers, optionally with a first label column (``,a,b`` header and rows
``a,0,2``). Both are checked: square, symmetric, finite, non-negative, zero diagonal, names unique
and as many as the matrix's rows.

Writers (downloads, round trips): :func:`to_json`, :func:`to_csv_edges`, :func:`to_newick`,
:func:`to_isa`. :func:`match_classes` reorders a hierarchy's or matrix's classes to a dataset's.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import zipfile
from collections.abc import Sequence
from json.decoder import scanstring
from pathlib import Path

import numpy as np

from core.hierarchy import Hierarchy, HierarchyError

__all__ = [
    "MAX_FILE_BYTES", "MAX_FOLDER_ENTRIES", "MAX_NODES", "bundled_hierarchies", "load_bundled",
    "resolve_hierarchy", "read_hierarchy", "parse_hierarchy", "load_distances", "parse_distances",
    "match_classes", "to_json", "to_csv_edges", "to_newick", "to_isa",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FOLDER_ENTRIES = 200_000  # sub-folders read from a folder hierarchy
MAX_NODES = 1_000_000  # tree nodes (edges) read from a Newick, CSV or isa file; JSON nesting/2
MAX_ARRAY_BYTES = 256 * 1024 * 1024  # one uncompressed array in a distance .npz
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "hierarchies"

NEWICK_SUFFIXES = (".nwk", ".newick", ".tre", ".tree")
HIERARCHY_SUFFIXES = (".json", ".csv", ".txt") + NEWICK_SUFFIXES
DISTANCE_SUFFIXES = (".npz", ".csv")

_PICKLE_HINT = (
    "pickle files are never loaded (they can run code). Convert it in Python, e.g. for a tree: "
    "json.dump({'name': root, 'children': [...]}, open('tree.json', 'w')); for distances: "
    "np.savez('distances.npz', distances=D, classes=np.array(names, dtype=str))"
)


# --------------------------------------------------------------------------- bundled files
def bundled_hierarchies() -> dict[str, Path]:
    """Name → path of the hierarchies shipped in ``assets/hierarchies`` (sorted by name)."""
    return {p.stem: p for p in sorted(ASSETS.glob("*.json"))}


def load_bundled(name: str) -> Hierarchy:
    """Load a bundled hierarchy by name (``synthetic``, ``fashion_mnist``, ``cifar100``)."""
    paths = bundled_hierarchies()
    if name not in paths:
        raise HierarchyError(f"no bundled hierarchy '{name}'; choose one of {sorted(paths)}")
    return read_hierarchy(paths[name])


def resolve_hierarchy(source: str) -> Hierarchy:
    """A bundled hierarchy name or a file path → Hierarchy."""
    if source in bundled_hierarchies():
        return load_bundled(source)
    return read_hierarchy(source)


# --------------------------------------------------------------------------- hierarchy readers
def read_hierarchy(path, classes: Sequence[str] | None = None) -> Hierarchy:
    """Read a hierarchy file (format by extension) or a folder tree from disk."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, classes)
    return parse_hierarchy(_read_file(path), path.name, classes)


def parse_hierarchy(data: bytes, filename: str, classes: Sequence[str] | None = None) -> Hierarchy:
    """Parse hierarchy bytes; ``filename`` picks the format and names the file in errors."""
    if len(data) > MAX_FILE_BYTES:
        raise HierarchyError(f"{filename}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffixes = [s.lower() for s in Path(filename).suffixes]
    if ".pkl" in suffixes or ".pickle" in suffixes:
        raise HierarchyError(f"{filename}: {_PICKLE_HINT}")
    if suffixes[-1:] == [".npz"]:
        distances, names = parse_distances(data, filename)
        return hierarchy_from_distances(distances, names, Path(filename).stem, filename)
    text = _decode(data, filename)
    if not text.strip():
        raise HierarchyError(f"{filename}: the file is empty")
    suffix = Path(filename).suffix.lower()
    parser = _PARSERS.get(suffix) if suffix else _sniff(text)
    if parser is None:
        raise HierarchyError(
            f"{filename}: unknown hierarchy format '{suffix}'; use one of {', '.join(HIERARCHY_SUFFIXES)} "
            "or a folder"
        )
    return parser(text, filename, classes)


def _sniff(text: str):
    """Pick a parser from the content of a file without an extension."""
    head = text.lstrip()
    if head[0] in "{[":
        return _parse_json
    if head[0] == "(":
        return _parse_newick
    first_line = head.split("\n", 1)[0]
    cells = {c.strip().strip('"').lower() for c in first_line.split(",")}
    if {"parent", "child"} <= cells:
        return _parse_csv_edges
    return _parse_isa


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file, refusing missing, special or oversized files."""
    limit = MAX_FILE_BYTES
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
    except FileNotFoundError:
        raise HierarchyError(f"{path}: no such file") from None
    except OSError as err:
        raise HierarchyError(f"{path}: cannot read the file ({err.strerror or err})") from None
    except ValueError as err:  # e.g. a NUL in the path
        raise HierarchyError(f"{path!r}: invalid path ({err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise HierarchyError(f"{path}: not a regular file")
    if info.st_size > limit or len(data) > limit:
        raise HierarchyError(f"{path.name}: file is larger than {limit // 2**20} MiB")
    return data


def _decode(data: bytes, filename: str) -> str:
    """UTF-8 text (a leading BOM is dropped); undecodable bytes are named by offset and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise HierarchyError(
            f"{filename}: not UTF-8 text (undecodable byte 0x{data[err.start]:02x} at offset "
            f"{err.start}, line {line})"
        ) from None


def _where(text: str, pos: int) -> str:
    """``line L, column C`` of a character offset (both 1-based)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _edges_to_hierarchy(rows, filename: str, classes) -> Hierarchy:
    """``(line, parent, child)`` rows → Hierarchy, naming lines for two-parent nodes and self-loops."""
    if not rows:
        raise HierarchyError(f"{filename}: no edges found (the file is empty or truncated)")
    if len(rows) > MAX_NODES:
        raise HierarchyError(f"{filename}: more than {MAX_NODES} edges")
    first: dict[str, tuple[str, int]] = {}
    for line, parent, child in rows:
        if parent == child:
            raise HierarchyError(f"{filename}: line {line}: cycle: '{child}' is its own parent")
        if child in first and first[child][0] != parent:
            other, other_line = first[child]
            raise HierarchyError(
                f"{filename}: line {line}: not a tree: node '{child}' has two parents "
                f"('{other}' on line {other_line} and '{parent}')"
            )
        first.setdefault(child, (parent, line))
    edges = [(parent, child) for _, parent, child in rows]
    return Hierarchy.from_edges(edges, classes, Path(filename).stem, where=filename)


# --------------------------------------------------------------------------- JSON
def _parse_json(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """A JSON tree, ``{"tree", "classes"}`` object, or parent → children object."""
    try:
        doc = _json_load(text)
    except json.JSONDecodeError as err:
        ends_early = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string")
        note = " — the file ends early (truncated?)" if ends_early else ""
        raise HierarchyError(
            f"{filename}: not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}){note}"
        ) from None
    except ValueError as err:  # e.g. an integer literal over Python's digit limit
        raise HierarchyError(f"{filename}: not valid JSON ({err})") from None
    stem = Path(filename).stem
    if isinstance(doc, dict) and isinstance(doc.get("tree"), dict):
        file_classes = _json_classes(doc, filename)
        name = str(doc.get("name") or stem)
        return Hierarchy.from_tree(doc["tree"], classes or file_classes, name, where=filename)
    if isinstance(doc, dict) and "name" in doc:
        return Hierarchy.from_tree(doc, classes or _json_classes(doc, filename), stem, where=filename)
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        return Hierarchy.from_edges(_json_adjacency(doc, filename), classes, stem, where=filename)
    raise HierarchyError(
        f"{filename}: JSON must be a tree {{\"name\": ..., \"children\": [...]}}, "
        "an object with \"tree\" and \"classes\", or a parent → children object"
    )


def _json_classes(doc: dict, filename: str) -> list[str] | None:
    """The optional ``"classes"`` list of a JSON document, validated."""
    listed = doc.get("classes")
    if listed is None:
        return None
    if not isinstance(listed, list) or not all(isinstance(c, (str, int)) for c in listed):
        raise HierarchyError(f"{filename}: \"classes\" must be a list of class names")
    return [str(c) for c in listed]


def _json_adjacency(doc: dict, filename: str) -> list[tuple[str, str]]:
    """Edges of a ``{"parent": ["child", ...]}`` object (children must be names)."""
    edges = []
    for parent, kids in doc.items():
        for kid in kids:
            if not isinstance(kid, (str, int)) or isinstance(kid, bool):
                raise HierarchyError(f"{filename}: children of '{parent}' must be names, found {kid!r:.40}")
            edges.append((parent, str(kid)))
    return edges


def _json_load(text: str):
    """json.loads; documents nested deeper than the C parser allows use an iterative parser."""
    try:
        return json.loads(text)
    except RecursionError:
        return _json_loads_iterative(text)


_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_JSON_CONSTANTS = {"-Infinity": -math.inf, "Infinity": math.inf, "NaN": math.nan,
                   "true": True, "false": False, "null": None}


def _json_loads_iterative(text: str):
    """Parse JSON with an explicit stack (same grammar and errors as ``json.loads``)."""
    stack: list[tuple[dict | list, str | None]] = []  # open containers and their pending key
    pos = _JSON_WS.match(text, 0).end()
    while True:
        char = text[pos:pos + 1]
        if char in ("{", "["):
            container: dict | list = {} if char == "{" else []
            pos = _JSON_WS.match(text, pos + 1).end()
            if text[pos:pos + 1] != ("}" if char == "{" else "]"):
                if len(stack) >= 2 * MAX_NODES:
                    raise json.JSONDecodeError(f"nested more than {2 * MAX_NODES} levels", text, pos)
                key, pos = _json_key(text, pos) if char == "{" else (None, pos)
                stack.append((container, key))
                continue
            value, pos = container, pos + 1
        else:
            value, pos = _json_scalar(text, pos)
        while True:  # store the value, then close containers or move to the next item
            if not stack:
                end = _JSON_WS.match(text, pos).end()
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
                return value
            container, key = stack[-1]
            if key is None:
                container.append(value)
            else:
                container[key] = value
            pos = _JSON_WS.match(text, pos).end()
            char = text[pos:pos + 1]
            if char == ",":
                pos = _JSON_WS.match(text, pos + 1).end()
                if isinstance(container, dict):
                    key, pos = _json_key(text, pos)
                    stack[-1] = (container, key)
                break
            if char != ("}" if isinstance(container, dict) else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            stack.pop()
            value, pos = container, pos + 1


def _json_scalar(text: str, pos: int):
    """A string, number or constant at ``pos`` → ``(value, end)``."""
    if text[pos:pos + 1] == '"':
        return scanstring(text, pos + 1, True)
    for word, value in _JSON_CONSTANTS.items():  # before numbers: "-Infinity"
        if text.startswith(word, pos):
            return value, pos + len(word)
    match = _JSON_NUMBER.match(text, pos)
    if match:
        integer, fraction, exponent = match.groups()
        if fraction or exponent:
            return float(match.group()), match.end()
        return int(integer), match.end()
    raise json.JSONDecodeError("Expecting value", text, pos)


def _json_key(text: str, pos: int) -> tuple[str, int]:
    """An object key and its ``:``; returns the key and the position of its value."""
    if text[pos:pos + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1, True)
    pos = _JSON_WS.match(text, pos).end()
    if text[pos:pos + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, _JSON_WS.match(text, pos + 1).end()


# --------------------------------------------------------------------------- CSV edge list
def _csv_rows(text: str, filename: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with the line each ends on; csv errors become HierarchyError."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
            if len(rows) > MAX_NODES + 1:
                raise HierarchyError(f"{filename}: line {reader.line_num}: more than {MAX_NODES} rows")
    except csv.Error as err:
        raise HierarchyError(f"{filename}: line {max(reader.line_num, 1)}: not valid CSV ({err})") from None
    if not rows:
        raise HierarchyError(f"{filename}: the file has no rows (empty?)")
    return rows


def _parse_csv_edges(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """A CSV edge list with a ``parent,child`` header."""
    rows = _csv_rows(text, filename)
    header_line, header = rows[0]
    columns = [cell.strip().lower() for cell in header]
    if "parent" not in columns or "child" not in columns:
        raise HierarchyError(
            f"{filename}: line {header_line}: the first row must be the header 'parent,child' "
            f"(found '{','.join(header)[:80]}')"
        )
    p_col, c_col = columns.index("parent"), columns.index("child")
    edges = []
    for line, row in rows[1:]:
        if len(row) <= max(p_col, c_col):
            raise HierarchyError(f"{filename}: line {line}: expected {len(header)} columns, found {len(row)}")
        parent, child = row[p_col].strip(), row[c_col].strip()
        if not parent or not child:
            raise HierarchyError(f"{filename}: line {line}: empty {'parent' if not parent else 'child'} name")
        edges.append((line, parent, child))
    return _edges_to_hierarchy(edges, filename, classes)


# --------------------------------------------------------------------------- isa.txt
def _parse_isa(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """making-better-mistakes ``isa.txt``: ``parent child`` per line."""
    edges = []
    for line, content in enumerate(io.StringIO(text, newline="\n"), start=1):
        fields = content.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(edges) >= MAX_NODES:
            raise HierarchyError(f"{filename}: line {line}: more than {MAX_NODES} edges")
        if len(fields) != 2:
            raise HierarchyError(
                f"{filename}: line {line}: expected 'parent child' (two names separated by "
                f"whitespace), found {len(fields)} field(s)"
            )
        edges.append((line, fields[0], fields[1]))
    return _edges_to_hierarchy(edges, filename, classes)


# --------------------------------------------------------------------------- Newick
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
            raise HierarchyError(f"{filename}: ']' without '[' ({_where(text, pos)})")
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
            raise HierarchyError(f"{filename}: {what} ({_where(text, pos)}) — truncated?")
        if close == "]" or text[end + 1:end + 2] != "'":
            return end
        end += 1  # a doubled quote inside the label


def _newick_length(value: str, text: str, pos: int, filename: str) -> None:
    """Check a branch length is a number (its value is not used)."""
    try:
        float(value)
    except ValueError:
        raise HierarchyError(
            f"{filename}: branch length '{value[:20]}' at {_where(text, pos)} is not a number"
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
        raise HierarchyError(f"{self.filename}: {message} ({_where(self.text, pos)})")

    def add(self, label: str | None, pos: int, internal: bool) -> int:
        if len(self.labels) >= MAX_NODES:
            self.fail(f"more than {MAX_NODES} nodes", pos)
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


def _parse_newick(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
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
            tree.fail(f"duplicate {kind} name '{label[:40]}' (also at {_where(tree.text, seen[label])})",
                      tree.positions[i])
        seen[label] = tree.positions[i]
        names.append(label)
    return names


_PARSERS = {".json": _parse_json, ".csv": _parse_csv_edges, ".txt": _parse_isa}  # by extension
_PARSERS.update({suffix: _parse_newick for suffix in NEWICK_SUFFIXES})


# --------------------------------------------------------------------------- folder tree
def _read_folder(root: Path, classes: Sequence[str] | None) -> Hierarchy:
    """A folder whose nested non-hidden sub-folders are the tree (leaves: deepest folders)."""
    try:
        root_name = root.resolve().name or "root"
        edges = _folder_edges(root, root_name)
    except OSError as err:
        raise HierarchyError(f"{root}: cannot read the folder ({err.strerror or err})") from None
    if not edges:
        raise HierarchyError(f"{root}: the folder has no sub-folders; at least 2 class folders are needed")
    children = {child for _, child in edges}
    parents = {parent for parent, _ in edges}
    leaves = sorted(children - parents)
    return Hierarchy.from_edges(edges, classes or leaves, root_name, where=str(root))


def _folder_edges(root: Path, root_name: str) -> list[tuple[str, str]]:
    """(parent, child) folder-name edges, children sorted; walks with directory file descriptors.

    Descriptors (not paths) keep trees deeper than PATH_MAX readable; a parent's descriptor is
    closed as soon as its last sub-folder is opened, so a chain holds only two at a time.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    held: dict[int, int] = {}  # open descriptor → sub-folders still to open through it
    parent_of: dict[str, str | None] = {root_name: None}
    visited: set[tuple[int, int]] = set()
    edges: list[tuple[str, str]] = []
    stack: list[tuple[int | None, str]] = [(None, root_name)]  # (parent's descriptor, folder name)
    try:
        while stack:
            parent_fd, name = stack.pop()
            fd = os.open(root, flags) if parent_fd is None else os.open(name, flags, dir_fd=parent_fd)
            held[fd] = 0
            if parent_fd is not None:
                _release(parent_fd, held)
            subdirs = _subfolders(fd, name, root, parent_of, visited)
            if len(parent_of) + len(subdirs) > MAX_FOLDER_ENTRIES:
                raise HierarchyError(f"{root}: more than {MAX_FOLDER_ENTRIES} sub-folders")
            parent_of.update((sub, name) for sub in subdirs)
            edges.extend((name, sub) for sub in subdirs)
            held[fd] = len(subdirs) + 1
            stack.extend((fd, sub) for sub in reversed(subdirs))
            _release(fd, held)
    finally:
        for fd in held:
            os.close(fd)
    return edges


def _release(fd: int, held: dict[int, int]) -> None:
    """One use of a descriptor is done; close it when nothing else needs it."""
    held[fd] -= 1
    if held[fd] <= 0:
        del held[fd]
        os.close(fd)


def _subfolders(fd: int, name: str, root: Path, parent_of: dict, visited: set) -> list[str]:
    """Sorted non-hidden sub-folder names of an open folder; rejects loops and duplicates."""
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) in visited:
        raise HierarchyError(f"{root}: folder '{_folder_path(name, parent_of)}' loops back (symlink cycle)")
    visited.add((info.st_dev, info.st_ino))
    with os.scandir(fd) as entries:
        subdirs = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    for sub in subdirs:
        try:
            sub.encode("utf-8")
        except UnicodeEncodeError:
            raise HierarchyError(f"{root}: folder name {sub!r} under '{name}' is not UTF-8") from None
        if sub in parent_of:
            first = _folder_path(sub, parent_of)
            raise HierarchyError(
                f"{root}: duplicate folder name '{sub}' ({first} and {_folder_path(name, parent_of)}/{sub})"
            )
    return subdirs


def _folder_path(name: str, parent_of: dict[str, str | None], keep: int = 8) -> str:
    """``root/…/name`` of a folder already read (for messages)."""
    parts = [name]
    while parent_of.get(parts[-1]) is not None and len(parts) < keep:
        parts.append(parent_of[parts[-1]])
    if parent_of.get(parts[-1]) is not None:
        parts.append("…")
    return "/".join(reversed(parts))


# --------------------------------------------------------------------------- distance matrices
def load_distances(path) -> tuple[np.ndarray, list[str]]:
    """Read a distance matrix file (``.npz`` or ``.csv``) → (K×K distances, K class names)."""
    path = Path(path)
    return parse_distances(_read_file(path), path.name)


def parse_distances(data: bytes, filename: str) -> tuple[np.ndarray, list[str]]:
    """Parse distance-matrix bytes; ``filename``'s extension picks ``.npz`` or ``.csv``.

    Returns int64 distances when every value is a whole number, float64 otherwise.
    """
    if len(data) > MAX_FILE_BYTES:
        raise HierarchyError(f"{filename}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffixes = [s.lower() for s in Path(filename).suffixes]
    if ".pkl" in suffixes or ".pickle" in suffixes:
        raise HierarchyError(f"{filename}: {_PICKLE_HINT}")
    suffix = Path(filename).suffix.lower()
    if suffix == ".npz" or (not suffix and data[:4] == b"PK\x03\x04"):
        distances, classes = _read_npz(data, filename)
    elif suffix in (".csv", ""):
        distances, classes = _parse_distance_csv(_decode(data, filename), filename)
    else:
        raise HierarchyError(f"{filename}: unknown distance format '{suffix}'; use .npz or .csv")
    return _check_distances(distances, classes, filename), classes


def _read_npz(data: bytes, filename: str) -> tuple[np.ndarray, list[str]]:
    """``distances`` and ``classes`` arrays of an .npz (no pickles, sizes checked first)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            distances = _npz_member(archive, "distances", filename)
            classes = _npz_member(archive, "classes", filename)
        if distances.dtype.kind not in "iuf":
            raise HierarchyError(f"{filename}: 'distances' must hold numbers, not {distances.dtype}")
        if classes.ndim != 1 or classes.dtype.kind not in "US":
            raise HierarchyError(f"{filename}: 'classes' must be a 1-D array of strings (found "
                                 f"{classes.dtype}, shape {classes.shape}); use np.array(names, dtype=str)")
        names = [c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in classes.tolist()]
    except HierarchyError:
        raise
    except Exception as err:  # zipfile, zlib and numpy's header parser raise many kinds
        raise HierarchyError(f"{filename}: not a readable .npz file ({type(err).__name__}: {err})") from None
    return distances, names


def _npz_member(archive: zipfile.ZipFile, key: str, filename: str) -> np.ndarray:
    """One ``<key>.npy`` of an npz, refusing object (pickled) arrays and oversized shapes."""
    try:
        info = archive.getinfo(f"{key}.npy")
    except KeyError:
        raise HierarchyError(
            f"{filename}: no '{key}' array (the .npz needs 'distances' and 'classes')"
        ) from None
    if info.file_size > MAX_ARRAY_BYTES:
        raise HierarchyError(f"{filename}: '{key}' is larger than {MAX_ARRAY_BYTES // 2**20} MiB")
    raw = archive.read(info)
    handle = io.BytesIO(raw)
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise HierarchyError(f"{filename}: '{key}' uses unsupported .npy version {version}")
    shape, _, dtype = readers[version](handle)
    if dtype.hasobject:
        raise HierarchyError(f"{filename}: '{key}' is a pickled object array, which is never loaded; "
                             "save names with np.array(names, dtype=str) and distances as numbers")
    if math.prod(shape) * dtype.itemsize > len(raw) - handle.tell():
        raise HierarchyError(f"{filename}: '{key}' is truncated (its header promises shape {shape})")
    return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)


def _parse_distance_csv(text: str, filename: str) -> tuple[np.ndarray, list[str]]:
    """A CSV matrix: header of class names, then K rows of K numbers (optionally labelled)."""
    rows = _csv_rows(text, filename)
    header = [cell.strip() for cell in rows[0][1]]
    body = rows[1:]
    width = len(header)
    if not body:
        raise HierarchyError(f"{filename}: no rows after the header line (empty or truncated?)")
    bad = next(((line, row) for line, row in body if len(row) != width), None)
    if bad:
        raise HierarchyError(f"{filename}: line {bad[0]}: {len(bad[1])} cells, but the header has {width}")
    row_names = [row[0].strip() for _, row in body]
    labelled = not header[0] or set(row_names) <= set(header[1:])
    if len(body) == width - 1 and labelled:  # labelled rows: first column holds the class names
        classes = header[1:]
        order = _row_order(row_names, classes, [line for line, _ in body], filename)
        body = [body[i] for i in order]
        cells = [row[1:] for _, row in body]
    elif len(body) == width:
        classes, cells = header, [row for _, row in body]
    else:
        raise HierarchyError(
            f"{filename}: not square: the header names {width} columns but there are {len(body)} rows"
        )
    return _csv_numbers(cells, [line for line, _ in body], filename, offset=width - len(classes)), classes


def _row_order(row_names: list[str], classes: list[str], lines: list[int], filename: str) -> list[int]:
    """Row indices that put labelled rows in the header's class order."""
    position = {name: i for i, name in enumerate(row_names)}
    header_names = set(classes)
    for name, line in zip(row_names, lines):
        if name not in header_names:
            raise HierarchyError(f"{filename}: line {line}: row name '{name}' is not in the header")
    if len(position) < len(row_names):
        dupe = next(n for n in row_names if row_names.count(n) > 1)
        raise HierarchyError(f"{filename}: row name '{dupe}' appears twice")
    missing = [c for c in classes if c not in position]
    if missing:
        raise HierarchyError(f"{filename}: no row for class '{missing[0]}' named in the header")
    return [position[c] for c in classes]


def _csv_numbers(cells: list[list[str]], lines: list[int], filename: str, offset: int) -> np.ndarray:
    """Float matrix from CSV cells; a bad cell is named by line and column."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise HierarchyError(
                        f"{filename}: line {lines[r]}, column {c + 1 + offset}: '{cell[:20]}' is not a number"
                    ) from None
        raise HierarchyError(f"{filename}: the matrix holds values that are not numbers") from None


def _check_distances(distances: np.ndarray, classes: list[str], filename: str) -> np.ndarray:
    """Validate a distance matrix against its class names; returns int64 or float64."""
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise HierarchyError(f"{filename}: the distance matrix is not square (shape {distances.shape})")
    k = distances.shape[0]
    if len(classes) != k:
        raise HierarchyError(f"{filename}: {len(classes)} class names for a {k}×{k} distance matrix")
    if k < 2:
        raise HierarchyError(f"{filename}: the distance matrix has {k} class(es); at least 2 are needed")
    _check_names(classes, filename)
    values = distances.astype(np.float64)
    problems = [
        (~np.isfinite(values), "is not a finite number"),
        (values < 0, "is negative"),
        (np.eye(k, dtype=bool) & (values != 0), "is on the diagonal but not 0"),
        (values != values.T, "differs from its mirror entry (not symmetric)"),
    ]
    for mask, what in problems:
        if mask.any():
            i, j = np.argwhere(mask)[0]
            raise HierarchyError(
                f"{filename}: distance between '{classes[i]}' and '{classes[j]}' (row {i + 1}, "
                f"column {j + 1}) = {values[i, j]:g} {what}"
            )
    if np.array_equal(values, np.round(values)) and values.max() <= 2**53:
        return values.astype(np.int64)
    return values


def _check_names(classes: Sequence[str], filename: str) -> None:
    """Class names must be non-empty and unique."""
    seen: set[str] = set()
    for i, name in enumerate(classes):
        if not name:
            raise HierarchyError(f"{filename}: class name #{i + 1} is empty")
        if name in seen:
            raise HierarchyError(f"{filename}: duplicate class name '{name}'")
        seen.add(name)


# --------------------------------------------------------------------------- matching to a dataset
def hierarchy_from_distances(distances: np.ndarray, classes: Sequence[str], name: str = "distances",
                             where: str = "") -> Hierarchy:
    """The tree of an ultrametric distance matrix (K×K), so that ``distance_matrix()`` gives it back.

    Classes closer than each distance level l form one node at depth D_max − l; leaves sit at
    depth D_max. A matrix that is not an ultrametric (d(a,c) > max(d(a,b), d(b,c)) somewhere) has
    no such tree and raises HierarchyError.
    """
    prefix = f"{where}: " if where else ""
    dist = np.asarray(distances)
    levels = np.unique(dist[dist > 0])
    top = levels.max()
    edges: list[tuple[str, str]] = []
    child_of = list(map(str, classes))  # current node of each class, level by level
    for level in levels:
        group = np.full(len(dist), -1)
        for i in range(len(dist)):
            if group[i] < 0:
                members = np.flatnonzero(dist[i] <= level)
                if (group[members] >= 0).any() or dist[np.ix_(members, members)].max() > level:
                    raise HierarchyError(f"{prefix}the distance matrix is not an ultrametric, so no tree has "
                                         f"these distances (classes '{classes[i]}' … at level {level:g})")
                group[members] = i
        parent_of = {}
        for i in np.unique(group):
            parent = "root" if level == top else f"d{level:g}:{classes[i]}"
            for j in np.flatnonzero(group == i):
                parent_of.setdefault(child_of[j], parent)
            for j in np.flatnonzero(group == i):
                child_of[j] = parent
        edges.extend((p, c) for c, p in parent_of.items())
    return Hierarchy.from_edges(edges, list(map(str, classes)), name, where=where)


def match_classes(source, dataset_classes: Sequence[str], what: str = "hierarchy"):
    """Put a hierarchy's or a distance matrix's classes in a dataset's class order.

    ``source`` is a :class:`Hierarchy` (returns it restricted to ``dataset_classes``), a
    ``(distances, classes)`` pair (returns the reordered pair), or a list of names (returns the
    index array ``order`` with ``names[order] == dataset_classes``). Raises HierarchyError listing
    the names found on only one side.
    """
    dataset = [str(c) for c in dataset_classes]
    if isinstance(source, Hierarchy):
        _class_order(source.leaves, dataset, what)
        return source.restrict_to(dataset)
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], np.ndarray):
        distances, names = source
        order = _class_order([str(n) for n in names], dataset, what)
        return distances[np.ix_(order, order)], dataset
    return _class_order([str(n) for n in source], dataset, what)


def _class_order(names: list[str], dataset: list[str], what: str) -> np.ndarray:
    """Indices into ``names`` giving ``dataset``; a clear error when the two lists differ."""
    _check_names(dataset, "dataset class list")
    position = {n: i for i, n in enumerate(names)}
    only_dataset = [c for c in dataset if c not in position]
    dataset_set = set(dataset)
    only_source = [n for n in names if n not in dataset_set]
    if only_dataset or only_source:
        parts = []
        if only_dataset:
            parts.append(f"{len(only_dataset)} dataset class(es) not in the {what}: {only_dataset[:10]}")
        if only_source:
            parts.append(f"{len(only_source)} {what} class(es) not in the dataset: {only_source[:10]}")
        hint = ""
        if {n.strip().lower() for n in names} == {c.strip().lower() for c in dataset}:
            hint = " (the names differ only in case or surrounding spaces)"
        raise HierarchyError(f"the {what}'s classes do not match the dataset's{hint}: " + "; ".join(parts))
    return np.array([position[c] for c in dataset], dtype=np.int64)


# --------------------------------------------------------------------------- writers
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
