"""``cifar100``: CIFAR-100 from torchvision's on-disk layout, read through the restricted unpickler.

Layout: ``<folder>/cifar-100-python/{train,test,meta}`` (the python-format archive as torchvision
extracts it), looked for in each search folder (``core.data.locations``). The batches are Python-2
pickles; torchvision's ``CIFAR100`` reads them with a plain ``pickle.load``, so this module reads them
with ``core.safe_pickle`` instead: only numpy arrays (and bytes) may be reconstructed.

Splits (METHOD.md §7): validation = the last ``val_fraction`` of each class of the official training
set in file order (50 of 500 by default → 45,000 / 5,000), test = the official 10,000.

Hierarchy: any tree whose leaves are the fine label names (the bundled ``cifar100``, 20 superclasses),
or the paper's five-level tree whose leaves are named ``L5-<fine label index>``, or a tree whose
leaves carry the fine names as display names.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from core.data.dataset import DATASETS, ArraySplit, Dataset, DatasetSpec, assemble
from core.data.locations import DatasetNotFound, download_root, find_root, search_roots
from core.data.splits import last_per_class
from core.formats import match_classes, resolve_hierarchy
from core.hierarchy import Hierarchy
from core.safe_pickle import NUMPY_ARRAYS, load_file

__all__ = ["load_cifar100", "cifar100_folders", "match_cifar_hierarchy", "read_batch"]

FOLDER = "cifar-100-python"
FILES = ("train", "test", "meta")
MEAN, STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
PAPER_LEAF = re.compile(r"L5-(\d+)")  # the paper's five-level tree: leaf "L5-i" is fine label i


def cifar100_folders(root: str = "") -> list[Path]:
    """Folders that may hold ``cifar-100-python/{train,test,meta}``, in search order."""
    return search_roots(root)


def load_cifar100(cfg) -> Dataset:
    if cfg.image_size not in (0, 32):
        raise ValueError(f"data.image_size: CIFAR-100 images are 32×32 and are not resized; leave it 0 (or 32), "
                         f"got {cfg.image_size}")
    if cfg.download:
        _download(cfg.root)
    base = find_root(cifar100_folders(cfg.root), _present, "CIFAR-100", f"{FOLDER}/{{train,test,meta}}",
                     f"Pass --download to fetch it ({URL}, 161 MiB) into {download_root(cfg.root)}, or extract "
                     f"that archive yourself into a folder listed above, or pass --root DIR.")
    folder = base / FOLDER
    fine_names = _fine_names(folder / "meta")
    hierarchy = match_cifar_hierarchy(resolve_hierarchy(cfg.hierarchy), fine_names)
    train_images, train_labels = read_batch(folder / "train", len(fine_names))
    kept, held = last_per_class(train_labels.numpy(), cfg.val_fraction)
    splits = {"train": ArraySplit(train_images[kept], train_labels[kept]),
              "val": ArraySplit(train_images[held], train_labels[held]),
              "test": ArraySplit(*read_batch(folder / "test", len(fine_names)))}
    notes = (f"official test set; val = the last {cfg.val_fraction:.0%} of each class of the official "
             "training set (METHOD.md §7)")
    return assemble(cfg, "cifar100", hierarchy, splits, MEAN, STD, 32, "pad_crop_flip", notes)


DATASETS.add("cifar100", "CIFAR-100, 100 classes, 32×32 (torchvision's cifar-100-python folder; --download)",
             DatasetSpec(load_cifar100, "cifar100", lambda cfg: cifar100_folders(cfg.root)))


def match_cifar_hierarchy(hierarchy: Hierarchy, fine_names: list[str]) -> Hierarchy:
    """``hierarchy`` with its leaves in fine-label order, matched by name, by ``L5-i`` or by display name.

    Raises HierarchyError (from core.formats.match_classes) naming the classes that do not match.
    """
    leaves = hierarchy.leaves
    if set(leaves) == set(fine_names):
        return match_classes(hierarchy, fine_names, "hierarchy")
    numbers = [PAPER_LEAF.fullmatch(leaf) for leaf in leaves]
    if all(numbers) and sorted(int(m.group(1)) for m in numbers) == list(range(len(fine_names))):
        return match_classes(hierarchy, [f"L5-{i}" for i in range(len(fine_names))], "hierarchy")
    by_display = {hierarchy.display(leaf): leaf for leaf in leaves}
    if set(by_display) == set(fine_names) and len(by_display) == len(leaves):
        return match_classes(hierarchy, [by_display[name] for name in fine_names], "hierarchy")
    return match_classes(hierarchy, fine_names, "hierarchy")  # raises, naming the mismatches


def read_batch(path: Path, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One python-format batch → (N, 3, 32, 32) uint8 images and (N,) int64 fine labels."""
    entry = _unpickle(path)
    data, labels = entry.get("data"), entry.get("fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be an (N, 3072) uint8 array — the file is damaged or not CIFAR-100")
    labels = np.asarray(labels if isinstance(labels, (list, np.ndarray)) else [], dtype=np.int64)
    if len(labels) != len(data) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError(f"{path}: 'fine_labels' must hold {len(data)} labels in 0…{num_classes - 1}")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def _fine_names(meta: Path) -> list[str]:
    names = _unpickle(meta).get("fine_label_names")
    if not isinstance(names, list) or len(names) < 2 or len(set(map(str, names))) != len(names):
        raise ValueError(f"{meta}: 'fine_label_names' must be a list of distinct class names")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _unpickle(path: Path) -> dict:
    """A CIFAR batch: a dict of numpy arrays, lists, strings and bytes (nothing else is reconstructed)."""
    entry = load_file(path, NUMPY_ARRAYS, encoding="latin1")
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: expected a dict, found {type(entry).__name__} — not a CIFAR batch")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _present(base: Path) -> bool:
    return all((base / FOLDER / name).is_file() for name in FILES)


def _download(root: str) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    target = download_root(root)
    if _present(target):
        return
    try:
        download_and_extract_archive(URL, str(target), md5=ARCHIVE_MD5)
    except Exception as err:  # noqa: BLE001 - network errors of many kinds; the user needs one message
        raise DatasetNotFound(f"CIFAR-100 download from {URL} into {target} failed: {err}") from None
