"""The one trainer, shared by the app and the CLI.

It knows nothing of its callers: it reports through callbacks that receive :class:`TrainEvent`s
(the app's job registry is one listener, the CLI's progress printer another) and writes everything
to its run directory (see :mod:`core.runs`). ``stop()`` is honoured between batches.
"""
from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core import frames, metrics
from core.config import ConfigError, RunConfig
from core.data import Dataset, balanced_subset, load_dataset
from core.hierarchy import Hierarchy
from core.losses import HAFrameLoss
from core.models import FrameNet, build_model
from core.runs import DEFAULT_ROOT, RunDir

__all__ = ["Trainer", "TrainEvent", "resolve_device", "describe_device", "check_config", "build_frame"]


@dataclass(frozen=True)
class TrainEvent:
    """What the trainer reports.

    kind: "start" (set-up done), "batch" (one optimiser step), "epoch" (evaluated; ``metrics``
    holds the epoch's row) or "end" (``state`` finished | stopped | failed, ``error`` the message).
    """

    kind: str
    run: str
    epoch: int
    epochs: int
    step: int = 0
    steps: int = 0
    metrics: dict = field(default_factory=dict)
    state: str = ""
    error: str = ""


Callback = Callable[[TrainEvent], None]


class _Stopped(Exception):
    pass


def resolve_device(name: str) -> torch.device:
    """"auto" → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    return torch.device(name)


def describe_device(name: str = "auto") -> str:
    """What a run on ``name`` would use, for display: "CUDA · <GPU name>" or "CPU"."""
    device = resolve_device(name) if name != "cuda" or torch.cuda.is_available() else torch.device("cpu")
    return f"CUDA · {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "CPU"


def check_config(config: RunConfig, hierarchy: Hierarchy) -> None:
    """What RunConfig cannot check alone: the feature dimension and a numeric m against the hierarchy.

    Raises ConfigError naming the field.
    """
    k = hierarchy.num_classes
    if config.model.feature_dim and config.model.feature_dim < k:
        raise ConfigError(f"model.feature_dim must be 0 (= K) or at least K = {k}, got {config.model.feature_dim}")
    fc = config.frame
    if fc.head == "haframe" and fc.min_similarity not in ("exact", "grid"):
        try:
            frames.resolve_min_similarity(hierarchy.distance_matrix(), float(fc.min_similarity), fc.gamma,
                                          fc.mapping)
        except ValueError as err:  # FrameError, or a string that is not a number
            raise ConfigError(f"frame.min_similarity: {err}") from None


def build_frame(config: RunConfig, distances: np.ndarray, dim: int) -> frames.Frame | None:
    """The fixed frame a run config asks for (None for a learnable head)."""
    fc = config.frame
    if fc.head == "haframe":
        m = fc.min_similarity if fc.min_similarity in ("exact", "grid") else float(fc.min_similarity)
        return frames.haframe(distances, fc.gamma, m, dim, fc.seed, fc.mapping)
    if fc.head == "etf":
        return frames.etf(len(distances), dim, fc.seed)
    return None


class Trainer:
    """Train one run. ``fit()`` blocks; ``start()`` runs ``fit`` in a daemon thread."""

    def __init__(self, config: RunConfig, root: Path | str = DEFAULT_ROOT,
                 callbacks: Iterable[Callback] = (), run_name: str | None = None, run_dir: RunDir | None = None):
        self.config = config
        self.callbacks = list(callbacks)
        self.run_dir = run_dir or RunDir.create(root, config, run_name)  # run_dir: e.g. a queued run's
        self.error: str | None = None
        self.steps = 0  # optimiser steps per epoch, known after set-up
        self._epoch = 0  # the epoch being trained
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask the run to stop after the current batch."""
        self._stop.set()

    def start(self) -> threading.Thread:
        """Run ``fit`` in a background daemon thread (errors end up in ``self.error``)."""
        self._thread = threading.Thread(target=self._fit_quietly, name=f"train-{self.run_dir.name}", daemon=True)
        self._thread.start()
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _fit_quietly(self) -> None:
        try:
            self.fit()
        except Exception:  # already recorded in status.json and the "end" event
            pass

    # ------------------------------------------------------------------ main loop
    def fit(self) -> RunDir:
        """Train, evaluating and snapshotting after every epoch; returns the run directory."""
        epochs = self.config.optim.epochs
        heartbeat = self.run_dir.beating()  # proof of life for RunDir.state(); stopped in `finally`
        try:
            self.run_dir.write_status("running", epoch=0, epochs=epochs)
            self._setup()
            self._emit("start", 0)
            self._evaluate(0, {"seconds": 0.0})
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                train_stats = self._train_epoch(epoch)
                self._evaluate(epoch, {**train_stats, "seconds": time.perf_counter() - started})
                self._save_checkpoint(epoch)
            self._finish("finished", epochs)
        except _Stopped:
            self._finish("stopped", self._epoch)
        except Exception as err:  # noqa: BLE001 - reported to listeners and status.json, then re-raised
            self.error = f"{type(err).__name__}: {err}"
            self.run_dir.write_status("failed", error=self.error, traceback=traceback.format_exc(),
                                      epoch=self._epoch, epochs=epochs)
            self._emit("end", self._epoch, state="failed", error=self.error)
            raise
        finally:
            heartbeat.stop()
        return self.run_dir

    def _setup(self) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        self.data: Dataset = load_dataset(cfg.data)
        hierarchy = self.data.hierarchy
        check_config(cfg, hierarchy)
        self.distances = hierarchy.distance_matrix()
        num_classes = hierarchy.num_classes
        dim = cfg.model.feature_dim or num_classes
        self.frame = build_frame(cfg, self.distances, dim)
        self.model: FrameNet = build_model(cfg.model, self.data.channels, num_classes,
                                           None if self.frame is None else self.frame.weights).to(self.device)
        # Deviation targets: the fixed frame's cosines; for a learnable head, the simplex ETF's.
        self.target = self.frame.target if self.frame is not None else frames.etf(num_classes).target
        self.haf_target = frames.similarity_matrix(
            self.distances, frames.critical_min_similarity(self.distances, cfg.frame.gamma, cfg.frame.mapping),
            cfg.frame.gamma, cfg.frame.mapping)
        self.loss = (HAFrameLoss(self.frame.weights, self.frame.target, cfg.optim.alpha, cfg.optim.beta)
                     if self.frame is not None else None)
        if self.loss is not None:
            self.loss.to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                         weight_decay=cfg.optim.weight_decay)
        self.mean = torch.tensor(self.data.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(self.data.std, device=self.device).view(1, -1, 1, 1)
        self.train_x = self.data.train_images.to(self.device)
        self.train_y = self.data.train_labels.to(self.device)
        self.test_x = self.data.test_images.to(self.device)
        self.snapshot_idx = balanced_subset(self.data.test_labels.numpy(), cfg.data.snapshot_size, cfg.data.seed)
        self.run_dir.save_hierarchy(hierarchy)
        self.run_dir.save_frame(self.target, None if self.frame is None else self.frame.weights)
        self.steps = len(self.train_y) // cfg.optim.batch_size or 1

    def _normalise(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return (images_uint8.float() / 255.0 - self.mean) / self.std

    def _train_epoch(self, epoch: int) -> dict:
        """One pass over the training set (drop_last) → mean loss, CE, cosine term and accuracy."""
        self._epoch = epoch
        cfg = self.config.optim
        lr = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / cfg.epochs))  # METHOD.md §7 shape
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        gen = torch.Generator().manual_seed(self.config.seed * 100003 + epoch)
        order = torch.randperm(len(self.train_y), generator=gen).to(self.device)
        totals = torch.zeros(4, device=self.device)  # loss, CE, cosine term, accuracy; synced once per epoch
        for step in range(self.steps):
            if self._stop.is_set():
                raise _Stopped
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            images, labels = self._normalise(self.train_x[idx]), self.train_y[idx]
            features = self.model.forward_features(images)
            logits = self.model.forward_head(features)
            if self.loss is not None:
                loss = self.loss(features, labels)
                ce, cos = self.loss.terms
            else:
                loss = F.cross_entropy(logits, labels)
                ce, cos = loss.detach(), torch.zeros((), device=self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            acc = (logits.detach().argmax(1) == labels).float().mean()
            totals += torch.stack([loss.detach(), ce, cos, acc])
            self._emit("batch", epoch, step=step + 1)
        mean = (totals / self.steps).tolist()
        return {"lr": lr, "train_loss": mean[0], "train_ce": mean[1], "train_cos": mean[2], "train_acc": 100 * mean[3]}

    @torch.no_grad()
    def _evaluate(self, epoch: int, extra: dict) -> dict:
        """Metrics on the test set, a feature snapshot and a metrics row for ``epoch``."""
        self.model.eval()
        feats, logits = [], []
        for start in range(0, len(self.data.test_labels), 512):
            images = self._normalise(self.test_x[start:start + 512])
            f = self.model.forward_features(images)
            feats.append(f.float().cpu())
            logits.append(self.model.forward_head(f).float().cpu())
        features, logits = torch.cat(feats), torch.cat(logits)
        labels = self.data.test_labels
        row = {"epoch": epoch, **extra, **metrics.hierarchical_metrics(logits, labels, self.distances)}
        means = metrics.class_means(features, labels, self.data.num_classes)
        classifier = self.model.classifier_weights().float().cpu().numpy()
        row.update(metrics.collapse_statistics(features, labels, classifier, self.target, self.haf_target,
                                               self.data.num_classes, centered=self.frame is None,
                                               predictions=logits))
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        idx = self.snapshot_idx
        self.run_dir.save_snapshot(
            epoch, features=features[idx].numpy().astype(np.float32), labels=labels[idx].numpy(),
            predictions=logits[idx].argmax(1).numpy(), class_means=means.astype(np.float32),
            classifier=classifier, **metrics.epoch_arrays(logits, labels, self.distances),
        )
        self.run_dir.append_metrics(row)
        self.run_dir.write_status("running", epoch=epoch, epochs=self.config.optim.epochs)
        self._emit("epoch", epoch, metrics=row)
        return row

    def _save_checkpoint(self, epoch: int) -> None:
        self.run_dir.save_checkpoint({
            "epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "config": self.config.to_dict(),
        })

    def _finish(self, state: str, epoch: int) -> None:
        self.run_dir.write_status(state, epoch=epoch, epochs=self.config.optim.epochs)
        self._emit("end", epoch, state=state)

    def _emit(self, kind: str, epoch: int, **info) -> None:
        event = TrainEvent(kind, self.run_dir.name, epoch, self.config.optim.epochs,
                           steps=self.steps, **info)
        for callback in self.callbacks:
            callback(event)
