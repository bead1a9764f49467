"""A toy run that collapses in seconds on a CPU — the primer's live demonstration of NC1–NC4.

A small MLP learns the synthetic hierarchical blob images (8×8 pixels) with the HAFrame loss of
:mod:`core.losses` against a fixed frame (HAFrame or ETF) from :mod:`core.frames`; every few steps
the neural-collapse statistics of :func:`core.metrics.collapse_statistics` are taken on the training
features. Full-batch Adam on a few hundred images: a few hundred steps take seconds, which is enough
for the features to collapse visibly. Deterministic by seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.data import make_synthetic
from core.frames import Frame, etf, haframe
from core.hierarchy import Hierarchy
from core.losses import HAFrameLoss
from core.metrics import collapse_statistics

__all__ = ["ToyConfig", "ToyRun", "toy_run"]


@dataclass(frozen=True)
class ToyConfig:
    """head: "haframe" or "etf"; steps of full-batch Adam; ``record_every`` steps a statistics row."""

    head: str = "haframe"
    steps: int = 120
    per_class: int = 24
    image_size: int = 8
    hidden: int = 64
    gamma: float = 2.0
    alpha: float = 0.4
    lr: float = 3e-3
    noise: float = 0.7
    seed: int = 0
    record_every: int = 10


@dataclass(frozen=True, eq=False)
class ToyRun:
    """steps: (R,) the recorded steps; stats: R rows of ``collapse_statistics`` (+ ``loss``, ``train_acc``);
    features: {"first": (N, d), "last": (N, d)} training features at the first and last record;
    labels: (N,); means: (K, d) final class means; frame: the fixed classifier; haf_target: (K, K)."""

    steps: list[int]
    stats: list[dict]
    features: dict[str, np.ndarray]
    labels: np.ndarray
    means: np.ndarray
    frame: Frame
    haf_target: np.ndarray


def toy_run(hierarchy: Hierarchy, cfg: ToyConfig = ToyConfig()) -> ToyRun:
    """Train the toy model and record its collapse (seconds on a CPU for ≤ 20 classes).

    Runs on one torch thread: matrices this small gain nothing from a second one, and on a busy
    machine the threads' hand-offs cost 5× the arithmetic (the previous setting is restored)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(hierarchy, cfg)
    finally:
        torch.set_num_threads(threads)


def _train(hierarchy: Hierarchy, cfg: ToyConfig) -> ToyRun:
    data = make_synthetic(hierarchy, cfg.per_class, 1, cfg.image_size, cfg.noise, cfg.seed).splits["train"]
    images = data.images.float().flatten(1) / 255.0
    images = (images - images.mean(0)) / images.std(0).clamp_min(1e-6)
    labels = data.labels
    k = hierarchy.num_classes
    dim = k + 4  # d ≥ K: the frame's room, a little more than it needs
    haf = haframe(hierarchy.distance_matrix(), cfg.gamma, "exact", dim, cfg.seed)
    frame = haf if cfg.head == "haframe" else etf(k, dim, cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = nn.Sequential(nn.Linear(images.shape[1], cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden),
                          nn.ReLU(), nn.Linear(cfg.hidden, dim))
    with torch.no_grad():  # weights from the run's own generator, so runs are reproducible side by side
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (1.0 / np.sqrt(p.shape[-1])) if p.ndim == 2
                    else torch.zeros(p.shape))
    loss_fn = HAFrameLoss(frame.weights, frame.target, cfg.alpha, 1.0 - cfg.alpha)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps, stats, snaps = [], [], {}
    for step in range(cfg.steps + 1):
        features = model(images)
        loss = loss_fn(features, labels)
        if step % cfg.record_every == 0 or step == cfg.steps:
            steps.append(step)
            stats.append(_record(features.detach(), labels, frame, haf.target, k, float(loss.detach())))
            snaps.setdefault("first", features.detach().numpy().copy())
            snaps["last"] = features.detach().numpy().copy()
        if step == cfg.steps:
            break
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    last = torch.from_numpy(snaps["last"])
    means = torch.stack([last[labels == c].mean(0) for c in range(k)]).numpy()
    return ToyRun(steps, stats, snaps, labels.numpy(), means, frame, haf.target)


def _record(features: torch.Tensor, labels: torch.Tensor, frame: Frame, haf_target: np.ndarray, k: int,
            loss: float) -> dict:
    logits = features @ torch.as_tensor(frame.weights, dtype=features.dtype).T
    row = collapse_statistics(features, labels, frame.weights, frame.target, haf_target, k, predictions=logits)
    row["loss"] = loss
    row["train_acc"] = 100.0 * float((logits.argmax(1) == labels).double().mean())
    return row
