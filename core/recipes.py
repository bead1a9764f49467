"""Training recipes: named presets of user choices (METHOD.md §7).

A recipe is a flat mapping of the same settings a user chooses (the keys of
:func:`core.build.build_config`); the user's own choices override every field. ``cpu`` is the
default: the small CNN on synthetic images, sized to train in seconds on a laptop.

The paper's presets set the backbone, γ, α (β follows, METHOD.md §6), the batch, 100 epochs and
the two peak learning rates: the transformation head (``head_lr``) and the trunk with its 1×1
conv (``lr``). Each dataset's augmentation and normalisation (pad-crop-flip for CIFAR,
Resize/RandomResizedCrop + flip at 224 for the others, the means/stds of §7) belong to the
dataset's input pipeline and come with the dataset the recipe names.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from core.registry import Registry

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE"]

DEFAULT_RECIPE = "cpu"


@dataclass(frozen=True)
class Recipe:
    """A preset: ``settings`` are build_config keys → values (read-only)."""

    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))


RECIPES: Registry[Recipe] = Registry("recipe")

RECIPES.add("cpu", "small CNN on synthetic images, 8 epochs, one learning rate (0.05): seconds on a CPU",
            Recipe({}))
RECIPES.add("cifar100", "CIFAR-100: WRN-28-8 from scratch, γ 2, α 0.4, batch 64, 100 epochs, peak lr 0.01 "
            "everywhere, pad-crop-flip at 32×32",
            Recipe({"dataset": "cifar100", "backbone": "wrn28_8", "gamma": 2.0, "alpha": 0.4, "batch_size": 64,
                    "epochs": 100, "lr": 0.01, "head_lr": 0.01}))
RECIPES.add("fgvc", "FGVC-Aircraft: ImageNet ResNet-50 (--weights), γ 1, α 0.5, batch 64, 100 epochs, "
            "head lr 0.1 / trunk 0.01, Resize 224 + crop-flip",
            Recipe({"dataset": "fgvc_aircraft", "backbone": "resnet50", "gamma": 1.0, "alpha": 0.5, "batch_size": 64,
                    "epochs": 100, "lr": 0.01, "head_lr": 0.1}))
RECIPES.add("inat19", "iNaturalist-19 (ImageFolder + hierarchy file): ImageNet ResNet-50, γ 5, α 0.4, batch 256, "
            "100 epochs, peak lr 0.01, RandomResizedCrop 224 + flip",
            Recipe({"dataset": "imagefolder", "backbone": "resnet50", "gamma": 5.0, "alpha": 0.4, "batch_size": 256,
                    "epochs": 100, "lr": 0.01, "head_lr": 0.01}))
RECIPES.add("tiered", "tieredImageNet-H (ImageFolder + hierarchy file): ResNet-50 (PASS MoCo-v2 weights via "
            "--weights), γ 3, α 0.5, batch 256, 100 epochs, peak lr 0.01, RandomResizedCrop 224 + flip",
            Recipe({"dataset": "imagefolder", "backbone": "resnet50", "gamma": 3.0, "alpha": 0.5, "batch_size": 256,
                    "epochs": 100, "lr": 0.01, "head_lr": 0.01}))
