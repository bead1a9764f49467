"""Training augmentations by name, in two forms: batched on the device, and torchvision transforms.

| name | training transform (S = the dataset's image size) | on the device? |
|---|---|---|
| ``none`` | (eval transform only) | yes |
| ``flip`` | horizontal flip | yes |
| ``pad_crop_flip`` | reflect-pad 4, random S×S crop, horizontal flip (METHOD.md §7, CIFAR) | yes |
| ``resize_crop_flip`` | Resize(S, S), RandomCrop(S, pad 4 with zeros), flip (METHOD.md §7, FGVC) | yes |
| ``random_resized_crop_flip`` | RandomResizedCrop(S), flip (iNat19, tieredImageNet-H) | no |

The evaluation transform is Resize(S, S) for images read from files and nothing for decoded arrays;
on the device, images read from files are held after that Resize, so ``resize_crop_flip`` there is
the zero-padded crop and flip of the already resized image (what torchvision's chain computes).
Crop offsets are drawn from 0 to 8 inclusive (torchvision's RandomCrop); the reference draws 0–7
(METHOD.md §12, item 12).
"""
from __future__ import annotations

import re

import torch

__all__ = ["AUGMENTATIONS", "DEVICE_AUGMENTATIONS", "AugmentDraw", "draw", "apply", "train_transform",
           "eval_transform", "describe"]

AUGMENTATIONS = {  # name → description; S = the dataset's image size
    "none": "no augmentation",
    "flip": "horizontal flip",
    "pad_crop_flip": "reflect-pad 4, random S×S crop, horizontal flip (CIFAR recipe)",
    "resize_crop_flip": "Resize(S,S), RandomCrop(S, pad 4), horizontal flip (FGVC recipe)",
    "random_resized_crop_flip": "RandomResizedCrop(S), horizontal flip (iNat19 / tieredImageNet-H recipe)",
}
DEVICE_AUGMENTATIONS = ("none", "flip", "pad_crop_flip", "resize_crop_flip")
PADDING = {"none": "reflect", "flip": "reflect", "pad_crop_flip": "reflect", "resize_crop_flip": "zeros"}
PAD = 4


class AugmentDraw:
    """Random parameters for N images, drawn at once: offsets (N, 2) in [0, 2·PAD], flips (N,) bool."""

    def __init__(self, offsets: torch.Tensor, flips: torch.Tensor):
        self.offsets, self.flips = offsets, flips

    def to(self, device: torch.device) -> AugmentDraw:
        return AugmentDraw(self.offsets.to(device, non_blocking=True), self.flips.to(device, non_blocking=True))

    def __getitem__(self, index) -> AugmentDraw:
        return AugmentDraw(self.offsets[index], self.flips[index])


def draw(name: str, count: int, generator: torch.Generator | None) -> AugmentDraw:
    """The random parameters of ``count`` augmentations, from ``generator`` (on its own device)."""
    where = generator.device if generator is not None else torch.device("cpu")
    if name in ("pad_crop_flip", "resize_crop_flip"):
        offsets = torch.randint(0, 2 * PAD + 1, (count, 2), generator=generator, device=where)
    else:
        offsets = torch.full((count, 2), PAD, dtype=torch.int64, device=where)
    flips = torch.rand(count, generator=generator, device=where) < 0.5
    if name == "none":
        flips = torch.zeros_like(flips)
    return AugmentDraw(offsets, flips)


def apply(images: torch.Tensor, params: AugmentDraw, padding: str = "reflect") -> torch.Tensor:
    """Crop (from the image padded by PAD) and flip a batch in two gathers, on its device.

    images: (B, C, H, W) any dtype (uint8 here). offsets (B, 2) are positions in the padded image;
    padding "reflect" reflects in index space (``F.pad(mode="reflect")``), "zeros" masks the rows and
    columns that fall in the border, so no padded copy is ever made.
    """
    b, c, h, w = images.shape
    rows = params.offsets[:, :1] - PAD + torch.arange(h, device=images.device)  # (B, H)
    steps = torch.arange(w, device=images.device)
    steps = torch.where(params.flips[:, None], w - 1 - steps, steps)
    cols = params.offsets[:, 1:] - PAD + steps  # (B, W)
    if padding == "reflect":
        out = images.gather(2, _reflect(rows, h)[:, None, :, None].expand(b, c, h, w))
        return out.gather(3, _reflect(cols, w)[:, None, None, :].expand(b, c, h, w))
    out = images.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (B, H, W)
    return out * inside[:, None].to(out.dtype)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect indices in [-PAD, size + PAD) into [0, size) the way ``F.pad(mode="reflect")`` does."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def train_transform(name: str, size: int, from_files: bool):
    """torchvision transform for one training image (PIL image or (C, H, W) uint8 tensor)."""
    from torchvision.transforms import v2

    flip = v2.RandomHorizontalFlip()
    resize = [v2.Resize((size, size), antialias=True)] if from_files else []
    steps = {
        "none": resize,
        "flip": [*resize, flip],
        "pad_crop_flip": [*resize, v2.RandomCrop(size, padding=PAD, padding_mode="reflect"), flip],
        "resize_crop_flip": [v2.Resize((size, size), antialias=True), v2.RandomCrop(size, padding=PAD), flip],
        "random_resized_crop_flip": [v2.RandomResizedCrop(size, antialias=True), flip],
    }[name]
    return v2.Compose([*steps, v2.PILToTensor()] if from_files else steps)


def eval_transform(size: int, from_files: bool):
    """Resize(S, S) for file images (METHOD.md §7's eval transform); identity for decoded arrays."""
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize((size, size), antialias=True), v2.PILToTensor()] if from_files else [])


def describe(name: str, size: int) -> str:
    """AUGMENTATIONS[name] with S written out."""
    return re.sub(r"\bS\b", str(size), AUGMENTATIONS[name])
