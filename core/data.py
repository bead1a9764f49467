"""Datasets as in-memory uint8 image tensors.

* ``synthetic`` (default): generated offline in about a second for any hierarchy and
  deterministic by seed. Every tree node owns a random pattern of coloured blobs; an image of a
  class is the sum of the patterns along its root-to-leaf path (coarse levels weigh more), shifted
  by a few pixels and covered in noise. Siblings therefore share everything but their leaf pattern,
  so the hierarchy is learnable and mistakes have structure.
* ``fashion_mnist``: the 10 Fashion-MNIST classes under ``assets/hierarchies/fashion_mnist.json``,
  read from the idx files of Debian's ``dataset-fashion-mnist`` package when installed, else from
  torchvision's download (into ``checkpoints/.data``).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config import DataConfig
from core.formats import load_bundled, match_classes, resolve_hierarchy
from core.hierarchy import Hierarchy

__all__ = ["Dataset", "load_dataset", "make_synthetic", "load_fashion_mnist", "balanced_subset", "FASHION_MNIST_DIRS",
           "FASHION_MNIST_CLASSES"]

FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")  # label order of the idx files
DOWNLOAD_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / ".data"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/test images and labels for one hierarchy.

    train_images/test_images: (N, C, H, W) uint8. train_labels/test_labels: (N,) int64 class
    indices into ``hierarchy.leaves``. mean/std: per-channel normalisation constants in [0, 1] units.
    """

    hierarchy: Hierarchy
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return self.hierarchy.num_classes

    @property
    def channels(self) -> int:
        return self.train_images.shape[1]


def load_dataset(cfg: DataConfig) -> Dataset:
    """Build the dataset a DataConfig names (hierarchy included)."""
    if cfg.name == "synthetic":
        data = make_synthetic(resolve_hierarchy(cfg.hierarchy), cfg.train_per_class, cfg.test_per_class,
                              cfg.image_size, cfg.noise, cfg.seed)
    elif cfg.name == "fashion_mnist":
        data = load_fashion_mnist(resolve_hierarchy(cfg.hierarchy) if cfg.hierarchy != "synthetic"
                                  else load_bundled("fashion_mnist"))
    else:
        raise ValueError(f"unknown dataset '{cfg.name}'")
    return _limit_train(data, cfg.limit_train, cfg.seed) if cfg.limit_train else data


# --------------------------------------------------------------------------- synthetic
def make_synthetic(hierarchy: Hierarchy, train_per_class: int = 200, test_per_class: int = 50,
                   image_size: int = 32, noise: float = 0.7, seed: int = 0) -> Dataset:
    """Hierarchical blob images (3×S×S) for every class of ``hierarchy``."""
    rng = np.random.default_rng(seed)
    prototypes = _class_prototypes(hierarchy, image_size, rng)  # (K, 3, S, S) in [0, 1]
    train = _sample(prototypes, train_per_class, noise, rng)
    test = _sample(prototypes, test_per_class, noise, rng)
    return Dataset(hierarchy, *train, *test, mean=(0.5, 0.5, 0.5), std=(0.3, 0.3, 0.3))


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


# --------------------------------------------------------------------------- Fashion-MNIST
def load_fashion_mnist(hierarchy: Hierarchy | None = None) -> Dataset:
    """Fashion-MNIST (1×28×28) from Debian's idx files, or torchvision's download as a fallback."""
    hierarchy = hierarchy or load_bundled("fashion_mnist")
    folder = next((d for d in FASHION_MNIST_DIRS if (d / "train-images-idx3-ubyte.gz").exists()), None)
    if folder is not None:
        train = (_read_idx(folder / "train-images-idx3-ubyte.gz"), _read_idx(folder / "train-labels-idx1-ubyte.gz"))
        test = (_read_idx(folder / "t10k-images-idx3-ubyte.gz"), _read_idx(folder / "t10k-labels-idx1-ubyte.gz"))
    else:
        train, test = _torchvision_fashion_mnist()
    hierarchy = match_classes(hierarchy, FASHION_MNIST_CLASSES, "hierarchy")  # leaves in label order
    to_tensor = lambda im, lb: (torch.from_numpy(im[:, None].copy()), torch.from_numpy(lb.astype(np.int64)))  # noqa: E731
    return Dataset(hierarchy, *to_tensor(*train), *to_tensor(*test), mean=(0.286,), std=(0.353,))


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (big-endian header: magic, then one int32 per dimension)."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _torchvision_fashion_mnist():
    from torchvision.datasets import FashionMNIST

    sets = [FashionMNIST(DOWNLOAD_DIR, train=t, download=True) for t in (True, False)]
    return [(s.data.numpy(), s.targets.numpy()) for s in sets]


def _limit_train(data: Dataset, limit: int, seed: int) -> Dataset:
    """A class-balanced random subset of ``limit`` training images."""
    keep = torch.from_numpy(balanced_subset(data.train_labels.numpy(), limit, seed))
    return Dataset(data.hierarchy, data.train_images[keep], data.train_labels[keep], data.test_images,
                   data.test_labels, data.mean, data.std)


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of about ``size`` samples drawn at random, as equal per class as possible.

    labels: (N,) class indices. ``size`` ≥ N keeps everything; 0 keeps nothing.
    """
    if size >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    if size <= 0 or len(classes) == 0:
        return np.arange(0)
    order = np.random.default_rng(seed).permutation(len(labels))
    per_class = max(1, size // len(classes))
    rank = np.empty(len(labels), dtype=np.int64)  # position of each sample among its class, in shuffled order
    for k in classes:
        members = order[labels[order] == k]
        rank[members] = np.arange(len(members))
    return np.flatnonzero(rank < per_class)
