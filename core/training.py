"""The one trainer, shared by the app and the CLI.

It knows nothing of its callers: it reports through callbacks that receive :class:`TrainEvent`s
(the app's job registry is one listener, the CLI's progress printer another) and writes everything
to its run directory (see :mod:`core.runs`). ``stop()`` is honoured between batches.

The parts of a run (data, model, frame, loss, optimiser, schedule) come from
:func:`core.build.build_run`. Every random draw of a run comes from the run's own seed: the
initial weights (drawn from the run's generator, :mod:`core.rng`), the data order and
augmentation of epoch e (a generator seeded by (seed, e)) and the frame rotation (frame seed), so a
run trained next to another in the same process, or resumed after a crash, gives the same numbers
as one trained alone in one go.
"""
from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import metrics
from core.build import RunParts, build_frame, build_run, check_config
from core.config import ConfigError, RunConfig
from core.data import balanced_subset
from core.distributed import SINGLE, Dist
from core.evaluation import REFERENCE_EVAL_BATCH, forward_pass, hdist_ks, paper_rows
from core.rng import epoch_generator
from core.runs import DEFAULT_ROOT, RunDir

__all__ = ["Trainer", "TrainEvent", "resolve_device", "describe_device", "check_config", "build_frame",
           "snapshot_indices"]


@dataclass(frozen=True)
class TrainEvent:
    """What the trainer reports.

    kind: "start" (set-up done), "batch" (one optimiser step), "epoch" (evaluated; ``metrics``
    holds the epoch's row), "test" (the final test pass; ``metrics`` holds the test summary) or
    "end" (``state`` finished | stopped | failed, ``error`` the message).
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


def resolve_device(name: str, dist: Dist = SINGLE) -> torch.device:
    """"auto" → CUDA when available, else CPU; under torchrun each process takes GPU ``local_rank``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    return torch.device("cuda", dist.local_rank) if name == "cuda" else torch.device(name)


def describe_device(name: str = "auto") -> str:
    """What a run on ``name`` would use, for display: "CUDA · <GPU name>" or "CPU"."""
    device = resolve_device(name) if name != "cuda" or torch.cuda.is_available() else torch.device("cpu")
    return f"CUDA · {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "CPU"


class _TrainStep(nn.Module):
    """images → (features f (float32), logits): the network under bf16 autocast, the head in float32.

    One module so that DistributedDataParallel and torch.compile wrap the whole forward pass.
    """

    def __init__(self, model: nn.Module, amp: bool, device_type: str):
        super().__init__()
        self.model, self.amp, self.device_type = model, amp, device_type

    def features(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            return self.model.forward_features(images).float()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return features, self.model.forward_head(features)


def snapshot_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``size`` of the (N,) ``labels``' samples, as equal per class as possible,
    drawn with ``seed`` (so a run, and a resumed run, saves the same images every epoch).

    ``core.data.balanced_subset`` keeps at least one image per class, i.e. K images when size < K
    (1,010 for iNat-19 however small the cap); the cap is honoured here by keeping ``size`` of those
    (one image each of ``size`` classes, drawn with the same seed)."""
    idx = balanced_subset(labels, size, seed)
    if len(idx) > size:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size, replace=False))
    return idx


def _stored(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as ``dtype`` for a snapshot; float32 where float16 would overflow (|x| > 65504)."""
    values = np.asarray(values, np.float32)
    if dtype == "float16" and np.nanmax(np.abs(values), initial=0.0) < np.finfo(np.float16).max:
        return values.astype(np.float16)
    return values


class Trainer:
    """Train one run. ``fit()`` blocks; ``start()`` runs ``fit`` in a daemon thread.

    build: RunConfig, device → :class:`core.build.RunParts` (default :func:`core.build.build_run`).
    dist: this process's place in a torchrun job (default: a single process); only rank 0 writes
    the run directory and reports events.
    """

    def __init__(self, config: RunConfig, root: Path | str = DEFAULT_ROOT,
                 callbacks: Iterable[Callback] = (), run_name: str | None = None, run_dir: RunDir | None = None,
                 build: Callable[..., RunParts] = build_run, dist: Dist = SINGLE):
        self.config = config
        self.callbacks = list(callbacks)
        self.dist = dist
        # run_dir: e.g. a queued run's, a resumed run's, or rank 0's under torchrun
        self.run_dir = run_dir or RunDir.create(root, config, run_name)
        self.build = build
        self.error: str | None = None
        self.steps = 0  # optimiser steps per epoch, known after set-up
        self._epoch = 0  # the epoch being trained
        self._resume: dict | None = None  # checkpoint_last.pt's state when resuming
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def resume(cls, run_dir: Path | str | RunDir, epochs: int | None = None, callbacks: Iterable[Callback] = (),
               dist: Dist = SINGLE, device: str | None = None, **kwargs) -> Trainer:
        """A Trainer that continues ``run_dir`` from its checkpoint_last.pt when ``fit()`` is called.

        Model, optimiser (momentum), schedule position, epoch counter and best-so-far are restored;
        the data order and augmentation of each epoch are functions of (seed, epoch), so the rest of
        the run is the one an uninterrupted run would have trained. ``epochs`` > the configured count
        extends the run (the cosine schedule is then laid over the new total); ``device`` moves it
        (e.g. a GPU run continued on a CPU). Raises ValueError with
        a clear message when there is nothing to resume or nothing left to train.
        """
        run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        if not (run.path / "config.json").exists():
            raise ValueError(f"{run.path} is not a run directory (no config.json)")
        config = run.config()
        # No checkpoint yet (stopped during set-up or epoch 0): start afresh in the same directory.
        state = run.load_checkpoint("last") if run.checkpoint_path("last").exists() else None
        done = int(state["epoch"]) if state is not None else 0
        total = config.optim.epochs if epochs is None else int(epochs)
        if total < max(done, 1):
            raise ValueError(f"{run.name} has already trained {done} epochs; --epochs must be at least {max(done, 1)}")
        if state is not None and total == done and run.status().get("state") == "finished":
            raise ValueError(f"{run.name} finished all {done} epochs; pass a larger --epochs to extend it")
        if total != config.optim.epochs:
            config = config.replace(optim=dataclasses.replace(config.optim, epochs=total))
            if dist.main:
                run.write_config(config)
        if state is None and dist.main:
            run.keep_metrics_through(-1)
        moved = {"device": device} if device is not None else {}  # where it trains: not written to config.json
        trainer = cls(config.replace(**moved), callbacks=callbacks, run_dir=run, dist=dist, **kwargs)
        trainer._resume = state
        return trainer

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
        """Train, evaluating and snapshotting after every epoch, then test the best checkpoint."""
        epochs = self.config.optim.epochs
        main = self.dist.main
        heartbeat = self.run_dir.beating() if main else None  # proof of life for RunDir.state()
        try:
            if main:
                self.run_dir.write_status("running", epoch=0, epochs=epochs)
            self._setup()
            first = self._restore() if self._resume is not None else 0
            self._emit("start", first, metrics=self._describe())
            if self._resume is None:
                self._save_checkpoints(0, self._evaluate(0, {"seconds": 0.0}, time.perf_counter()))
            for epoch in range(first + 1, epochs + 1):
                started = time.perf_counter()
                train_stats = self._train_epoch(epoch)
                row = self._evaluate(epoch, {**train_stats, "seconds": time.perf_counter() - started}, started)
                self._save_checkpoints(epoch, row)
            self._test()
            self._finish("finished", epochs)
        except _Stopped:
            self._finish("stopped", self._epoch)
        except Exception as err:  # noqa: BLE001 - reported to listeners and status.json, then re-raised
            self.error = f"{type(err).__name__}: {err}"
            if main:
                self.run_dir.write_status("failed", error=self.error, traceback=traceback.format_exc(),
                                          epoch=self._epoch, epochs=epochs)
            self._emit("end", self._epoch, state="failed", error=self.error)
            raise
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        return self.run_dir

    def _setup(self) -> None:
        cfg = self.config
        self.device = resolve_device(cfg.device, self.dist)
        self._configure_runtime(cfg.runtime)
        self.parts: RunParts = self.build(cfg, self.device)
        self.data, self.model, self.optimizer = self.parts.data, self.parts.model, self.parts.optimizer
        self.distances, self.frame = self.parts.distances, self.parts.frame
        self.num_classes = self.data.hierarchy.num_classes
        self.ks = hdist_ks(self.num_classes)
        self._wrap_model(cfg.runtime)
        self.steps = self._steps_per_epoch(cfg.optim.batch_size)
        self._plan_evaluation(cfg)
        if self.dist.main:
            self.run_dir.save_hierarchy(self.data.hierarchy)
            self.run_dir.save_frame(self.parts.target, None if self.frame is None else self.frame.weights)

    def _configure_runtime(self, rt) -> None:
        """bf16 autocast and channels-last on CUDA; cuDNN autotuning unless determinism is asked for."""
        cuda = self.device.type == "cuda"
        if rt.deterministic:  # process-wide switches: they also apply to other runs in this process
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif cuda:
            torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
        self.amp = cuda and rt.amp == "bf16"
        self.channels_last = cuda and rt.channels_last

    def _wrap_model(self, rt) -> None:
        """The training step: the model under autocast, in DDP under torchrun, compiled on request."""
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        step = _TrainStep(self.model, self.amp, self.device.type)
        self.eval_step = step  # evaluation runs on rank 0 alone: the plain module, never DDP
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            cuda = self.device.type == "cuda"
            step = DistributedDataParallel(step, device_ids=[self.device.index] if cuda else None)
        self.train_step = torch.compile(step) if rt.compile else step

    def _steps_per_epoch(self, batch: int) -> int:
        if batch % self.dist.world:
            raise ConfigError(f"optim.batch_size ({batch}) must be divisible by the number of processes "
                              f"({self.dist.world})")
        steps = self.data.num_batches("train", batch, drop_last=True)
        if steps == 0:
            raise ConfigError(f"optim.batch_size ({batch}) is larger than the training set "
                              f"({self.data.split_size('train')} images)")
        return steps

    def _plan_evaluation(self, cfg: RunConfig) -> None:
        """What is evaluated each epoch: validation (for the best checkpoint), the fixed training
        probe (for "@train" statistics) and the test images whose features are snapshotted."""
        self.has_val = "val" in self.data.splits and self.data.split_size("val") > 0
        self._select_key = "val_top1" if self.has_val else "top1"
        self._best: dict = {"epoch": -1, "key": self._select_key, "value": -math.inf}
        self.train_probe = self.data.balanced_indices("train", cfg.evaluation.train_subsample, cfg.data.seed)
        n_eval = self.data.split_size("test")
        if cfg.evaluation.reference_quirks:
            n_eval -= n_eval % REFERENCE_EVAL_BATCH
            if n_eval == 0:
                raise ConfigError(f"evaluation.reference_quirks drops every test image (batch "
                                  f"{REFERENCE_EVAL_BATCH}, drop_last, {self.data.split_size('test')} images)")
        test_labels = self.data.labels("test")[:n_eval].numpy()
        self.snapshot_idx = snapshot_indices(test_labels, cfg.data.snapshot_size, cfg.data.seed)

    def _describe(self) -> dict:
        """What the run uses, for the "start" event (the CLI prints it)."""
        return {"device": describe_device(str(self.device.type)), "processes": self.dist.world,
                "pipeline": self.data.describe_pipeline(self.device), "train_images": self.data.split_size("train"),
                "val_images": self.data.split_size("val") if self.has_val else 0,
                "test_images": self.data.split_size("test"), "steps_per_epoch": self.steps,
                "bf16_autocast": self.amp, "channels_last": self.channels_last,
                "compiled": self.config.runtime.compile}

    def _restore(self) -> int:
        """Load checkpoint_last.pt into model and optimiser; drop metrics rows it does not cover."""
        state = self._resume
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._best = dict(state.get("best") or self._best)  # runs from before checkpoint_best.pt have none
        done = int(state["epoch"])
        self._epoch = done
        if self.dist.main:
            # A kill between a metrics row and its checkpoint leaves a row the checkpoint does not cover.
            self.run_dir.keep_metrics_through(done)
            self.run_dir.write_status("running", epoch=done, epochs=self.config.optim.epochs)
        return done

    def _train_epoch(self, epoch: int) -> dict:
        """One pass over the training set (drop_last) → mean loss, CE, cosine term and accuracy."""
        self._epoch = epoch
        lrs = self.parts.schedule(epoch)
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self.model.train()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        generator = epoch_generator(self.config.seed, epoch)
        shard = (self.dist.rank, self.dist.world)  # every rank draws the same global batch and trains its share
        totals = torch.zeros(4, device=self.device)  # loss, CE, cosine term, accuracy; synced once per epoch
        batches = self.data.batches("train", self.config.optim.batch_size, self.device, generator=generator,
                                    train=True, drop_last=True, shard=shard)
        for step, (images, labels) in enumerate(batches, start=1):
            if self._stop.is_set():
                raise _Stopped
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            features, logits = self.train_step(images)
            loss, ce, cos = self.parts.loss(features, logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            acc = (logits.detach().argmax(1) == labels).float().mean()
            totals += torch.stack([loss.detach(), ce, cos, acc])
            self._emit("batch", epoch, step=step)
        mean = (self.dist.all_reduce_mean(totals) / self.steps).tolist()
        stats = {"lr": lrs[0], "train_loss": mean[0], "train_ce": mean[1], "train_cos": mean[2],
                 "train_acc": 100 * mean[3]}
        if len(lrs) > 1 and lrs[1] != lrs[0]:
            stats["head_lr"] = lrs[1]
        if self.device.type == "cuda":
            stats["gpu_mem_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        return stats

    # ------------------------------------------------------------------ evaluation
    def _pass(self, split: str, indices: np.ndarray | None = None):
        # The reference's quirks are those of its test loader: batch 256, drop_last.
        quirks = self.config.evaluation.reference_quirks and split == "test"
        batch = REFERENCE_EVAL_BATCH if quirks else self.config.evaluation.batch_size
        batches = self.data.batches(split, batch, self.device, drop_last=quirks, indices=indices)
        return forward_pass(self._eval_features, self.model.forward_head, batches)

    def _eval_features(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.eval_step.features(images)

    @torch.no_grad()
    def _evaluate(self, epoch: int, extra: dict, started: float) -> dict:
        """Metrics on the test set (+ validation top-1), a feature snapshot and a metrics row (rank 0).
        ``started``: ``time.perf_counter()`` when the epoch began; the row's ``wall_seconds`` counts from it to
        the end of this evaluation (training + evaluation + snapshot; ``seconds`` is the training alone)."""
        row: dict = {}
        if self.dist.main:
            self.model.eval()
            row = self._evaluation_row(epoch, extra)
            row["wall_seconds"] = time.perf_counter() - started
            self.run_dir.append_metrics(row)
            self.run_dir.write_status("running", epoch=epoch, epochs=self.config.optim.epochs)
        self.dist.barrier()  # the other ranks wait while rank 0 evaluates the whole set
        self._emit("epoch", epoch, metrics=row)
        return row

    def _evaluation_row(self, epoch: int, extra: dict) -> dict:
        test = self._pass("test")
        row = {"epoch": epoch, **extra,
               **metrics.hierarchical_metrics(test.logits, test.labels, self.distances, ks=self.ks)}
        if self.has_val:
            val = self._pass("val")
            row["val_top1"] = metrics.hierarchical_metrics(val.logits, val.labels, self.distances, ks=(1,))["top1"]
        classifier = self.model.classifier_weights().float().cpu().numpy()
        k, target, haf = self.num_classes, self.parts.target, self.parts.haf_target
        centered = self.frame is None
        row.update(metrics.collapse_statistics(test.features, test.labels, classifier, target, haf, k,
                                               centered=centered, predictions=test.logits))
        if len(self.train_probe):
            probe = self._pass("train", indices=self.train_probe)
            stats = metrics.collapse_statistics(probe.features, probe.labels, classifier, target, haf, k,
                                                centered=centered, predictions=probe.logits)
            row.update({f"{key}@train": value for key, value in stats.items()})
        row = {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in row.items()}
        self._save_snapshot(epoch, test, classifier)
        return row

    def _save_snapshot(self, epoch: int, test, classifier: np.ndarray) -> None:
        """What the Collapse and Mistakes views read, bounded whatever the test set's size: the features,
        labels and predictions of the run's fixed ``snapshot_idx`` images, the (K, d) class means of the
        whole test set, the (K, d) classifier only when it is learnt (a fixed frame's is in frame.npz),
        and three (N,) int32 arrays of per-image outcomes. Floats are stored as ``data.snapshot_dtype``."""
        dtype = self.config.data.snapshot_dtype
        features, logits, labels = test.features.cpu(), test.logits.cpu(), test.labels.cpu()
        idx = self.snapshot_idx
        learnt = {} if self.frame is not None else {"classifier": _stored(classifier, dtype)}
        self.run_dir.save_snapshot(
            epoch, indices=idx.astype(np.int32), features=_stored(features[idx].numpy(), dtype),
            labels=labels[idx].numpy(), predictions=logits[idx].argmax(1).numpy(),
            class_means=_stored(metrics.class_means(features, labels, self.num_classes), dtype), **learnt,
            **metrics.epoch_arrays(logits, labels, self.distances),
        )

    # ------------------------------------------------------------------ checkpoints and the test pass
    def _save_checkpoints(self, epoch: int, row: dict) -> None:
        """checkpoint_last.pt every epoch; checkpoint_best.pt when the selection metric improved (rank 0)."""
        if not self.dist.main:
            return
        value = row.get(self._select_key)
        improved = value is not None and value > self._best["value"]
        if improved:
            self._best = {"epoch": epoch, "key": self._select_key, "value": float(value)}
        model = self.model.state_dict()
        config = self.config.to_dict()
        self.run_dir.save_checkpoint({"epoch": epoch, "model": model, "optimizer": self.optimizer.state_dict(),
                                      "best": self._best, "config": config}, "last")
        if improved:
            self.run_dir.save_checkpoint({"epoch": epoch, "model": model, "best": self._best, "config": config},
                                         "best")

    @torch.no_grad()
    def _test(self) -> None:
        """The test set through the best checkpoint: test_summary.json in the paper's layout (rank 0)."""
        if self.dist.main:
            best = self.run_dir.load_checkpoint("best")
            self.model.load_state_dict(best["model"])
            self.model.eval()
            test = self._pass("test")
            selected = ("validation top-1" if self._select_key == "val_top1"
                        else "test top-1 (the dataset has no validation split, so this is optimistic)")
            summary = {"checkpoint": "checkpoint_best.pt", "epoch": best["epoch"], "selected_by": selected,
                       "images": len(test.labels), "reference_quirks": self.config.evaluation.reference_quirks,
                       "rows": paper_rows(test.logits, test.labels, self.distances)}
            self.run_dir.save_test_summary(summary)
            self._emit("test", self.config.optim.epochs, metrics=summary)
        self.dist.barrier()

    def _finish(self, state: str, epoch: int) -> None:
        if self.dist.main:
            self.run_dir.write_status(state, epoch=epoch, epochs=self.config.optim.epochs)
        self._emit("end", epoch, state=state)

    def _emit(self, kind: str, epoch: int, **info) -> None:
        if not self.dist.main:
            return
        event = TrainEvent(kind, self.run_dir.name, epoch, self.config.optim.epochs,
                           steps=self.steps, **info)
        for callback in self.callbacks:
            callback(event)
