"""Benchmark: where an epoch of ``core.training.Trainer`` spends its time.

    python bench/bench_training.py                  # default synthetic RunConfig, 2 epochs, CPU
    python bench/bench_training.py --quick          # a tiny config (seconds)
    python bench/bench_training.py --device cuda    # on the GPU (cuda | cpu | auto)

The run goes to a temporary directory (tempfile.mkdtemp, removed afterwards), never checkpoints/.
``fit()`` evaluates once before training (epoch 0), then per epoch trains, evaluates and writes a
checkpoint. The trainer's own methods are wrapped with timers; nothing in core/ changes.

Reported for the last epoch (default 2; the first one carries one-off kernel and allocator set-up
— for the tiny config on CPU it took 30-150x the second — and is shown only as "cold train"):
train images/s (optimiser steps over the drop_last training set), eval images/s (forward over the
whole test set plus metrics, NC statistics, feature snapshot and metrics row), the snapshot write
alone, the checkpoint write, and the ratios eval / train and (eval + checkpoint) / epoch — the
share of an epoch not spent training.
There is no separate baseline run: the ratio is eval time against train time in the same run.
CPU seconds (every thread of the process) are printed beside wall seconds: on a shared machine they
vary far less. To compare two versions of the trainer, run this script from each checkout in turn.
(``snapshot_size = 0`` saves no per-image features; class means and outcomes are still written.)
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import Column, render_table  # noqa: E402
from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig  # noqa: E402
from core.training import Trainer  # noqa: E402


def tiny_config(device: str = "cpu", epochs: int = 1) -> RunConfig:
    """The test suite's tiny config (tests/conftest.py): trains in about a second on CPU."""
    return RunConfig(
        data=DataConfig(train_per_class=12, test_per_class=6, image_size=16, snapshot_size=40),
        model=ModelConfig(width=8),
        optim=OptimConfig(epochs=epochs, batch_size=16),
        device=device,
    )


def default_config(device: str = "cpu", epochs: int = 1) -> RunConfig:
    """The app's default synthetic run (RunConfig()), with the epoch count and device set."""
    base = RunConfig()
    return base.replace(optim=dataclasses.replace(base.optim, epochs=epochs), device=device)


class _Timers:
    """Per-call wall and CPU durations of wrapped callables, synchronising CUDA around each call.

    CPU time (``time.process_time``: every thread of this process) measures the work a phase does;
    on a machine shared with other jobs it varies far less than wall time.
    """

    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.calls: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            self._sync()
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._sync()
                self.calls.setdefault(name, []).append(time.perf_counter() - start)
                self.cpu.setdefault(name, []).append(time.process_time() - cpu_start)
        return timed

    def _sync(self):
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def run_epochs(config: RunConfig, root: Path | str) -> dict:
    """Fit ``config`` under ``root`` with timers on set-up, train, evaluate, snapshot and checkpoint."""
    trainer = Trainer(config, root=root, run_name="bench")
    device = torch.device("cuda") if config.device == "cuda" else None
    timers = _Timers(device)
    setup = trainer._setup

    def timed_setup():
        setup()
        # RunDir is a frozen dataclass; wrapping one instance's method is enough here.
        object.__setattr__(trainer.run_dir, "save_snapshot",
                           timers.wrap("snapshot", trainer.run_dir.save_snapshot))
        if timers.device is None and trainer.device.type == "cuda":
            timers.device = trainer.device

    trainer._setup = timers.wrap("setup", timed_setup)
    trainer._train_epoch = timers.wrap("train", trainer._train_epoch)
    trainer._evaluate = timers.wrap("eval", trainer._evaluate)
    saver = "_save_checkpoints" if hasattr(trainer, "_save_checkpoints") else "_save_checkpoint"  # older trainers
    setattr(trainer, saver, timers.wrap("checkpoint", getattr(trainer, saver)))
    start = time.perf_counter()
    trainer.fit()
    total = time.perf_counter() - start
    return {"trainer": trainer, "timers": timers.calls, "cpu": timers.cpu, "total_s": total}


def measure(config: RunConfig, label: str, root: Path | str | None = None) -> dict:
    own_root = root is None
    root = Path(tempfile.mkdtemp(prefix="hafs-bench-")) if own_root else Path(root)
    try:
        out = run_epochs(config, root)
        trainer, calls = out["trainer"], out["timers"]
        status = trainer.run_dir.status()["state"]
        last = trainer.run_dir.metrics()[-1]
    finally:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
    train_s, eval_s = calls["train"][-1], calls["eval"][-1]
    snap_s, ckpt_s = calls["snapshot"][-1], calls["checkpoint"][-1]
    n_train = trainer.steps * config.optim.batch_size
    n_test = trainer.data.split_size("test") if hasattr(trainer.data, "split_size") else len(trainer.data.test_labels)
    epoch_s = train_s + eval_s + ckpt_s
    return {
        "config": label, "device": trainer.device.type, "K": trainer.data.num_classes,
        "epochs": config.optim.epochs, "train_images": n_train, "test_images": n_test,
        "snapshot_images": len(trainer.snapshot_idx), "setup_s": calls["setup"][0], "cold_train_s": calls["train"][0],
        "train_s": train_s, "eval_s": eval_s, "eval0_s": calls["eval"][0], "snapshot_s": snap_s,
        "checkpoint_s": ckpt_s, "epoch_s": epoch_s, "total_s": out["total_s"],
        "train_img_per_s": n_train / train_s, "eval_img_per_s": n_test / eval_s,
        "train_cpu_s": out["cpu"]["train"][-1], "eval_cpu_s": out["cpu"]["eval"][-1],
        "train_img_per_cpu_s": n_train / out["cpu"]["train"][-1],
        "eval_over_train": eval_s / train_s, "non_train_share": (eval_s + ckpt_s) / epoch_s,
        "state": status, "top1": last.get("top1"), "train_loss": last.get("train_loss"),
    }


COLUMNS = [
    Column("config", "<8", "config"),
    Column("dev", ">4", "device"),
    Column("K", ">3", "K"),
    Column("train img", ">9", "train_images"),
    Column("test img", ">8", "test_images"),
    Column("setup (s)", ">9", "setup_s", ".2f"),
    Column("cold train (s)", ">14", "cold_train_s", ".2f"),
    Column("train (s)", ">9", "train_s", ".2f"),
    Column("train img/s", ">11", "train_img_per_s", ".0f"),
    Column("train CPU (s)", ">13", "train_cpu_s", ".2f"),
    Column("img/CPU s", ">9", "train_img_per_cpu_s", ".0f"),
    Column("eval (s)", ">8", "eval_s", ".3f"),
    Column("eval CPU (s)", ">12", "eval_cpu_s", ".3f"),
    Column("eval img/s", ">10", "eval_img_per_s", ".0f"),
    Column("snapshot (s)", ">12", "snapshot_s", ".4f"),
    Column("ckpt (s)", ">8", "checkpoint_s", ".4f"),
    Column("eval/train", ">10", "eval_over_train", ".3f"),
    Column("not training", ">12", lambda r: f"{100 * r['non_train_share']:.1f}%"),
]


def format_table(rows: list[dict]) -> str:
    return render_table(COLUMNS, rows)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny test config instead of the default one")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to run (default 2); the last one is reported")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_training: --device cuda but no CUDA device is available")
    label = "tiny" if args.quick else "default"
    config = (tiny_config if args.quick else default_config)(args.device, args.epochs)
    print(f"Trainer epoch timing ({label} synthetic config, {args.epochs} epoch(s), device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads)", flush=True)
    rows = [measure(config, label)]
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    rows = main()
    sys.exit(0 if all(r["state"] == "finished" for r in rows) else 1)
