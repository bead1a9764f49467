"""Benchmark: the input pipelines — uint8 images held on the device, augmented there in batches,
against a DataLoader with torchvision transforms — over the same data in the same process.

    python bench/bench_data.py                  # CIFAR-shaped (3×32×32, pad-crop-flip): 10,000 images
    python bench/bench_data.py --images 2000    # fewer images (quick)
    python bench/bench_data.py --device cuda    # on the GPU (default: cuda when available, else cpu)

One timed pass = every training batch of 128 drawn, augmented (reflect-pad 4, random crop, flip) and
normalised on the device, synchronised at the end; best of --repeats. "device" = core.data's
DevicePipeline; "loader" = its LoaderPipeline (DataLoader, --workers workers, per-image torchvision
v2 transforms, pinned memory on CUDA) over the very same images. The loader's timing depends on the
free cores; the ratio is what to read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import Column, add_threads_option, best_of, render_table  # noqa: E402
from core.config import DataConfig  # noqa: E402
from core.data import load_dataset  # noqa: E402


def one_pass(data, device: torch.device, batch_size: int) -> int:
    count = 0
    gen = torch.Generator().manual_seed(0)
    for _images, labels in data.batches("train", batch_size, device, gen, train=True, drop_last=True):
        count += len(labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="training images (CIFAR-shaped, synthetic)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=-1, help="DataLoader workers (-1 = automatic)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    per_class = max(1, args.images // 100)
    base = dict(hierarchy="cifar100", train_per_class=per_class, test_per_class=1, image_size=32,
                augment="pad_crop_flip", workers=args.workers)
    rows = []
    for mode in ("loader", "device"):
        data = load_dataset(DataConfig(**base, pipeline=mode))
        one_pass(data, device, args.batch_size)  # warm-up: device copy, worker start-up paths
        seconds, count = best_of(lambda data=data: one_pass(data, device, args.batch_size), args.repeats)
        rows.append({"pipeline": mode, "images": count, "seconds": seconds, "rate": count / seconds,
                     "describe": data.describe_pipeline(device)})
    baseline = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = baseline / row["seconds"]
    print(render_table([Column("pipeline", "<8", "pipeline"), Column("images", ">7", "images"),
                        Column("seconds", ">8", "seconds", ".3f"), Column("images/s", ">10", "rate", ",.0f"),
                        Column("× loader", ">9", "speedup", ".1f")], rows))
    for row in rows:
        print(f"{row['pipeline']}: {row['describe']}")


if __name__ == "__main__":
    main()
