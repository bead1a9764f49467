"""``imagefolder``: any folder of class folders of images (``DataConfig.root``).

Classes: every folder that directly holds image files is a class, at whatever depth; its name is
the folder's name. With a hierarchy file (``DataConfig.hierarchy``), those names are matched to
its leaves. Without one (``hierarchy="folders"``), the nesting of the folders *is* the hierarchy: a
folder inside a folder is its child; a folder that holds images *and* class folders gets a leaf
"<name> (own images)" for its own images.

Splits, as laid out under the root: ``train/`` with ``val/`` (or ``valid/``, ``validation/``) and/or
``test/`` holding the same class folders. With ``train/`` and ``val/`` only, the test split is
``val/``; with ``train/`` and ``test/`` only, validation is a seeded stratified ``val_fraction`` of
``train/``. Without split folders, each class is split at random (seeded): ``val_fraction`` for
validation, as much for test, the rest for training (classes of fewer than 3 images stay in train).

Image size (``DataConfig.image_size`` 0): 224, or the shorter side of the first training images when
they are smaller. Only the root's own files are read: hidden entries are skipped, symbolic links are not followed into
folders, and a file whose real path lies outside the root is ignored.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.data.dataset import DATASETS, IMAGENET_MEAN, IMAGENET_STD, Dataset, DatasetSpec, FileSplit, assemble
from core.data.locations import DatasetNotFound
from core.data.splits import stratified_split
from core.formats import match_classes, resolve_hierarchy
from core.hierarchy import Hierarchy

__all__ = ["load_imagefolder", "scan_classes", "folder_hierarchy", "read_rgb", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
DEFAULT_SIZE = 224
FOLDER_HIERARCHY = "folders"
OWN_IMAGES = " (own images)"

ClassKey = tuple[str, ...]  # a class folder's path relative to its split root, as parts


def read_rgb(path: str):
    """An image file as an RGB PIL image (grey and palette images converted)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def load_imagefolder(cfg) -> Dataset:
    root = _root(cfg.root)
    layout = {split: _split_folder(root, names) for split, names in SPLIT_FOLDERS.items()}
    has_splits = layout["train"] is not None
    class_root = layout["train"] if has_splits else root
    scanned = scan_classes(class_root)
    keys = sorted(scanned)
    if len(keys) < 2:
        raise ValueError(f"{class_root}: found {len(keys)} folder(s) holding images; at least 2 class folders "
                         f"are needed (images: {', '.join(sorted(IMAGE_SUFFIXES))})")
    hierarchy, class_names = _hierarchy(cfg.hierarchy, keys, root)
    files, labels = _files_and_labels(scanned, keys)
    if has_splits:
        splits, notes = _laid_out_splits(layout, keys, files, labels, cfg)
    else:
        train, val, test = stratified_split(labels, (cfg.val_fraction, cfg.val_fraction), cfg.seed)
        splits = {name: _file_split(files, labels, idx) for name, idx in (("train", train), ("val", val),
                                                                          ("test", test))}
        notes = (f"no train/ folder: a seeded stratified split per class ({cfg.val_fraction:.0%} val, "
                 f"{cfg.val_fraction:.0%} test)")
    size = cfg.image_size or _default_size(splits["train"].files)
    return assemble(cfg, "imagefolder", hierarchy, splits, IMAGENET_MEAN, IMAGENET_STD, size,
                    "random_resized_crop_flip", notes + f"; {len(class_names)} classes from {root}")


DATASETS.add("imagefolder", "your images: <root>/<class>/*.png (nested folders = the hierarchy); --root",
             DatasetSpec(load_imagefolder, FOLDER_HIERARCHY, lambda cfg: [Path(cfg.root)] if cfg.root else []))


def _default_size(files: tuple[str, ...], sample: int = 16) -> int:
    """DEFAULT_SIZE (224), or the shorter side of the smallest of the first ``sample`` images when smaller
    (a folder of 32×32 images trains at 32, not upsampled to 224). Reads image headers only."""
    from PIL import Image

    sides = []
    for path in files[:sample]:
        try:
            with Image.open(path) as image:
                sides.append(min(image.size))
        except OSError:
            continue  # an unreadable file fails later, with its name, when it is loaded
    return min([DEFAULT_SIZE, *sides])


def _root(root: str) -> Path:
    if not root:
        raise DatasetNotFound("imagefolder needs a folder: pass --root DIR (data.root) holding one folder of "
                              "images per class, or train/ and val/ (or test/) folders that hold them")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetNotFound(f"imagefolder: the folder {path} does not exist; pass --root DIR holding one "
                              "folder of images per class (or train/ and val/ folders that hold them)")
    return path


def _split_folder(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir() and not (root / n).is_symlink()), None)


def scan_classes(root: Path) -> dict[ClassKey, list[str]]:
    """Class folder (relative parts) → sorted image paths, for every folder under ``root`` holding images."""
    real_root = os.path.realpath(root)
    found: dict[ClassKey, list[str]] = {}
    for folder, subfolders, filenames in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        images = sorted(os.path.join(folder, f) for f in filenames
                        if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES)
        images = [p for p in images if _inside(p, real_root) and os.path.isfile(p)]
        if images:
            found[Path(folder).relative_to(root).parts] = images
    return found


def _inside(path: str, real_root: str) -> bool:
    """True when ``path`` (links resolved) lies inside the root: names from disk never lead outside it."""
    return os.path.realpath(path).startswith(real_root + os.sep)


def _hierarchy(source: str, keys: list[ClassKey], root: Path) -> tuple[Hierarchy, list[str]]:
    """(hierarchy with leaves in class order, class names) from a hierarchy file or the folder nesting."""
    if source == FOLDER_HIERARCHY:
        hierarchy = folder_hierarchy(keys, root.resolve().name or "root")
        return hierarchy, hierarchy.leaves
    names = [key[-1] if key else root.resolve().name for key in keys]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{root}: several class folders are named {duplicates[:5]}; class names must be unique "
                         "to match a hierarchy file (or leave the hierarchy empty to use the folder nesting)")
    return match_classes(resolve_hierarchy(source), names, "hierarchy"), names


def folder_hierarchy(keys: list[ClassKey], root_name: str) -> Hierarchy:
    """The tree the class folders' nesting spells; leaves in the order of ``keys``.

    Node names are folder names when those are unique in the tree, else relative paths ("a/b").
    """
    folders = {key[:depth] for key in keys for depth in range(1, len(key) + 1)}
    inner = {key[:depth] for key in folders for depth in range(1, len(key))}
    basenames = [f[-1] for f in folders]
    unique = len(set(basenames)) == len(basenames) and root_name not in basenames
    name = (lambda f: f[-1]) if unique else (lambda f: "/".join(f))
    root = root_name if unique else "/"
    edges = [(name(f[:-1]) if len(f) > 1 else root, name(f)) for f in sorted(folders)]
    display = {name(f): f[-1] for f in folders}
    leaves = []
    for key in keys:
        if key in inner or not key:  # a folder with images and class folders: its own images are one more leaf
            own = (name(key) if key else root) + OWN_IMAGES
            edges.append((name(key) if key else root, own))
            leaves.append(own)
        else:
            leaves.append(name(key))
    return Hierarchy.from_edges(edges, leaves, root_name, display)


def _files_and_labels(scanned: dict[ClassKey, list[str]], keys: list[ClassKey]) -> tuple[list[str], np.ndarray]:
    files = [f for key in keys for f in scanned[key]]
    labels = np.concatenate([np.full(len(scanned[key]), k, dtype=np.int64) for k, key in enumerate(keys)])
    return files, labels


def _file_split(files: list[str], labels: np.ndarray, indices: np.ndarray) -> FileSplit:
    return FileSplit(tuple(files[i] for i in indices), torch.from_numpy(labels[indices]), read_rgb)


def _laid_out_splits(layout: dict[str, Path | None], keys: list[ClassKey], files: list[str], labels: np.ndarray,
                     cfg) -> tuple[dict[str, FileSplit], str]:
    held = {split: _scan_split(layout[split], keys) for split in ("val", "test") if layout[split] is not None}
    everything = np.arange(len(labels))
    if not held:
        raise ValueError(f"{layout['train'].parent}: train/ is there but neither val/ nor test/ is; add one, or "
                         "put the class folders directly under the root for a random split")
    if "val" in held and "test" in held:
        return {"train": _file_split(files, labels, everything), **held}, "train/, val/ and test/ as laid out"
    if "val" in held:
        return ({"train": _file_split(files, labels, everything), "val": held["val"], "test": held["val"]},
                "train/ and val/ as laid out; no test/ folder, so the test split is val/")
    train, val = stratified_split(labels, (cfg.val_fraction,), cfg.seed)
    return ({"train": _file_split(files, labels, train), "val": _file_split(files, labels, val), "test": held["test"]},
            f"train/ and test/ as laid out; val = a seeded stratified {cfg.val_fraction:.0%} of train/")


def _scan_split(folder: Path, keys: list[ClassKey]) -> FileSplit:
    """A val/ or test/ folder's images, labelled by the train/ class folder of the same relative path."""
    scanned = scan_classes(folder)
    index = {key: k for k, key in enumerate(keys)}
    unknown = sorted("/".join(key) or "." for key in scanned if key not in index)
    if unknown:
        raise ValueError(f"{folder}: class folder(s) {unknown[:5]} are not in train/; val/ and test/ must use "
                         "train/'s class folders")
    present = sorted(scanned, key=index.__getitem__)
    files, labels = _files_and_labels(scanned, present)
    labels = np.array([index[present[i]] for i in labels], dtype=np.int64)
    return FileSplit(tuple(files), torch.from_numpy(labels), read_rgb)
