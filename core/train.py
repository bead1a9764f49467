"""Headless training: ``python -m core.train --dataset synthetic --frame haframe --epochs 1``.

The same Trainer the app uses; this listener prints one progress line per epoch.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import DataConfig, FrameConfig, ModelConfig, OptimConfig, RunConfig
from core.runs import DEFAULT_ROOT
from core.training import TrainEvent, Trainer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d, f, m, o = DataConfig(), FrameConfig(), ModelConfig(), OptimConfig()
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=["synthetic", "fashion_mnist"], default=d.name)
    p.add_argument("--hierarchy", default=None,
                   help="bundled hierarchy name or a hierarchy file (default: the dataset's own)")
    p.add_argument("--frame", choices=["haframe", "etf", "learnable"], default=f.head, help="classifier head")
    p.add_argument("--gamma", type=float, default=f.gamma)
    p.add_argument("--mapping", choices=["exponential", "linear"], default=f.mapping)
    p.add_argument("--min-similarity", default=f.min_similarity, help="exact, grid or a number")
    p.add_argument("--epochs", type=int, default=o.epochs)
    p.add_argument("--batch-size", type=int, default=o.batch_size)
    p.add_argument("--lr", type=float, default=o.lr)
    p.add_argument("--alpha", type=float, default=o.alpha, help="cosine-loss weight; beta = 1 - alpha")
    p.add_argument("--width", type=int, default=m.width, help="backbone width")
    p.add_argument("--feature-dim", type=int, default=m.feature_dim, help="0 = number of classes")
    p.add_argument("--train-per-class", type=int, default=d.train_per_class, help="synthetic only")
    p.add_argument("--test-per-class", type=int, default=d.test_per_class, help="synthetic only")
    p.add_argument("--limit-train", type=int, default=d.limit_train, help="0 = all training images")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help=f"run directory (default: a new one in {DEFAULT_ROOT})")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    hierarchy = args.hierarchy or ("fashion_mnist" if args.dataset == "fashion_mnist" else "synthetic")
    return RunConfig(
        data=DataConfig(name=args.dataset, hierarchy=hierarchy, train_per_class=args.train_per_class,
                        test_per_class=args.test_per_class, limit_train=args.limit_train, seed=args.seed),
        frame=FrameConfig(head=args.frame, gamma=args.gamma, mapping=args.mapping,
                          min_similarity=args.min_similarity, seed=args.seed),
        model=ModelConfig(width=args.width, feature_dim=args.feature_dim),
        optim=OptimConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, alpha=args.alpha,
                          beta=1.0 - args.alpha if args.alpha <= 1 else 1.0),
        device=args.device, seed=args.seed,
    )


def print_progress(event: TrainEvent) -> None:
    """CLI listener: a line per evaluated epoch and at the end."""
    if event.kind == "epoch":
        m = event.metrics
        sev = m.get("mistake_severity")
        print(f"epoch {event.epoch}/{event.epochs}  top1 {m['top1']:.2f}%  "
              f"mistake severity {sev if sev is None else f'{sev:.3f}'}  hdist@1 {m['hdist@1']:.3f}  "
              f"hdist@5 {m['hdist@5']:.3f}  frame dev {m['frame_dev_mean']:.3f}", flush=True)
    elif event.kind == "end":
        print(f"run {event.run}: {event.state}{' — ' + event.error if event.error else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root, name = (args.out.parent, args.out.name) if args.out else (DEFAULT_ROOT, None)
    trainer = Trainer(config, root=root, callbacks=[print_progress], run_name=name)
    print(f"writing to {trainer.run_dir.path}", flush=True)
    try:
        trainer.fit()
    except Exception as err:  # noqa: BLE001 - one clear line, the traceback is in status.json
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
