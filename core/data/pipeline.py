"""Input pipelines: how batches reach the device.

* :class:`DevicePipeline` — decoded uint8 arrays are copied to the device once; each batch is
  gathered, augmented (``core.data.augment.apply``, vectorised) and normalised there. The epoch's
  order and augmentation parameters are drawn up front from the caller's generator, so a per-run
  ``torch.Generator`` makes runs reproducible and no batch waits on the host.
* :class:`LoaderPipeline` — a ``torch.utils.data.DataLoader`` with workers and pinned memory
  decodes and transforms images per batch (torchvision transforms of the recipe), sends them as
  uint8 and normalises on the device.

:func:`choose` picks one: the device pipeline when the training augmentation runs on the device and
the uint8 images fit in a quarter of the device's free memory (host memory for the CPU) — images
read from files are then decoded once, through the evaluation transform Resize(S, S), with the
loader's workers; otherwise the loader. ``DataConfig.pipeline`` can force either.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch

from core.data import augment
from core.data.dataset import ArraySplit, Dataset, FileSplit

__all__ = ["DevicePipeline", "LoaderPipeline", "choose", "make_pipeline", "DEVICE_MEMORY_SHARE"]

DEVICE_MEMORY_SHARE = 0.25  # at most this share of free accelerator memory holds a dataset


def choose(data: Dataset, device: torch.device) -> tuple[str, str]:
    """("device" | "loader", why) for ``data`` on ``device``."""
    if data.augment not in augment.DEVICE_AUGMENTATIONS:
        if data.pipeline_mode == "device":
            raise ValueError(f"augmentation '{data.augment}' cannot run on the device; use data.pipeline 'auto'")
        return "loader", f"augmentation '{data.augment}' runs in torchvision transforms"
    if data.pipeline_mode in ("device", "loader"):
        return data.pipeline_mode, "forced by data.pipeline"
    size = sum(_held_bytes(s, data) for s in data.splits.values())
    budget = int(DEVICE_MEMORY_SHARE * _free_memory(device))
    if size > budget:
        return "loader", f"{_mb(size)} of images exceed {_mb(budget)} (a quarter of free {device.type} memory)"
    if any(isinstance(s, FileSplit) for s in data.splits.values()):
        return "device", f"{_mb(size)} of images fit in {device.type} memory once decoded"
    return "device", f"{_mb(size)} of images fit in {device.type} memory"


def make_pipeline(data: Dataset, device: torch.device):
    mode, why = choose(data, device)
    cls = DevicePipeline if mode == "device" else LoaderPipeline
    return cls(data, device, why)


def _held_bytes(part, data: Dataset) -> int:
    """Bytes of uint8 images ``part`` takes once decoded (files: at the dataset's image size)."""
    if isinstance(part, ArraySplit):
        return part.nbytes
    return len(part) * data.channels * data.image_size**2


def _free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return 2**62  # other accelerators: no query; let the data go there


def _mb(nbytes: int) -> str:
    """Bytes in the unit that reads best: KiB, MiB or GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes / 2**10:,.0f} KiB"


class _Normaliser:
    """uint8 (B, C, H, W) → float32 ((x/255 − mean) / std) on the device, as one multiply-add."""

    def __init__(self, mean, std, device: torch.device):
        std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * std), -mean / std

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images.float(), self.scale)


class DevicePipeline:
    """Whole splits as uint8 tensors on the device; batches gathered, augmented and normalised there."""

    kind = "device"

    def __init__(self, data: Dataset, device: torch.device, why: str = ""):
        self.data, self.device, self.why = data, device, why
        self.normalise = _Normaliser(data.mean, data.std, device)
        self._copies: dict[int, tuple[ArraySplit, torch.Tensor, torch.Tensor]] = {}

    def _on_device(self, part: ArraySplit | FileSplit) -> tuple[torch.Tensor, torch.Tensor]:
        key = id(part)
        if key not in self._copies:  # the split object is kept alive with its copy, so ids stay unique
            arrays = part if isinstance(part, ArraySplit) else decode(part, self.data.image_size, self._workers())
            self._copies[key] = (part, arrays.images.to(self.device), arrays.labels.to(self.device))
        return self._copies[key][1:]

    def _workers(self) -> int:
        return _auto_workers(self.data.workers)

    def batches(self, part: ArraySplit, batch_size: int, generator: torch.Generator | None = None,
                train: bool = False, drop_last: bool = False, shuffle: bool = False, indices: np.ndarray | None = None,
                shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``part`` (a split of the dataset, or a subset sharing this pipeline)."""
        images, labels = self._on_device(part)
        order = _order(len(labels), shuffle, generator, indices)
        params = augment.draw(self.data.augment, len(order), generator) if train else None
        order = order.to(self.device, non_blocking=True)
        if params is not None:
            params = params.to(self.device)
        for rows in _batch_slices(len(order), batch_size, drop_last, shard):
            idx = order[rows]
            batch = images[idx]
            if params is not None and self.data.augment != "none":
                batch = augment.apply(batch, params[rows], augment.PADDING[self.data.augment])
            yield self.normalise(batch), labels[idx]

    def describe(self) -> str:
        sizes = ", ".join(f"{n} {len(s):,}" for n, s in self.data.splits.items())
        nbytes = sum(_held_bytes(s, self.data) for s in self.data.splits.values())
        size = self.data.image_size
        files = any(isinstance(s, FileSplit) for s in self.data.splits.values())
        decoded = f"decoded once from files through Resize({size},{size}), then " if files else ""
        return (f"images {decoded}held on {self.device} as uint8 ({_mb(nbytes)}; {sizes}) — {self.why}; training "
                f"augmentation '{self.data.augment}' ({augment.describe(self.data.augment, self.data.image_size)}) "
                "and normalisation run on the device in batches")


def _auto_workers(workers: int) -> int:
    """-1 → one worker per spare core, at most 8."""
    return workers if workers >= 0 else min(8, max(1, (os.cpu_count() or 2) - 1))


def decode(part: FileSplit, size: int, workers: int) -> ArraySplit:
    """All images of ``part`` as (N, 3, size, size) uint8 after Resize(size, size), decoded by workers."""
    view = _SplitView(part, augment.eval_transform(size, from_files=True))
    loader = torch.utils.data.DataLoader(view, batch_size=256, num_workers=workers)
    images = torch.empty((len(part), 3, size, size), dtype=torch.uint8)
    start = 0
    for batch, _ in loader:
        images[start:start + len(batch)] = batch
        start += len(batch)
    return ArraySplit(images, part.labels)


def _batch_slices(count: int, batch_size: int, drop_last: bool, shard: tuple[int, int]) -> Iterator[slice]:
    """Positions in the pass's order of each batch — this rank's share of every global batch.

    shard: (rank, world) — every rank draws the same order (same generator seed) and takes rows
    [rank·b/world, (rank+1)·b/world) of each global batch of b, so the ranks together see each batch once.
    Empty shares are skipped; with drop_last and b divisible by world every rank gets every batch.
    """
    rank, world = shard
    stop = count - count % batch_size if drop_last else count
    for start in range(0, stop, batch_size):
        size = min(batch_size, stop - start)
        share = -(-size // world)
        rows = slice(start + min(rank * share, size), start + min((rank + 1) * share, size))
        if rows.stop > rows.start:
            yield rows


def _order(count: int, shuffle: bool, generator: torch.Generator | None, indices: np.ndarray | None) -> torch.Tensor:
    """Sample positions for one pass: ``indices`` (or all), shuffled with ``generator`` when asked."""
    base = torch.arange(count) if indices is None else torch.as_tensor(np.asarray(indices), dtype=torch.int64)
    if not shuffle:
        return base
    where = generator.device if generator is not None else torch.device("cpu")
    return base[torch.randperm(len(base), generator=generator, device=where).cpu()]


class _SplitView(torch.utils.data.Dataset):
    """Map-style view of one split for a DataLoader: (uint8 (C, S, S) tensor, label).

    With ``seed`` set, image i's random transform runs under torch seed (seed + i), so a pass is
    reproducible from the caller's generator whatever the number of workers.
    """

    def __init__(self, part, transform, seed: int | None = None):
        self.part, self.transform, self.seed = part, transform, seed

    def __len__(self) -> int:
        return len(self.part)

    def __getitem__(self, i: int):
        if isinstance(self.part, FileSplit):
            image = self.part.read(self.part.files[i])
        else:
            image = self.part.images[i]
        if self.seed is None:
            return self.transform(image), self.part.labels[i]
        # torchvision's transforms draw from the global CPU generator: seed it for this image and
        # put the caller's state back (the generator's own methods; torch.manual_seed costs 15× more)
        rng = torch.default_generator
        saved = rng.get_state()
        rng.manual_seed((self.seed + i) % 2**63)
        try:
            return self.transform(image), self.part.labels[i]
        finally:
            rng.set_state(saved)


class LoaderPipeline:
    """A DataLoader per pass (workers, pinned memory); transforms per recipe; normalised on the device."""

    kind = "loader"

    def __init__(self, data: Dataset, device: torch.device, why: str = ""):
        self.data, self.device, self.why = data, device, why
        self.normalise = _Normaliser(data.mean, data.std, device)
        self.workers = _auto_workers(data.workers)

    def batches(self, part: ArraySplit | FileSplit, batch_size: int, generator: torch.Generator | None = None,
                train: bool = False, drop_last: bool = False, shuffle: bool = False, indices: np.ndarray | None = None,
                shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``part``; each image's random transform is seeded from ``generator`` and its index."""
        from_files = isinstance(part, FileSplit)
        size = self.data.image_size
        transform = (augment.train_transform(self.data.augment, size, from_files) if train
                     else augment.eval_transform(size, from_files))
        order = _order(len(part), shuffle, generator, indices).tolist()
        where = generator.device if generator is not None else torch.device("cpu")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=where)) if train else None
        plan = [order[rows] for rows in _batch_slices(len(order), batch_size, drop_last, shard)]
        loader = torch.utils.data.DataLoader(
            _SplitView(part, transform, seed), batch_sampler=plan, num_workers=self.workers,
            pin_memory=self.device.type == "cuda", prefetch_factor=4 if self.workers else None)
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True)
            yield self.normalise(images), labels.to(self.device, non_blocking=True)

    def describe(self) -> str:
        size = self.data.image_size
        files = any(isinstance(s, FileSplit) for s in self.data.splits.values())
        evaluation = f"Resize({size},{size})" if files else "none"
        return (f"DataLoader with {self.workers} worker(s){', pinned memory' if self.device.type == 'cuda' else ''}"
                f" — {self.why}; training transforms '{self.data.augment}' "
                f"({augment.describe(self.data.augment, size)}), evaluation {evaluation}; "
                f"normalisation on {self.device}")
