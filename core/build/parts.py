"""RunConfig → the parts of a run: data, frame, model (seeded from the run's own generator), loss,
SGD with the trunk/head learning-rate groups and the cosine schedule (METHOD.md §5–§7).

A new backbone, head or dataset is a registry entry (core.models, core.data); nothing here changes.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core import frames
from core.config import ConfigError, RunConfig
from core.data import load_dataset
from core.losses import HAFrameLoss
from core.models import HEADS, FrameNet, build_model, param_groups
from core.rng import own_generator
from core.ultrametric import TreeDistances

__all__ = ["RunParts", "build_run", "build_frame", "check_config", "build_model_seeded", "cosine_factor"]


@dataclass(frozen=True, eq=False)
class RunParts:
    """Everything a Trainer needs, built from a RunConfig by :func:`build_run`.

    distances: (K, K) hierarchical distances; frame: the fixed frame (None for learnable heads);
    target: (K, K) the cosines the class means should reach (the frame's; the ETF's for learnable
    heads); haf_target: (K, K) the hierarchy's HAFrame cosines at m*; loss: ``(features, logits,
    labels) → (loss, ce, cosine term)`` scalars; schedule: epoch (1-based) → each group's lr.
    """

    data: Any
    distances: np.ndarray
    frame: frames.Frame | None
    target: np.ndarray
    haf_target: np.ndarray
    model: Any
    loss: Callable
    optimizer: torch.optim.Optimizer
    schedule: Callable[[int], list[float]]


def build_frame(config: RunConfig, distances: np.ndarray, dim: int) -> frames.Frame | None:
    """The fixed frame a run config asks for (None for a learnable head)."""
    fc = config.frame
    kind = HEADS.get(fc.head).frame
    if kind == "haframe":
        return frames.haframe(distances, fc.gamma, fc.min_similarity, dim, fc.seed, fc.mapping)
    if kind == "etf":
        return frames.etf(len(distances), dim, fc.seed)
    return None


def check_config(config: RunConfig, hierarchy) -> None:
    """What RunConfig cannot check alone: the feature dimension and a numeric m against the hierarchy.

    Raises ConfigError naming the field.
    """
    k = hierarchy.num_classes
    if config.model.feature_dim and config.model.feature_dim < k:
        raise ConfigError(f"model.feature_dim must be 0 (= K) or at least K = {k}, got {config.model.feature_dim}")
    fc = config.frame
    if HEADS.get(fc.head).frame == "haframe" and not isinstance(fc.min_similarity, str):
        try:  # from the tree's blocks: no K×K matrix (K = 10,000 would take 800 MB and an O(K³) solve)
            frames.resolve_min_similarity(TreeDistances.from_hierarchy(hierarchy), fc.min_similarity, fc.gamma,
                                          fc.mapping)
        except ValueError as err:
            raise ConfigError(f"frame.min_similarity: {err}") from None


def build_model_seeded(config: RunConfig, in_channels: int, num_classes: int, frame, image_size) -> FrameNet:
    """``core.models.build_model`` with initial weights drawn from the run's own generator (seeded by
    ``config.seed``), whatever other threads of this process draw meanwhile (see :mod:`core.rng`)."""
    with own_generator(torch.Generator().manual_seed(config.seed)):
        return build_model(config.model, in_channels, num_classes, None if frame is None else frame.weights,
                           image_size=image_size, head=config.frame.head)


def cosine_factor(epoch: int, epochs: int) -> float:
    """METHOD.md §7: ½(1 + cos(π(e − 1)/E)) for epoch e = 1…E (1 at the first epoch)."""
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def build_run(config: RunConfig, device: torch.device | str = "cpu", data=None) -> RunParts:
    """Data, frame, model (on ``device``), loss, SGD with the trunk/head groups and the cosine schedule.

    ``data``: an already loaded dataset (resuming, tests); default ``load_dataset(config.data)``.
    """
    device = torch.device(device)
    data = load_dataset(config.data) if data is None else data
    hierarchy = data.hierarchy
    check_config(config, hierarchy)
    distances = hierarchy.distance_matrix()
    k = hierarchy.num_classes
    frame = build_frame(config, distances, config.model.feature_dim or k)
    model = build_model_seeded(config, data.channels, k, frame, getattr(data, "image_size", None)).to(device)
    fc = config.frame
    target = frame.target if frame is not None else frames.etf(k).target
    haf_target = frames.similarity_matrix(distances, frames.critical_min_similarity(distances, fc.gamma, fc.mapping),
                                          fc.gamma, fc.mapping)
    loss = _frame_loss(frame, config, device) if frame is not None else _cross_entropy
    optim = config.optim
    peaks = {"trunk": optim.lr, "head": optim.head_lr or optim.lr}
    groups = [{"params": [p for p in params if p.requires_grad], "name": name, "peak_lr": peaks[name],
               "lr": peaks[name]} for name, params in param_groups(model).items()]
    optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=optim.lr, momentum=optim.momentum,
                                weight_decay=optim.weight_decay)

    def schedule(epoch: int) -> list[float]:
        factor = cosine_factor(epoch, optim.epochs)
        return [group["peak_lr"] * factor for group in optimizer.param_groups]

    return RunParts(data, distances, frame, target, haf_target, model, loss, optimizer, schedule)


def _frame_loss(frame: frames.Frame, config: RunConfig, device: torch.device) -> Callable:
    hafloss = HAFrameLoss(frame.weights, frame.target, config.optim.alpha, config.optim.beta).to(device)

    def loss(features, logits, labels):
        value = hafloss(features, labels)
        return (value, *hafloss.terms)
    return loss


def _cross_entropy(features, logits, labels):
    value = F.cross_entropy(logits, labels)
    return value, value.detach(), torch.zeros((), device=logits.device)
