"""Readers for hierarchy files and precomputed distance matrices.

Every reader refuses files over ``MAX_FILE_BYTES`` before parsing, never unpickles, and turns any
problem into a :class:`~core.hierarchy.HierarchyError` whose message names the file and the spot.

Hierarchy formats (chosen by extension, or by content for uploads without one):

* JSON: a tree ``{"name": ..., "children": [...]}``; or ``{"tree": <tree>, "classes": [...]}``
  (the reference's files, whose ``classes`` fixes the class order); or an adjacency object
  ``{"parent": ["child", ...], ...}``.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.hierarchy import Hierarchy, HierarchyError

MAX_FILE_BYTES = 50 * 1024 * 1024
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "hierarchies"


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


def read_hierarchy(path, classes: Sequence[str] | None = None) -> Hierarchy:
    """Read a hierarchy file from disk (format by extension)."""
    path = Path(path)
    if not path.exists():
        raise HierarchyError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise HierarchyError(f"{path.name}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    return parse_hierarchy(path.read_bytes(), path.name, classes)


def parse_hierarchy(data: bytes, filename: str, classes: Sequence[str] | None = None) -> Hierarchy:
    """Parse hierarchy bytes; ``filename`` picks the format and names the file in errors."""
    if len(data) > MAX_FILE_BYTES:
        raise HierarchyError(f"{filename}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffix = Path(filename).suffix.lower()
    if suffix in (".pkl", ".pickle"):
        raise HierarchyError(
            f"{filename}: pickle files are never loaded (they can run code). Convert it to JSON, "
            "e.g. json.dump({'name': root, 'children': [...]}, open('tree.json', 'w'))"
        )
    text = _decode(data, filename)
    if not text.strip():
        raise HierarchyError(f"{filename}: the file is empty")
    if suffix == ".json" or suffix == "":
        return _parse_json(text, filename, classes)
    raise HierarchyError(f"{filename}: unknown hierarchy format '{suffix}'; use .json")


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise HierarchyError(f"{filename}: not UTF-8 text (undecodable byte at offset {err.start})") from None


def _parse_json(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    try:
        doc = _json_loads_deep(text)
    except json.JSONDecodeError as err:
        raise HierarchyError(f"{filename}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    stem = Path(filename).stem
    if isinstance(doc, dict) and isinstance(doc.get("tree"), dict):
        name = str(doc.get("name") or stem)
        return Hierarchy.from_tree(doc["tree"], classes or doc.get("classes"), name, where=filename)
    if isinstance(doc, dict) and "name" in doc:
        return Hierarchy.from_tree(doc, classes, stem, where=filename)
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        edges = [(p, c) for p, kids in doc.items() for c in kids]
        return Hierarchy.from_edges(edges, classes, stem, where=filename)
    raise HierarchyError(
        f"{filename}: JSON must be a tree {{\"name\": ..., \"children\": [...]}}, "
        "an object with \"tree\" and \"classes\", or a parent → children object"
    )


def _json_loads_deep(text: str):
    """json.loads that accepts nesting thousands of levels deep (the C parser recurses)."""
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(limit, 200_000))
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    finally:
        sys.setrecursionlimit(limit)
