"""Helpers shared by the benchmark scripts: the reference hierarchies, a synthetic balanced tree,
best-of timing and a fixed-width table formatter."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from core.hierarchy import Hierarchy

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference" / "hierarchies"
# K → the reference hierarchy with that many classes (../shared/reference/hierarchies/<stem>_distances.npz).
REFERENCE = {100: "cifar100_l5", 608: "tiered_imagenet_h", 1010: "inaturalist19"}


def balanced_tree(num_classes: int, fanout: int = 4) -> Hierarchy:
    """A tree over ``num_classes`` leaves with every leaf at the same depth: consecutive nodes are
    grouped ``fanout`` at a time, level by level, until one root remains."""
    level = [f"c{i}" for i in range(num_classes)]
    edges: list[tuple[str, str]] = []
    depth = 0
    while len(level) > 1:
        depth += 1
        parents = []
        for start in range(0, len(level), fanout):
            parent = f"g{depth}_{start // fanout}"
            edges.extend((parent, child) for child in level[start:start + fanout])
            parents.append(parent)
        level = parents
    return Hierarchy.from_edges(edges, classes=[f"c{i}" for i in range(num_classes)], name=f"balanced-{num_classes}")


def load_case(k: int, force_synthetic: bool = False) -> tuple[str, np.ndarray, list[str]]:
    """(name, K×K int64 distances, class names): the reference hierarchy with K classes when
    ../shared is present (and ``force_synthetic`` is off), else a balanced synthetic tree with K leaves."""
    stem = REFERENCE.get(k)
    path = SHARED / f"{stem}_distances.npz" if stem else None
    if not force_synthetic and path is not None and path.exists():
        with np.load(path) as data:
            return stem, data["distances"].astype(np.int64), [str(c) for c in data["classes"]]
    hier = balanced_tree(k)
    return hier.name, hier.distance_matrix(), list(hier.leaves)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``; the script applies it with ``torch.set_num_threads`` when given."""
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own); 1 avoids stalls when other jobs share the cores")


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Fastest of ``repeats`` (at least one) timed calls of ``fn()`` in seconds, and the last call's result."""
    best, out = np.inf, None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


class Column(NamedTuple):
    """One table column: header ``title``; ``align`` is a format alignment and width ("<20", ">5")
    applied to the header and to every cell; ``cell`` is a row key or a function of the row; ``fmt``
    the format spec of its value (".4f")."""

    title: str
    align: str
    cell: str | Callable[[dict], object]
    fmt: str = ""


def render_table(columns: list[Column], rows: list[dict]) -> str:
    """Header, a dashed rule as wide as the header, then one line per row; cells separated by one space."""
    head = " ".join(f"{c.title:{c.align}}" for c in columns)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = (format(r[c.cell] if isinstance(c.cell, str) else c.cell(r), c.fmt) for c in columns)
        lines.append(" ".join(f"{text:{c.align}}" for text, c in zip(cells, columns)))
    return "\n".join(lines)


INAT21_LEVELS = (3, 13, 51, 273, 1103, 4884, 10000)  # kingdoms … species of iNaturalist-21


def inat21_like_tree(num_classes: int = 10000, seed: int = 0) -> Hierarchy:
    """A random tree shaped like iNaturalist-21's taxonomy: 7 levels below the root with its node
    counts per level (scaled to ``num_classes`` leaves) and uneven, heavy-tailed branching."""
    rng = np.random.default_rng(seed)
    scale = num_classes / INAT21_LEVELS[-1]
    counts = [max(1, round(n * scale)) for n in INAT21_LEVELS[:-1]] + [num_classes]
    names = ["Life"]
    edges: list[tuple[str, str]] = []
    for depth, count in enumerate(counts, start=1):
        count = max(count, len(names))
        weight = rng.lognormal(0.0, 1.0, size=len(names))  # some parents get many children, most few
        extra = rng.choice(len(names), size=count - len(names), p=weight / weight.sum())
        per_parent = 1 + np.bincount(extra, minlength=len(names))
        children = []
        for parent, n in zip(names, per_parent):
            for j in range(n):
                child = f"L{depth}_{len(children)}"
                edges.append((parent, child))
                children.append(child)
        names = children
    return Hierarchy.from_edges(edges, name=f"inat21-like-{num_classes}")
