"""The one dataset type every loader returns, and the registry of loaders.

A :class:`Dataset` holds a hierarchy, named splits (``train``, ``val``, ``test``; more may be added
with :meth:`Dataset.subset`), normalisation constants and the augmentation its recipe asks for.
Images stay uint8 until a batch is drawn: :meth:`Dataset.batches` yields normalised float batches
on the device through the pipeline that suits the dataset (see :mod:`core.data.pipeline`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from core.hierarchy import Hierarchy
from core.registry import Registry

__all__ = ["Dataset", "ArraySplit", "FileSplit", "DatasetSpec", "DATASETS", "balanced_subset"]


@dataclass(frozen=True, eq=False)
class ArraySplit:
    """Decoded images in memory. images: (N, C, H, W) uint8 on the CPU; labels: (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray | torch.Tensor) -> ArraySplit:
        keep = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
        return ArraySplit(self.images[keep], self.labels[keep])

    @property
    def nbytes(self) -> int:
        return self.images.numel()


@dataclass(frozen=True, eq=False)
class FileSplit:
    """Images on disk, decoded per batch. files: N paths; labels: (N,) int64.

    ``read(path)`` returns an RGB PIL image (with any dataset-specific crop already applied, e.g.
    FGVC's banner).
    """

    files: tuple[str, ...]
    labels: torch.Tensor
    read: Callable[[str], object]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray | torch.Tensor) -> FileSplit:
        keep = np.asarray(indices, dtype=np.int64)
        return FileSplit(tuple(self.files[i] for i in keep), self.labels[torch.from_numpy(keep)], self.read)


Split = ArraySplit | FileSplit


@dataclass(frozen=True, eq=False)
class Dataset:
    """Splits of one dataset under one hierarchy.

    splits: name → split; every dataset has ``train``, ``val`` and ``test``. Labels index
    ``hierarchy.leaves``. mean/std: per-channel constants in [0, 1] units. image_size: side of the
    square images a batch holds. augment: the training augmentation (``core.data.augment``).
    notes: how the splits were made, for display.
    """

    name: str
    hierarchy: Hierarchy
    splits: Mapping[str, Split]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int
    image_size: int
    augment: str = "none"
    notes: str = ""
    pipeline_mode: str = "auto"  # "auto", "device" or "loader" (see core.data.pipeline)
    workers: int = -1  # DataLoader workers; -1 = automatic
    _pipelines: dict = field(default_factory=dict, repr=False)  # device → pipeline (holds device copies)

    # ---------------------------------------------------------------- sizes and labels
    @property
    def num_classes(self) -> int:
        return self.hierarchy.num_classes

    def split_size(self, split: str) -> int:
        return len(self._split(split))

    def labels(self, split: str) -> torch.Tensor:
        """(N,) int64 class indices of ``split`` (CPU)."""
        return self._split(split).labels

    def balanced_indices(self, split: str, size: int, seed: int = 0) -> np.ndarray:
        """Sorted indices of a class-balanced random subsample of ``split`` (about ``size`` images)."""
        return balanced_subset(self.labels(split).numpy(), size, seed)

    def subset(self, split: str, indices: np.ndarray | torch.Tensor, name: str | None = None) -> Dataset:
        """A dataset whose split ``name`` (default: ``split`` itself) holds ``split[indices]``.

        The other splits (and device copies already made of them) are shared, so
        ``data.subset("train", idx, "train_probe")`` costs only the subsample.
        """
        splits = {**self.splits, name or split: self._split(split).take(indices)}
        return dataclasses.replace(self, splits=splits, _pipelines=self._pipelines)

    # ---------------------------------------------------------------- batches
    def batches(self, split: str, batch_size: int, device: torch.device | str = "cpu",
                generator: torch.Generator | None = None, train: bool = False, drop_last: bool = False,
                shuffle: bool | None = None, indices: np.ndarray | None = None, shard: tuple[int, int] = (0, 1)
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised batches of ``split`` on ``device``: ((B, C, S, S) float32, (B,) int64).

        train: apply the training augmentation. shuffle: defaults to ``train``. generator: draws
        the order and the augmentation (a per-run ``torch.Generator`` makes epochs reproducible).
        indices: restrict to these samples of the split (e.g. a fixed probe subsample).
        shard: (rank, world) under torchrun — with the same generator seed on every rank, each rank
        gets its slice of every global batch (only its images are decoded, augmented and moved).
        """
        pipeline = self.pipeline(device)
        return pipeline.batches(self._split(split), batch_size, generator=generator, train=train, drop_last=drop_last,
                                shuffle=train if shuffle is None else shuffle, indices=indices, shard=shard)

    def num_batches(self, split: str, batch_size: int, drop_last: bool = False) -> int:
        n = self.split_size(split)
        return n // batch_size if drop_last else -(-n // batch_size)

    def pipeline(self, device: torch.device | str = "cpu"):
        """The input pipeline for ``device`` (made once, chosen by :func:`core.data.pipeline.choose`)."""
        from core.data.pipeline import make_pipeline

        device = torch.device(device)
        key = str(device)
        if key not in self._pipelines:
            self._pipelines[key] = make_pipeline(self, device)
        return self._pipelines[key]

    def describe_pipeline(self, device: torch.device | str = "cpu") -> str:
        """One line: where the images live during training and which transforms run where."""
        return self.pipeline(device).describe()

    # ---------------------------------------------------------------- legacy attributes (array datasets)
    @property
    def train_images(self) -> torch.Tensor:
        return self._arrays("train").images

    @property
    def train_labels(self) -> torch.Tensor:
        return self.labels("train")

    @property
    def test_images(self) -> torch.Tensor:
        return self._arrays("test").images

    @property
    def test_labels(self) -> torch.Tensor:
        return self.labels("test")

    def _split(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"dataset '{self.name}' has no split '{split}'; it has {sorted(self.splits)}") from None

    def _arrays(self, split: str) -> ArraySplit:
        part = self._split(split)
        if not isinstance(part, ArraySplit):
            raise TypeError(f"dataset '{self.name}' reads its '{split}' images from files; use batches()")
        return part


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load a dataset and what it uses when the config leaves a choice open.

    load: DataConfig → Dataset. default_hierarchy: the ``DataConfig.hierarchy`` value that means
    "the dataset's own tree". locations: DataConfig → folders searched (for messages and docs).
    """

    load: Callable
    default_hierarchy: str
    locations: Callable = lambda cfg: []


DATASETS: Registry[DatasetSpec] = Registry("dataset")


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



IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALISATIONS = {
    "dataset": "the dataset's own per-channel mean/std (ImageNet's for ImageFolder roots)",
    "imagenet": "ImageNet mean (.485,.456,.406) / std (.229,.224,.225)",
    "none": "pixels scaled to [0, 1] only",
}


def assemble(cfg, name: str, hierarchy: Hierarchy, splits: dict[str, Split], mean: tuple[float, ...],
             std: tuple[float, ...], image_size: int, default_augment: str, notes: str = "") -> Dataset:
    """The Dataset a loader returns, with the config's choices applied.

    cfg: DataConfig (augment "auto" → ``default_augment``; normalisation; limit_train; pipeline;
    workers). mean/std: the dataset's own constants.
    """
    from core.data.splits import limit_train

    channels = len(mean)
    if cfg.normalisation == "imagenet":
        if channels != 3:
            raise ValueError(f"data.normalisation 'imagenet' needs colour images; {name} has {channels} channel(s)")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    elif cfg.normalisation == "none":
        mean, std = (0.0,) * channels, (1.0,) * channels
    augment = default_augment if cfg.augment == "auto" else cfg.augment
    data = Dataset(name, hierarchy, splits, tuple(mean), tuple(std), channels, image_size, augment, notes,
                   cfg.pipeline, cfg.workers)
    return limit_train(data, cfg.limit_train, cfg.seed)
