"""Replication: fixed HAFrame vs Type-I cross-entropy vs learnable Type-II, same backbone and budget,
several seeds, mean ± 95 % confidence interval of the final test metrics, as a Markdown table.

    python bench/replicate.py                                  # Fashion-MNIST (CPU recipe), seeds 0-2;
                                                               # CIFAR-100 too when its files are found
    python bench/replicate.py --datasets fashion_mnist --seeds 0 1 2 3 4
    python bench/replicate.py --set epochs=8 --set limit_train=6000     # any build_config setting
    python bench/replicate.py --heads haframe learnable --set min_similarity=grid --out table.md

Every run is a real ``core.training.Trainer`` run (built by ``core.build.build_config`` from the
dataset's recipe — Fashion-MNIST: the CPU default; CIFAR-100: the paper's ``cifar100`` recipe, WRN-28-8,
100 epochs, meant for a GPU — plus the ``--set`` overrides, the head and the seed) into a temporary
directory. Metrics are the final test pass with the best-validation checkpoint (``test_summary.json``,
"model" row): top-1 %, mistake severity, hdist@1/5/20 (hdist@k only where K > k).
Interval: :func:`core.seeds.mean_ci`, the Compare page's: mean ± t₀.₉₇₅,ₙ₋₁ · s / √n with the sample
standard deviation s over seeds (ddof = 1). The reference's ``experiments/multiple_runs_eval.py``
uses ddof = 0 (METHOD.md §7), i.e. intervals √((n − 1)/n) times ours.
Runs go one after another (the machine may be shared); the table is printed and, with --out,
written as Markdown together with the command and the conditions.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.build import build_config  # noqa: E402
from core.data import DatasetNotFound, load_dataset  # noqa: E402
from core.seeds import mean_ci  # noqa: E402
from core.training import Trainer  # noqa: E402

HEADS = ("haframe", "ce_linear", "learnable")
METRICS = (("top1", "top-1 %", 2), ("mistake_severity", "mistake severity", 3), ("hdist@1", "hdist@1", 3),
           ("hdist@5", "hdist@5", 3), ("hdist@20", "hdist@20", 3))
RECIPE = {"fashion_mnist": "cpu", "cifar100": "cifar100"}


def parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"replicate: --set takes key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def available(dataset: str, sets: dict[str, str]) -> str | None:
    """None when ``dataset`` can be loaded, else why not (its missing-dataset message)."""
    try:
        load_dataset(build_config({"recipe": RECIPE.get(dataset, "cpu"), "dataset": dataset, **sets}).data)
    except DatasetNotFound as err:
        return str(err).splitlines()[0]
    return None


def run_one(dataset: str, head: str, seed: int, sets: dict[str, str], device: str) -> dict:
    """One Trainer run; the test row of its summary plus the wall seconds."""
    config = build_config({"recipe": RECIPE.get(dataset, "cpu"), "dataset": dataset, "head": head, "seed": seed,
                           "device": device, **sets})
    root = Path(tempfile.mkdtemp(prefix="hafs-replicate-"))
    try:
        start = time.perf_counter()
        run = Trainer(config, root=root, run_name=f"{dataset}-{head}-{seed}").fit()
        seconds = time.perf_counter() - start
        import json

        summary = json.loads((run.path / "test_summary.json").read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"dataset": dataset, "head": head, "seed": seed, "seconds": seconds, **summary["rows"]["model"],
            "backbone": config.model.backbone, "epochs": config.optim.epochs, "limit_train": config.data.limit_train}


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (dataset, head): n and, per metric, (mean, half-width) or None where absent."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["head"]), []).append(r)
    out = []
    for (dataset, head), runs in groups.items():
        entry = {"dataset": dataset, "head": head, "n": len(runs), "backbone": runs[0]["backbone"],
                 "epochs": runs[0]["epochs"], "seconds": float(np.mean([r["seconds"] for r in runs]))}
        for key, _, _ in METRICS:
            mean, half, n = mean_ci([r.get(key) for r in runs])
            entry[key] = (mean, half) if n else None
        out.append(entry)
    return out


def markdown(summary: list[dict]) -> str:
    head = "| dataset | head | backbone | epochs | seeds | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines = [head, "|" + "---|" * (5 + len(METRICS))]
    for e in summary:
        cells = []
        for key, _, digits in METRICS:
            stat = e[key]
            cells.append("—" if stat is None else
                         f"{stat[0]:.{digits}f} ± {stat[1]:.{digits}f}" if np.isfinite(stat[1]) else f"{stat[0]:.{digits}f}")
        lines.append(f"| {e['dataset']} | {e['head']} | {e['backbone']} | {e['epochs']} | {e['n']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def conditions(device: str, elapsed: float) -> str:
    load = os.getloadavg()
    return (f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs, device {device}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the "
            f"end, {elapsed / 60:.1f} min for all runs")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist", "cifar100"])
    parser.add_argument("--heads", nargs="+", default=list(HEADS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a build_config setting for every run (e.g. epochs=8, limit_train=6000, alpha=0.4)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", type=Path, help="write the Markdown table (with command and conditions) here")
    args = parser.parse_args(argv)
    sets = parse_sets(args.sets)
    started = time.perf_counter()
    rows: list[dict] = []
    for dataset in args.datasets:
        missing = available(dataset, sets)
        if missing:
            print(f"skipping {dataset}: {missing}", flush=True)
            continue
        for seed in args.seeds:
            for head in args.heads:
                row = run_one(dataset, head, seed, sets, args.device)
                rows.append(row)
                print(f"{dataset} {head} seed {seed}: top-1 {row['top1']:.2f} %, severity "
                      f"{row['mistake_severity']:.3f}, hdist@1 {row['hdist@1']:.3f}, {row['seconds']:.0f} s", flush=True)
                write_table(args, argv, rows, started, done=False)  # a run cut short still leaves its table
    summary, table, command, note = write_table(args, argv, rows, started, done=True)
    print(f"\n{table}\n\n{command}\n{note}")
    return summary


def write_table(args, argv, rows: list[dict], started: float, done: bool):
    """(summary, Markdown table, command, conditions); written to --out when given."""
    summary = summarise(rows)
    table = markdown(summary)
    command = "python bench/replicate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    note = conditions(args.device, time.perf_counter() - started) + ("" if done else " (incomplete: still running)")
    if args.out:
        args.out.write_text(f"{table}\n\nCommand: `{command.strip()}`  \nConditions: {note}\n")
    return summary, table, command, note


if __name__ == "__main__":
    main()
