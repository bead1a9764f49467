"""Training augmentations by name, in two forms: batched on the device, and torchvision transforms.

| name | training transform (S = the dataset's image size) | on the device? |
|---|---|---|
| ``none`` | (eval transform only) | yes |
| ``flip`` | horizontal flip | yes |
| ``pad_crop_flip`` | reflect-pad 4, random S×S crop, horizontal flip (METHOD.md §7, CIFAR) | yes |
| ``resize_crop_flip`` | Resize(S, S), RandomCrop(S, pad 4), flip (METHOD.md §7, FGVC) | no |
| ``random_resized_crop_flip`` | RandomResizedCrop(S), flip (iNat19, tieredImageNet-H) | no |

The evaluation transform is Resize(S, S) for images read from files and nothing for decoded arrays.
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
DEVICE_AUGMENTATIONS = ("none", "flip", "pad_crop_flip")
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
    if name == "pad_crop_flip":
        offsets = torch.randint(0, 2 * PAD + 1, (count, 2), generator=generator, device=where)
    else:
        offsets = torch.full((count, 2), PAD, dtype=torch.int64, device=where)
    flips = torch.rand(count, generator=generator, device=where) < 0.5
    if name == "none":
        flips = torch.zeros_like(flips)
    return AugmentDraw(offsets, flips)


def apply(images: torch.Tensor, params: AugmentDraw) -> torch.Tensor:
    """Crop (from the reflect-padded image) and flip a batch in two gathers, on its device.

    images: (B, C, H, W) any dtype (uint8 here). offsets (B, 2) are positions in the image padded
    by PAD on each side; the reflection is done in index space, so no padded copy is made.
    """
    b, c, h, w = images.shape
    rows = _reflect(params.offsets[:, :1] - PAD + torch.arange(h, device=images.device), h)  # (B, H)
    steps = torch.arange(w, device=images.device)
    steps = torch.where(params.flips[:, None], w - 1 - steps, steps)
    cols = _reflect(params.offsets[:, 1:] - PAD + steps, w)  # (B, W)
    out = images.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


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
