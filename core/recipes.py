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
    """A preset: ``settings`` are build_config keys → values (read-only); ``per_dataset`` adds
    dataset name → settings that apply on top when that dataset is chosen (the CPU recipe sizes
    Fashion-MNIST's 54,000 images differently from the synthetic default)."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    per_dataset: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "per_dataset", MappingProxyType({k: MappingProxyType(dict(v))
                                                                  for k, v in self.per_dataset.items()}))

    def for_dataset(self, dataset: str | None) -> dict[str, Any]:
        """This recipe's settings for ``dataset`` (None: the recipe's own dataset, if it names one)."""
        dataset = dataset or self.settings.get("dataset")
        return {**self.settings, **self.per_dataset.get(dataset, {})}


RECIPES: Registry[Recipe] = Registry("recipe")

# Fashion-MNIST on a 2-core CPU: 2 epochs at batch 128 reach about 90 % test top-1 in about 30 s
# wall, process start included (bench/bench_fmnist.py; 8 epochs at batch 64 took minutes).
RECIPES.add("cpu", "small CNN, one learning rate (0.05): synthetic images 8 epochs, Fashion-MNIST 2 epochs at "
            "batch 128 — seconds to half a minute on a CPU",
            Recipe({}, per_dataset={"fashion_mnist": {"epochs": 2, "batch_size": 128}}))
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
