"""The hierarchies shipped in ``assets/hierarchies`` and resolving a run's hierarchy source."""
from __future__ import annotations

from pathlib import Path

from core.formats.reader import read_hierarchy
from core.hierarchy import Hierarchy, HierarchyError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "hierarchies"


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
