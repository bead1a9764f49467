"""``fashion_mnist``: the 10 Fashion-MNIST classes under any hierarchy over them.

Read from idx files (gzipped or not): Debian's ``dataset-fashion-mnist`` package
(/usr/share/datasets/fashion-mnist), then ``<folder>/fashion-mnist`` and torchvision's
``<folder>/FashionMNIST/raw`` in each search folder (``core.data.locations``). Splits: the official
test set; validation = the last ``val_fraction`` of each class of the official training set (file
order; 600 of 6,000 by default), training = the rest (54,000).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from core.data.dataset import DATASETS, ArraySplit, Dataset, DatasetSpec, assemble
from core.data.locations import DatasetNotFound, download_root, find_root, search_roots
from core.data.splits import last_per_class
from core.formats import load_bundled, match_classes, resolve_hierarchy
from core.hierarchy import Hierarchy

__all__ = ["load_fashion_mnist", "FASHION_MNIST_DIRS", "FASHION_MNIST_CLASSES", "fashion_mnist_folders"]

FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")  # label order of the idx files
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MEAN, STD = (0.286,), (0.353,)


LEGACY_DOWNLOAD = Path(__file__).resolve().parents[2] / "checkpoints" / ".data" / "FashionMNIST" / "raw"


def fashion_mnist_folders(root: str = "") -> list[Path]:
    """Folders that may hold the four idx files, in search order (with no root: Debian's first, and last
    the folder earlier versions downloaded into)."""
    found = [p for base in search_roots(root) for p in (base / "fashion-mnist", base / "FashionMNIST" / "raw")]
    return found if root else [*FASHION_MNIST_DIRS, *found, LEGACY_DOWNLOAD]


def load_fashion_mnist(hierarchy: Hierarchy | None = None, root: str = "", download: bool = False,
                       val_fraction: float = 0.1) -> Dataset:
    """Fashion-MNIST (1×28×28) with train/val/test splits; labels in FASHION_MNIST_CLASSES order."""
    hierarchy = match_classes(hierarchy or load_bundled("fashion_mnist"), FASHION_MNIST_CLASSES, "hierarchy")
    if download:
        _download(root)
    folder = _find(root)
    train_images, train_labels = _read_pair(folder, "train")
    kept, held = last_per_class(train_labels.numpy(), val_fraction)
    splits = {"train": ArraySplit(train_images[kept], train_labels[kept]),
              "val": ArraySplit(train_images[held], train_labels[held]),
              "test": ArraySplit(*_read_pair(folder, "test"))}
    notes = f"official test set; val = the last {val_fraction:.0%} of each class of the official training set"
    return Dataset("fashion_mnist", hierarchy, splits, MEAN, STD, 1, 28, notes=notes)


def _load(cfg) -> Dataset:
    own = cfg.hierarchy in ("fashion_mnist", "synthetic", "")  # "synthetic": configs saved before datasets had defaults
    data = load_fashion_mnist(None if own else resolve_hierarchy(cfg.hierarchy), cfg.root, cfg.download,
                              cfg.val_fraction)
    return assemble(cfg, data.name, data.hierarchy, dict(data.splits), MEAN, STD, 28, "none", data.notes)


DATASETS.add("fashion_mnist", "Fashion-MNIST, 10 classes (Debian's dataset-fashion-mnist or a local copy)",
             DatasetSpec(_load, "fashion_mnist", lambda cfg: fashion_mnist_folders(cfg.root)))


def _find(root: str) -> Path:
    def present(folder: Path) -> bool:
        return all(_idx_path(folder, name) is not None for pair in FILES.values() for name in pair)

    return find_root(
        fashion_mnist_folders(root), present, "Fashion-MNIST",
        "the four idx files (train-images-idx3-ubyte[.gz], …)",
        f"Install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or pass --download "
        f"to fetch it with torchvision into {download_root(root) / 'FashionMNIST' / 'raw'}.")


def _download(root: str) -> None:
    from torchvision.datasets import FashionMNIST

    try:
        FashionMNIST(download_root(root), train=True, download=True)
    except Exception as err:  # noqa: BLE001 - network errors of many kinds; the user needs one message
        raise DatasetNotFound(f"Fashion-MNIST download into {download_root(root)} failed: {err}") from None


def _idx_path(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _read_pair(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) uint8 images and (N,) int64 labels of one official split."""
    images_file, labels_file = (_idx_path(folder, n) for n in FILES[split])
    images, labels = _read_idx(images_file), _read_idx(labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or labels.max(initial=0) > 9:
        raise ValueError(f"{images_file.parent}: the Fashion-MNIST {split} idx files are damaged "
                         f"(images {images.shape}, labels {labels.shape})")
    return torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels.astype(np.int64))


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file, gzipped or not (big-endian header: magic, then one int32 per dimension)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape))
    if len(raw) < 4 + 4 * ndim + count:
        raise ValueError(f"{path}: idx file is shorter than its header says ({shape})")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=4 + 4 * ndim).reshape(shape)
