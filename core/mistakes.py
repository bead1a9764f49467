"""Mistakes seen through the hierarchy: how far up the tree a wrong prediction meets the truth.

Everything here works on the per-sample arrays an epoch snapshot holds (``eval_labels``,
``eval_predictions``, ``eval_crm_predictions``; :func:`core.metrics.epoch_arrays`), so the CRM
re-ranking toggle recomputes every view from the same file. The "height" of a mistake is the
run's hierarchical distance ``D[pred, true]`` (H − depth(LCA), METHOD.md §1): 0 for a correct
prediction, 1 for a sibling, up to H for classes that meet only at the root.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.hierarchy import Hierarchy

__all__ = ["Outcomes", "outcomes_of", "mistake_heights", "height_counts", "confusion", "confused_pairs",
           "heights_over_epochs"]


@dataclass(frozen=True)
class Outcomes:
    """One epoch's evaluation outcomes: (N,) true classes and (N,) top-1 predictions."""

    labels: np.ndarray
    predictions: np.ndarray
    crm: bool  # predictions after CRM re-ranking


def outcomes_of(arrays: dict[str, np.ndarray], crm: bool = False) -> Outcomes:
    """Outcomes from a snapshot's arrays; snapshots written before the eval arrays existed fall back
    to their subsample's ``labels``/``predictions`` (no CRM there: a clear error)."""
    if "eval_labels" in arrays:
        key = "eval_crm_predictions" if crm else "eval_predictions"
        return Outcomes(arrays["eval_labels"].astype(np.int64), arrays[key].astype(np.int64), crm)
    if crm:
        raise KeyError("this snapshot holds no CRM predictions (written by an older version)")
    return Outcomes(arrays["labels"].astype(np.int64), arrays["predictions"].astype(np.int64), False)


def mistake_heights(labels, predictions, distances) -> np.ndarray:
    """(N,) hierarchical distance of each prediction from its truth (0 = correct)."""
    return np.asarray(distances)[np.asarray(predictions), np.asarray(labels)].astype(np.int64)


def height_counts(labels, predictions, distances) -> np.ndarray:
    """(D_max + 1,) number of predictions at each distance 0 … D_max (index 0: correct)."""
    dist = np.asarray(distances)
    return np.bincount(mistake_heights(labels, predictions, dist), minlength=int(dist.max()) + 1)


def heights_over_epochs(per_epoch: dict[int, Outcomes], distances) -> tuple[list[int], np.ndarray]:
    """Epochs and an (E, D_max + 1) table of prediction counts per distance, for the stacked bars."""
    epochs = sorted(per_epoch)
    table = np.stack([height_counts(per_epoch[e].labels, per_epoch[e].predictions, distances) for e in epochs]) \
        if epochs else np.zeros((0, int(np.asarray(distances).max()) + 1), dtype=np.int64)
    return epochs, table


def confusion(labels, predictions, num_classes: int, order=None) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted; both in ``order`` (e.g. tree order) if given."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    matrix = counts.reshape(num_classes, num_classes)
    if order is not None:
        order = np.asarray(order)
        matrix = matrix[np.ix_(order, order)]
    return matrix


def confused_pairs(labels, predictions, hierarchy: Hierarchy, distances, top: int = 15) -> list[dict]:
    """The ``top`` most frequent (true → predicted) mistakes with their LCA and distance.

    Each row: ``true``, ``predicted`` (display names), ``count``, ``share`` (% of the true class's
    images), ``lca`` (display name of the lowest common ancestor), ``distance``. Ties: smaller
    distance first, then class index (deterministic).
    """
    k = hierarchy.num_classes
    matrix = confusion(labels, predictions, k)
    np.fill_diagonal(matrix, 0)
    flat = np.flatnonzero(matrix)
    if flat.size == 0:
        return []
    dist = np.asarray(distances)
    true, pred = np.divmod(flat, k)
    order = np.lexsort((flat, dist[pred, true], -matrix[true, pred]))[:top]
    support = np.bincount(np.asarray(labels, np.int64), minlength=k)
    lca = hierarchy.lca_matrix()
    leaves = hierarchy.leaves
    return [{
        "true": hierarchy.display(leaves[t]), "predicted": hierarchy.display(leaves[p]),
        "count": int(matrix[t, p]), "share": 100.0 * matrix[t, p] / max(1, support[t]),
        "lca": hierarchy.display(hierarchy.names[lca[t, p]]), "distance": int(dist[p, t]),
    } for t, p in zip(true[order], pred[order])]
