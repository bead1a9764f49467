"""Putting a hierarchy's or a distance matrix's classes in a dataset's class order (by name)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.formats.common import check_names
from core.hierarchy import Hierarchy, HierarchyError, name_differences

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
    check_names(dataset, "dataset class list")
    position = {n: i for i, n in enumerate(names)}
    parts = name_differences(dataset, names, f"dataset class(es) not in the {what}: ",
                             f"{what} class(es) not in the dataset: ", shown=10)
    if parts:
        hint = ""
        if {n.strip().lower() for n in names} == {c.strip().lower() for c in dataset}:
            hint = " (the names differ only in case or surrounding spaces)"
        raise HierarchyError(f"the {what}'s classes do not match the dataset's{hint}: " + "; ".join(parts))
    return np.array([position[c] for c in dataset], dtype=np.int64)


