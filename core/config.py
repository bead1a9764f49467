"""Run configuration: one frozen dataclass per component, nested into :class:`RunConfig`.

The app fills it from widgets, the CLI from flags, and every run directory stores it as
``config.json`` (``RunConfig.to_dict`` / ``RunConfig.from_dict`` round-trip exactly).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from core.models.registries import BACKBONES as _BACKBONE_REGISTRY
from core.models.registries import HEADS as _HEAD_REGISTRY
from core.data import AUGMENTATIONS, NORMALISATIONS, PIPELINES
from core.data import DATASETS as _DATASET_REGISTRY

__all__ = ["DataConfig", "FrameConfig", "ModelConfig", "OptimConfig", "RuntimeConfig", "EvalConfig", "RunConfig",
           "ConfigError", "MinSimilarity", "parse_min_similarity"]

HEADS = tuple(_HEAD_REGISTRY.names())  # core.models.HEADS: haframe, etf, learnable, ce_linear
DATASETS = tuple(_DATASET_REGISTRY.names())  # core.data.DATASETS


SNAPSHOT_DTYPES = ("float16", "float32")
MinSimilarity = Union[float, Literal["exact", "grid"]]


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field."""


@dataclass(frozen=True)
class DataConfig:
    """Dataset (a core.data.DATASETS name), where to find it, and how its batches are made.

    ``hierarchy`` "" means the dataset's own tree (synthetic → "synthetic", fashion_mnist →
    "fashion_mnist", cifar100 → the bundled 20-superclass "cifar100", imagefolder → "folders" (the
    folder nesting), fgvc_aircraft → "fgvc_aircraft" (its annotation files)); it is filled in on
    creation so config.json always names the tree used.
    """

    name: str = "synthetic"
    hierarchy: str = ""  # "" = the dataset's own; a bundled hierarchy name or a hierarchy file
    root: str = ""  # folder holding the dataset ("" = $HAFRAME_DATA, then <repo>/data)
    download: bool = False  # fetch a missing dataset (CIFAR-100, Fashion-MNIST, FGVC-Aircraft) into root
    train_per_class: int = 200  # synthetic only; other datasets use their own split
    test_per_class: int = 50  # synthetic only
    image_size: int = 0  # 0 = the dataset's own (synthetic 32, files 224); synthetic and file datasets
    noise: float = 0.7  # synthetic only: pixel noise std (images are in [0, 1] before noise)
    val_fraction: float = 0.1  # validation carved per class where a dataset has no official one
    limit_train: int = 0  # 0 = all; otherwise a class-balanced subset of this size
    # What each epoch's snapshot (snapshots/epoch_NNN.npz, read by the Collapse views) may hold. Metrics are
    # always computed on the whole test set; only what is saved for the views is capped.
    snapshot_size: int = 600  # at most this many test images' features (class-balanced, the same images every epoch)
    snapshot_dtype: str = "float16"  # storage of saved features and class means: "float16" (half the bytes), "float32"
    augment: str = "auto"  # "auto" (the dataset's recipe) or a core.data.AUGMENTATIONS name
    normalisation: str = "dataset"  # "dataset" (its own mean/std), "imagenet" or "none"
    pipeline: str = "auto"  # "auto", "device" (uint8 images on the device) or "loader" (DataLoader)
    workers: int = -1  # DataLoader workers; -1 = automatic
    seed: int = 0  # sampling of generated images, carved splits and limit_train

    def __post_init__(self):
        registry = _DATASET_REGISTRY
        _check(self.name in registry, "data.name", f"must be one of {', '.join(registry.names())}, got {self.name!r}")
        if not self.hierarchy:
            object.__setattr__(self, "hierarchy", registry.get(self.name).default_hierarchy)
        _check(self.augment == "auto" or self.augment in AUGMENTATIONS, "data.augment",
               f"must be auto or one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        _check(self.normalisation in NORMALISATIONS, "data.normalisation",
               f"must be one of {', '.join(NORMALISATIONS)}, got {self.normalisation!r}")
        _check(self.pipeline in PIPELINES, "data.pipeline", f"must be one of {', '.join(PIPELINES)}")
        _check(0 < self.val_fraction <= 0.5, "data.val_fraction", "must lie in (0, 0.5]")
        _check(self.snapshot_dtype in SNAPSHOT_DTYPES, "data.snapshot_dtype",
               f"must be one of {', '.join(SNAPSHOT_DTYPES)}, got {self.snapshot_dtype!r}")
        _check(self.image_size >= 0 and self.workers >= -1, "data.image_size/workers",
               "must be non-negative (workers: -1 = automatic)")


@dataclass(frozen=True)
class FrameConfig:
    """Head (a core.models.HEADS name): Type-II with a fixed HAFrame, a fixed ETF or a learnable
    linear classifier, or the Type-I cross-entropy baseline ("ce_linear")."""

    head: str = "haframe"
    gamma: float = 2.0
    mapping: Literal["exponential", "linear"] = "exponential"
    min_similarity: MinSimilarity = "exact"  # "exact" (m*), "grid" (the reference's grid search) or a number ≥ m*
    seed: int = 0  # rotation of the frame in feature space

    def __post_init__(self):
        # Old config.json files stored a number as a string ("0.25"); they still read.
        object.__setattr__(self, "min_similarity", parse_min_similarity(self.min_similarity))


@dataclass(frozen=True)
class ModelConfig:
    """Backbone (a core.models.BACKBONES name) under the head FrameConfig.head names (METHOD.md §5)."""

    backbone: str = "small_cnn"
    width: int = 16  # small_cnn only: channels of the first conv stage (doubled twice)
    feature_dim: int = 0  # Type-II heads: 0 = K (as in the paper); otherwise ≥ K
    weights: str = ""  # a local torchvision state dict for the trunk ("" = random initialisation)

    def __post_init__(self):
        _check(self.backbone in _BACKBONE_REGISTRY, "model.backbone",
               f"must be one of {', '.join(_BACKBONE_REGISTRY.names())}, got {self.backbone!r}")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum and a per-epoch cosine learning rate (METHOD.md §7); loss mixing α/β.

    Two parameter groups: the trunk (backbone + 1×1 conv) at peak ``lr`` and the transformation
    head (and a learnable classifier) at peak ``head_lr`` (None = ``lr``). ``batch_size`` is the
    global batch: under torchrun each of N processes takes batch_size / N images per step.
    """

    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    head_lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    alpha: float = 0.4  # cosine-loss weight (HAFrame / ETF heads)
    beta: float = 0.6  # cross-entropy weight


@dataclass(frozen=True)
class RuntimeConfig:
    """How a run uses its device. Only ``amp`` and ``deterministic`` can change the numbers."""

    amp: Literal["bf16", "off"] = "bf16"  # bf16 autocast of the network's forward pass (CUDA only)
    channels_last: bool = True  # NHWC memory layout for convolutions (CUDA only)
    compile: bool = False  # torch.compile the training step (first epoch pays the compilation)
    deterministic: bool = False  # deterministic algorithms, cuDNN without autotuning (process-wide)


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation after every epoch and the final test pass (METHOD.md §8)."""

    batch_size: int = 512
    reference_quirks: bool = False  # the reference's test loader: batch 256, drop_last (drops N mod 256 images)
    train_subsample: int = 600  # class-balanced training images (eval transforms) for the "@train" statistics


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; ``recipe`` names the preset it started from."""

    data: DataConfig = field(default_factory=DataConfig)
    frame: FrameConfig = field(default_factory=FrameConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    seed: int = 0
    recipe: str = "cpu"

    def __post_init__(self):
        _check(self.data.name in DATASETS, "data.name", f"must be one of {DATASETS}")
        _check(self.frame.head in HEADS, "frame.head", f"must be one of {HEADS}")
        _check(self.optim.epochs >= 1, "optim.epochs", "must be at least 1")
        _check(self.optim.batch_size >= 2, "optim.batch_size", "must be at least 2")
        _check(self.optim.lr > 0, "optim.lr", "must be positive")
        _check(self.frame.gamma > 0, "frame.gamma", "must be positive")
        _check(self.data.train_per_class >= 1 and self.data.test_per_class >= 1,
               "data.*_per_class", "must be at least 1")
        _check(self.device in ("auto", "cpu", "cuda"), "device", "must be auto, cpu or cuda")
        _check(self.frame.mapping in ("exponential", "linear"), "frame.mapping", "must be exponential or linear")
        _check(self.optim.head_lr is None or self.optim.head_lr > 0, "optim.head_lr", "must be positive (or null = lr)")
        _check(self.runtime.amp in ("bf16", "off"), "runtime.amp", "must be bf16 or off")
        _check(self.evaluation.batch_size >= 1 and self.evaluation.train_subsample >= 0,
               "evaluation.batch_size/train_subsample", "must be positive / non-negative")
        _check(self.optim.alpha >= 0 and self.optim.beta >= 0, "optim.alpha/beta", "must be non-negative")
        _check(self.model.width >= 1, "model.width", "must be at least 1")
        _check(self.model.feature_dim >= 0, "model.feature_dim", "must be 0 (= K) or positive")
        _check(self.data.snapshot_size >= 0 and self.data.limit_train >= 0, "data.snapshot_size/limit_train",
               "must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build from a (possibly partial) dict; unknown keys raise ConfigError."""
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown config key(s): {sorted(unknown)}")
        parts = {k: _build(kind, raw.get(k) or {}, k) for k, kind in _SECTIONS.items()}
        parts.update({k: v for k, v in raw.items() if k not in _SECTIONS})
        return cls(**parts)

    def replace(self, **sections) -> RunConfig:
        """Copy with whole sections or top-level fields replaced."""
        return dataclasses.replace(self, **sections)


_SECTIONS = {"data": DataConfig, "frame": FrameConfig, "model": ModelConfig, "optim": OptimConfig,
             "runtime": RuntimeConfig, "evaluation": EvalConfig}


def _build(kind, values: dict, where: str):
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown key(s) in '{where}': {sorted(unknown)}")
    return kind(**values)


def parse_min_similarity(value) -> MinSimilarity:
    """"exact" | "grid" | a float; a number written as a string (old config.json files) becomes a float."""
    if value in ("exact", "grid"):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ConfigError(f"frame.min_similarity must be 'exact', 'grid' or a number, got {value!r}") from None
    if not -1.0 <= number < 1.0:
        raise ConfigError(f"frame.min_similarity must lie in [-1, 1), got {number}")
    return number


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{name} {message}")
