"""``fgvc_aircraft``: FGVC-Aircraft 2013b through torchvision's loader, from a local copy.

Layout: ``<folder>/fgvc-aircraft-2013b/data/`` with ``images/*.jpg``, ``variants.txt`` and the
``images_{variant,family,manufacturer}_{train,val,test}.txt`` annotation files (the archive as
torchvision extracts it), looked for in each search folder (``core.data.locations``). torchvision's
``FGVCAircraft`` reads only those text files (no pickles); it supplies the files and variant labels.

Hierarchy: by default the three-level tree built from the dataset's own annotation files —
manufacturer ``m-<name>`` → family ``f-<name>`` → variant ``v-<name>`` (``/`` written ``-slash-``),
the naming of the paper's tree, so its hierarchy file matches too; display names are the plain
names. Splits: the official variant train / val / test (3,334 / 3,333 / 3,333). Every image loses its
bottom 20-pixel copyright banner (METHOD.md §7).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from core.data.dataset import DATASETS, Dataset, DatasetSpec, FileSplit, assemble
from core.data.locations import DatasetNotFound, download_root, find_root, search_roots
from core.formats import match_classes, resolve_hierarchy
from core.hierarchy import Hierarchy

__all__ = ["load_fgvc_aircraft", "fgvc_folders", "annotation_tree", "read_without_banner", "variant_node"]

FOLDER = "fgvc-aircraft-2013b"
SPLITS = ("train", "val", "test")
LEVELS = ("variant", "family", "manufacturer")
BANNER = 20  # pixels of copyright banner at the bottom of every image
MEAN, STD = (0.4880712, 0.5191783, 0.54383063), (0.21482512, 0.20683703, 0.23937796)
DEFAULT_SIZE = 224
OWN_TREE = "fgvc_aircraft"
URL = "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz"


def fgvc_folders(root: str = "") -> list[Path]:
    """Folders that may hold ``fgvc-aircraft-2013b``, in search order."""
    return search_roots(root)


def read_without_banner(path: str):
    """An FGVC image as RGB with its bottom BANNER rows removed."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        return image.convert("RGB").crop((0, 0, width, max(1, height - BANNER)))


def variant_node(variant: str) -> str:
    return "v-" + variant.replace("/", "-slash-")


def load_fgvc_aircraft(cfg) -> Dataset:
    if cfg.download:
        _download(cfg.root)
    base = find_root(fgvc_folders(cfg.root), _present, "FGVC-Aircraft",
                     f"{FOLDER}/data/{{images/, variants.txt, images_variant_train.txt, …}}",
                     f"Pass --download to fetch it ({URL}, 2.6 GiB) into {download_root(cfg.root)}, or extract "
                     "that archive yourself into a folder listed above, or pass --root DIR.")
    splits, variants = {}, None
    for split in SPLITS:
        files, labels, variants = _official_split(base, split)
        splits[split] = FileSplit(files, torch.tensor(labels, dtype=torch.int64), read_without_banner)
    data_dir = base / FOLDER / "data"
    if cfg.hierarchy == OWN_TREE:
        hierarchy = annotation_tree(data_dir, variants)
    else:
        hierarchy = _match_file(resolve_hierarchy(cfg.hierarchy), variants)
    size = cfg.image_size or DEFAULT_SIZE
    notes = f"official train/val/test; bottom {BANNER}-pixel banner cropped"
    return assemble(cfg, "fgvc_aircraft", hierarchy, splits, MEAN, STD, size, "resize_crop_flip", notes)


DATASETS.add("fgvc_aircraft", "FGVC-Aircraft 2013b, 100 variants, family/manufacturer tree (local copy; --download)",
             DatasetSpec(load_fgvc_aircraft, OWN_TREE, lambda cfg: fgvc_folders(cfg.root)))


def _present(base: Path) -> bool:
    data = base / FOLDER / "data"
    needed = ["variants.txt"] + [f"images_{level}_{split}.txt" for level in LEVELS for split in SPLITS]
    return (data / "images").is_dir() and all((data / name).is_file() for name in needed)


def _official_split(base: Path, split: str) -> tuple[tuple[str, ...], list[int], list[str]]:
    """(image paths, variant labels, variant names) of one official split, via torchvision's loader."""
    from torchvision.datasets import FGVCAircraft

    try:
        loader = FGVCAircraft(str(base), split=split, annotation_level="variant")
    except KeyError as err:
        raise ValueError(f"{base / FOLDER / 'data'}: images_variant_{split}.txt names variant {err} that "
                         "variants.txt lacks") from None
    except ValueError as err:  # a line without "<image> <label>"
        raise ValueError(f"{base / FOLDER / 'data'}: images_variant_{split}.txt is malformed ({err})") from None
    images = os.path.realpath(base / FOLDER / "data" / "images")
    outside = [f for f in loader._image_files if not os.path.realpath(f).startswith(images + os.sep)]
    if outside:
        raise ValueError(f"images_variant_{split}.txt names an image outside {images}: {outside[0]!r}")
    return tuple(loader._image_files), list(loader._labels), list(loader.classes)


def annotation_tree(data_dir: Path, variants: list[str]) -> Hierarchy:
    """manufacturer → family → variant tree from the images_{level}_{split}.txt files; leaves in ``variants`` order."""
    per_level = {level: {} for level in LEVELS}  # level → image id → name
    for level in LEVELS:
        for split in SPLITS:
            for number, line in enumerate((data_dir / f"images_{level}_{split}.txt").read_text().splitlines(), 1):
                if line.strip():
                    image, _, name = line.strip().partition(" ")
                    if not name:
                        raise ValueError(f"{data_dir}/images_{level}_{split}.txt line {number}: expected "
                                         "'<image id> <name>'")
                    per_level[level][image] = name
    family_of = _unique_parent(per_level["variant"], per_level["family"], "variant", "family", data_dir)
    maker_of = _unique_parent(per_level["family"], per_level["manufacturer"], "family", "manufacturer", data_dir)
    missing = [v for v in variants if v not in family_of]
    if missing:
        raise ValueError(f"{data_dir}: variant(s) {missing[:5]} have no images, so their family is unknown")
    edges = [("FGVC-Aircraft", "m-" + maker) for maker in sorted(set(maker_of.values()))]
    edges += [("m-" + maker_of[family], "f-" + family) for family in sorted(maker_of)]
    edges += [("f-" + family_of[v], variant_node(v)) for v in variants]
    display = {"m-" + m: m for m in maker_of.values()} | {"f-" + f: f for f in maker_of}
    display |= {variant_node(v): v for v in variants}
    return Hierarchy.from_edges(edges, [variant_node(v) for v in variants], "FGVC-Aircraft", display)


def _unique_parent(child_of: dict[str, str], parent_of: dict[str, str], child: str, parent: str,
                   data_dir: Path) -> dict[str, str]:
    """child name → parent name through the images both files annotate; one parent per child or an error."""
    out: dict[str, str] = {}
    for image, name in child_of.items():
        above = parent_of.get(image)
        if above is None:
            raise ValueError(f"{data_dir}: image {image} has a {child} but no {parent} annotation")
        if out.setdefault(name, above) != above:
            raise ValueError(f"{data_dir}: {child} '{name}' appears under two {parent}s ('{out[name]}', '{above}')")
    return out


def _match_file(hierarchy: Hierarchy, variants: list[str]) -> Hierarchy:
    """A hierarchy file's leaves matched to the variants, by plain name or by the paper's ``v-…`` names."""
    if set(hierarchy.leaves) == set(variants):
        return match_classes(hierarchy, variants, "hierarchy")
    return match_classes(hierarchy, [variant_node(v) for v in variants], "hierarchy")


def _download(root: str) -> None:
    from torchvision.datasets import FGVCAircraft

    target = download_root(root)
    if _present(target):
        return
    try:
        FGVCAircraft(str(target), download=True)
    except Exception as err:  # noqa: BLE001 - network errors of many kinds; the user needs one message
        raise DatasetNotFound(f"FGVC-Aircraft download from {URL} into {target} failed: {err}") from None
