"""``synthetic``: hierarchical blob images generated offline for any hierarchy, deterministic by seed.

Every tree node owns a random pattern of coloured blobs; an image of a class is the sum of the
patterns along its root-to-leaf path (coarse levels weigh more), shifted by a few pixels and covered
in noise. Siblings therefore share everything but their leaf pattern, so the hierarchy is learnable
and mistakes have structure. Splits: ``train_per_class`` and ``test_per_class`` images per class, then
a validation split of round(val_fraction · train_per_class) per class (at least 1) drawn after
them, so train and test do not change with the validation size.
"""
from __future__ import annotations

import numpy as np
import torch

from core.data.dataset import DATASETS, ArraySplit, Dataset, DatasetSpec, assemble
from core.formats import resolve_hierarchy
from core.hierarchy import Hierarchy

__all__ = ["make_synthetic", "synthetic_samples", "load_synthetic"]

DEFAULT_SIZE = 32
MEAN, STD = (0.5, 0.5, 0.5), (0.3, 0.3, 0.3)


def load_synthetic(cfg) -> Dataset:
    hierarchy = resolve_hierarchy(cfg.hierarchy)
    size = cfg.image_size or DEFAULT_SIZE
    val_per_class = max(1, int(round(cfg.val_fraction * cfg.train_per_class)))
    data = make_synthetic(hierarchy, cfg.train_per_class, cfg.test_per_class, size, cfg.noise, cfg.seed,
                          val_per_class)
    return assemble(cfg, "synthetic", hierarchy, dict(data.splits), MEAN, STD, size, "none", data.notes)


DATASETS.add("synthetic", "generated hierarchical blob images for any hierarchy (offline, seconds)",
              DatasetSpec(load_synthetic, "synthetic"))


def make_synthetic(hierarchy: Hierarchy, train_per_class: int = 200, test_per_class: int = 50,
                   image_size: int = DEFAULT_SIZE, noise: float = 0.7, seed: int = 0,
                   val_per_class: int = 0) -> Dataset:
    """Hierarchical blob images (3×S×S) for every class of ``hierarchy``; val_per_class 0 = test_per_class."""
    rng = np.random.default_rng(seed)
    prototypes = _class_prototypes(hierarchy, image_size, rng)  # (K, 3, S, S) in [0, 1]
    train = _sample(prototypes, train_per_class, noise, rng)
    test = _sample(prototypes, test_per_class, noise, rng)
    val = _sample(prototypes, val_per_class or test_per_class, noise, rng)
    splits = {"train": ArraySplit(*train), "val": ArraySplit(*val), "test": ArraySplit(*test)}
    notes = (f"generated: {train_per_class} train, {val_per_class or test_per_class} val, "
             f"{test_per_class} test images per class")
    return Dataset("synthetic", hierarchy, splits, MEAN, STD, 3, image_size, notes=notes)


def synthetic_samples(hierarchy: Hierarchy, per_class: int = 4, seed: int = 0, image_size: int = DEFAULT_SIZE,
                      noise: float = 0.7) -> np.ndarray:
    """(K, per_class, S, S, 3) uint8: the first ``per_class`` training images of each class, as displayed.

    The same images ``make_synthetic(hierarchy, per_class, …, seed=seed)`` puts in its training
    split, in height-width-channel order for image widgets; costs about a millisecond per image.
    """
    rng = np.random.default_rng(seed)
    prototypes = _class_prototypes(hierarchy, image_size, rng)
    images, _ = _sample(prototypes, per_class, noise, rng)
    k = hierarchy.num_classes
    return images.numpy().reshape(k, per_class, 3, image_size, image_size).transpose(0, 1, 3, 4, 2)


def _class_prototypes(hierarchy: Hierarchy, size: int, rng: np.random.Generator) -> np.ndarray:
    """(K, 3, S, S): Σ over each class's ancestors (root excluded) of weight(depth)·pattern(node)."""
    patterns = _node_patterns(hierarchy.num_nodes, size, rng)
    anc = hierarchy.ancestor_ids
    weights = 0.7 ** np.arange(anc.shape[1])  # coarser levels dominate the image
    protos = np.zeros((hierarchy.num_classes, 3, size, size))
    for level in range(1, anc.shape[1]):
        present = anc[:, level] >= 0
        protos[present] += weights[level] * patterns[anc[present, level]]
    protos -= protos.min(axis=(1, 2, 3), keepdims=True)
    return protos / protos.max(axis=(1, 2, 3), keepdims=True).clip(1e-8)


def _node_patterns(num_nodes: int, size: int, rng: np.random.Generator, blobs: int = 3) -> np.ndarray:
    """(N, 3, S, S): each node's sum of ``blobs`` Gaussian blobs with random colours."""
    grid = np.linspace(0.0, 1.0, size)
    centres = rng.uniform(0.15, 0.85, (num_nodes, blobs, 2))
    widths = rng.uniform(0.08, 0.2, (num_nodes, blobs, 1, 1))
    colours = rng.dirichlet(np.ones(3) * 0.5, (num_nodes, blobs))  # saturated hues
    dy = (grid[None, None, :, None] - centres[..., 0, None, None]) ** 2
    dx = (grid[None, None, None, :] - centres[..., 1, None, None]) ** 2
    shapes = np.exp(-(dx + dy) / (2 * widths**2))  # (N, blobs, S, S)
    return np.einsum("nbc,nbyx->ncyx", colours, shapes)


def _sample(prototypes: np.ndarray, per_class: int, noise: float, rng: np.random.Generator):
    """Noisy, shifted copies of each prototype → (uint8 images, int64 labels)."""
    k, _, size, _ = prototypes.shape
    labels = np.repeat(np.arange(k), per_class)
    shifts = rng.integers(-2, 3, (len(labels), 2))
    images = np.empty((len(labels), 3, size, size), dtype=np.uint8)
    for start in range(0, len(labels), 4096):  # chunks keep peak memory small for large K
        idx = slice(start, start + 4096)
        batch = prototypes[labels[idx]]
        batch = np.stack([np.roll(img, tuple(s), axis=(1, 2)) for img, s in zip(batch, shifts[idx])])
        batch = batch * rng.uniform(0.7, 1.1, (len(batch), 1, 1, 1)) + noise * rng.standard_normal(batch.shape)
        images[idx] = np.clip(batch * 255.0, 0, 255).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels)
