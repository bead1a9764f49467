"""Headless training: ``python -m core.train [--recipe NAME] [--dataset NAME] [flags]``.

The same Trainer the app uses. Every flag left out keeps the recipe's value (or the default), so
``--recipe cifar100 --epochs 10`` is the paper's CIFAR-100 recipe for 10 epochs. Progress: a bar
per epoch (tqdm, when installed) and one summary line per evaluated epoch.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from core.build import build_config
from core.config import SNAPSHOT_DTYPES, ConfigError, DataConfig
from core.data import DATASETS, DatasetNotFound
from core.distributed import init_from_env, shutdown
from core.evaluation import format_summary
from core.hierarchy import HierarchyError
from core.models import BACKBONES, HEADS
from core.recipes import DEFAULT_RECIPE, RECIPES
from core.runs import DEFAULT_ROOT, RunDir
from core.training import TrainEvent, Trainer

EXAMPLES = """\
examples:
  python -m core.train --dataset fashion_mnist                      # the CPU default, fixed HAFrame
  python -m core.train --head learnable --epochs 4 --seed 1         # the learnable-classifier baseline
  python -m core.train --recipe cifar100 --epochs 10                # METHOD.md §7's CIFAR-100 recipe
  python -m core.train --resume checkpoints/RUN --epochs 12         # continue (or extend) a run
  torchrun --nproc_per_node=4 -m core.train --recipe cifar100       # 4 GPUs (gloo with --device cpu)
"""

# Flags whose value goes to build_config under another name.
_RENAMED = {"frame": "head", "reference_eval": "reference_quirks"}
_NOT_SETTINGS = {"out", "resume", "progress"}


def _registries() -> str:
    blocks = [("recipes (--recipe)", RECIPES), ("datasets (--dataset)", DATASETS),
              ("backbones (--backbone)", BACKBONES), ("heads (--head)", HEADS)]
    return "\n\n".join(f"{title}:\n" + "\n".join(f"  {line}" for line in reg.help().splitlines())
                       for title, reg in blocks)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"{_registries()}\n\n{EXAMPLES}")
    p.add_argument("--recipe", choices=RECIPES.names(),
                   help=f"preset of METHOD.md §7 (default {DEFAULT_RECIPE}); any flag below overrides it")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS.names(), help="default synthetic (or the recipe's)")
    g.add_argument("--hierarchy", help="bundled hierarchy name or a hierarchy file (default: the dataset's own)")
    g.add_argument("--limit-train", type=int, help="a class-balanced subset of this many training images (0 = all)")
    g.add_argument("--train-per-class", type=int, help="synthetic only (default 200)")
    g.add_argument("--test-per-class", type=int, help="synthetic only (default 50)")
    g.add_argument("--image-size", type=int, help="image side in pixels (default: the dataset's own)")
    g.add_argument("--snapshot-size", type=int,
                   help=f"test images whose features each epoch's snapshot keeps for the Collapse views "
                        f"(class-balanced, the same every epoch; default {DataConfig.snapshot_size}, 0 = none)")
    g.add_argument("--snapshot-dtype", choices=SNAPSHOT_DTYPES,
                   help=f"storage of snapshot features (default {DataConfig.snapshot_dtype})")
    g.add_argument("--root", help="folder holding the dataset (default: $HAFRAME_DATA, then <repo>/data)")
    g.add_argument("--download", action="store_const", const=True, help="fetch a missing dataset into --root")
    g = p.add_argument_group("model and frame")
    g.add_argument("--backbone", choices=BACKBONES.names(), help="default small_cnn (or the recipe's)")
    g.add_argument("--weights", help="a local torchvision state dict for the backbone")
    g.add_argument("--head", "--frame", dest="head", choices=HEADS.names(), help="default haframe")
    g.add_argument("--width", type=int, help="small_cnn width (default 16)")
    g.add_argument("--feature-dim", type=int, help="0 = number of classes (default)")
    g.add_argument("--gamma", type=float, help="HAFrame γ (default 2)")
    g.add_argument("--mapping", choices=["exponential", "linear"])
    g.add_argument("--min-similarity", help="exact (m*, default), grid (the reference's) or a number ≥ m*")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, help="default 8; Fashion-MNIST 2 (recipes: 100)")
    g.add_argument("--batch-size", type=int, help="global batch (split over torchrun processes)")
    g.add_argument("--lr", type=float, help="peak learning rate of the trunk (default 0.05)")
    g.add_argument("--head-lr", type=float, help="peak learning rate of the transformation head (default: --lr)")
    g.add_argument("--alpha", type=float, help="cosine-loss weight; beta = 1 - alpha (1 if alpha > 1)")
    g.add_argument("--beta", type=float, help="cross-entropy weight (default from alpha)")
    g.add_argument("--seed", type=int, help="weights, data order, augmentation and frame rotation (default 0)")
    g = p.add_argument_group("device and evaluation")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto (CUDA when available)")
    g.add_argument("--amp", choices=["bf16", "off"], help="bf16 autocast on CUDA (default bf16)")
    g.add_argument("--compile", action="store_const", const=True, help="torch.compile the training step")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False,
                   help="keep NCHW on CUDA")
    g.add_argument("--deterministic", action="store_const", const=True,
                   help="deterministic algorithms (bit-equal reruns; slower on CUDA)")
    g.add_argument("--reference-eval", action="store_const", const=True,
                   help="evaluate as the reference does: batch 256, drop_last")
    g.add_argument("--eval-batch-size", type=int, help="default 512")
    g = p.add_argument_group("run directory")
    g.add_argument("--out", type=Path, help=f"run directory (default: a new one in {DEFAULT_ROOT})")
    g.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue RUN_DIR from its last checkpoint (with --epochs N: extend it to N epochs)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p.parse_args(argv)


def choices_from_args(args: argparse.Namespace) -> dict:
    """The flags the user gave, as build_config settings."""
    return {_RENAMED.get(k, k): v for k, v in vars(args).items() if k not in _NOT_SETTINGS and v is not None}


class Progress:
    """CLI listener: a tqdm bar per epoch (if tqdm is installed) and one summary line per epoch."""

    LINE_KEYS = ("top1", "val_top1", "mistake_severity", "hdist@1", "hdist@5", "hdist@20", "frame_dev_mean",
                 "train_loss", "seconds")

    def __init__(self, bar: bool = True):
        self.bar = None
        self.tqdm = _tqdm() if bar else None

    def __call__(self, event: TrainEvent) -> None:
        if event.kind == "start":
            m = event.metrics
            print(f"{m['device']} × {m['processes']} · {m['train_images']} training / {m['val_images']} validation / "
                  f"{m['test_images']} test images, {m['steps_per_epoch']} steps per epoch\n"
                  f"input pipeline: {m['pipeline']}", flush=True)
        elif event.kind == "batch" and self.tqdm is not None:
            if self.bar is None:
                self.bar = self.tqdm(total=event.steps, desc=f"epoch {event.epoch}/{event.epochs}", unit="batch",
                                     leave=False, file=sys.stderr, dynamic_ncols=True,
                                     disable=None)  # None: no bar when stderr is not a terminal
            self.bar.update(1)
        elif event.kind == "epoch":
            self._close_bar()
            print(summary_line(event, self.LINE_KEYS), flush=True)
        elif event.kind == "test":
            print(f"test set, best checkpoint (epoch {event.metrics['epoch']}, selected by "
                  f"{event.metrics['selected_by']}; {event.metrics['images']} images):\n"
                  f"{format_summary(event.metrics)}", flush=True)
        elif event.kind == "end":
            self._close_bar()
            print(f"run {event.run}: {event.state}{' — ' + event.error if event.error else ''}", flush=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def summary_line(event: TrainEvent, keys) -> str:
    """'epoch 3/8  top-1 % 71.2 %  severity 1.402 …' with labels from core.schema."""
    from core import schema

    parts = [f"epoch {event.epoch}/{event.epochs}"]
    for key in keys:
        if key in event.metrics:
            parts.append(f"{schema.metric(key).header} {schema.format_value(key, event.metrics[key])}")
    return "  ".join(parts)


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:  # core runs with torch + numpy only; the bar is a nicety
        return None
    return tqdm


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dist = None
    try:
        choices = choices_from_args(args)
        dist = init_from_env(choices.get("device", "auto"))
        listeners = [Progress(args.progress)] if dist.main else []
        if args.resume is not None:
            extra = sorted(set(choices) - {"epochs", "device"})
            if extra:
                raise ConfigError(f"--resume continues the run with its own settings; only --epochs and --device "
                                  f"may be given (got {', '.join(extra)})")
            trainer = Trainer.resume(args.resume, epochs=args.epochs, callbacks=listeners, dist=dist,
                                     device=args.device)
        else:
            config = build_config(choices)
            run_dir = None
            if dist.main:
                root, name = (args.out.parent, args.out.name) if args.out else (DEFAULT_ROOT, None)
                run_dir = RunDir.create(root, config, name)
            run_dir = RunDir(Path(dist.broadcast(str(run_dir.path) if run_dir else None)))
            trainer = Trainer(config, callbacks=listeners, run_dir=run_dir, dist=dist)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if dist.main:
        print(f"writing to {trainer.run_dir.path}", flush=True)
    try:
        trainer.fit()
    except Exception as err:  # noqa: BLE001 - one clear line, the traceback is in status.json
        print(f"error: {err}", file=sys.stderr)
        if dist.main and args.resume is None and _bad_input(err, trainer.run_dir):
            shutil.rmtree(trainer.run_dir.path, ignore_errors=True)
            print(f"nothing was trained; {trainer.run_dir.path} was removed", file=sys.stderr)
            return 2
        return 1
    finally:
        shutdown(dist)
    return 0


def _bad_input(err: Exception, run_dir: RunDir) -> bool:
    """A missing dataset or a bad hierarchy file found while setting the run up, before anything was trained:
    a usage error like a bad flag, so it leaves no failed run directory behind (the files name it)."""
    return isinstance(err, (DatasetNotFound, HierarchyError)) and not run_dir.metrics()


if __name__ == "__main__":
    sys.exit(main())
