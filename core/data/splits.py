"""Rules that carve validation (and test) splits out of a dataset's training images.

* :func:`last_per_class` — the last ``fraction`` of each class in file order (METHOD.md §7's CIFAR
  rule: the last 50 of each class's 500 images; used for Fashion-MNIST too).
* :func:`stratified_split` — a seeded random split per class (ImageFolder roots without ``train/``).
* :func:`limit_train` — a class-balanced subset of the training split (``DataConfig.limit_train``).
"""
from __future__ import annotations

import math

import numpy as np

from core.data.dataset import Dataset, balanced_subset

__all__ = ["last_per_class", "stratified_split", "limit_train", "holdout_count"]


def holdout_count(class_size: int, fraction: float) -> int:
    """Images of a class held out for one split: round(fraction·n), at least 1 when the class has ≥ 3."""
    if class_size < 3:
        return 0
    return min(class_size - 1, max(1, int(math.floor(fraction * class_size + 0.5))))


def last_per_class(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held) sorted index arrays: the last ``holdout_count`` images of each class are held."""
    held = []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        count = holdout_count(len(members), fraction)
        if count:
            held.append(members[-count:])
    held = np.sort(np.concatenate(held)) if held else np.arange(0)
    return np.setdiff1d(np.arange(len(labels)), held), held


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Per-class seeded random split: [rest, part_1, …] with ``holdout_count(n, f_i)`` per class in part i.

    Returns sorted index arrays; every index lands in exactly one part.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        start = 0
        for i, fraction in enumerate(fractions, start=1):
            count = holdout_count(len(members), fraction) if len(members) - start > 1 else 0
            parts[i].append(members[start:start + count])
            start += count
        parts[0].append(members[start:])
    return [np.sort(np.concatenate(p)) if p else np.arange(0) for p in parts]


def limit_train(data: Dataset, size: int, seed: int) -> Dataset:
    """``data`` with a class-balanced random subset of about ``size`` training images (0 = all)."""
    if not size:
        return data
    return data.subset("train", balanced_subset(data.labels("train").numpy(), size, seed))
