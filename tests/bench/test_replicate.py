"""bench/replicate.py and bench/bench_fmnist.py on tiny synthetic runs: real Trainer runs / a real
CLI subprocess, the interval of core.seeds (shared with the Compare page), the Markdown table. No timing assertions."""
from __future__ import annotations

import math

import pytest

from bench import bench_fmnist, replicate
from core import seeds

TINY = ["--set", "train_per_class=6", "--set", "test_per_class=3", "--set", "image_size=16", "--set", "epochs=1",
        "--set", "width=4", "--set", "batch_size=16", "--set", "snapshot_size=10", "--set", "device=cpu"]


def test_interval_is_the_compare_pages():
    rows = [{"dataset": "d", "head": "h", "seconds": 1.0, "backbone": "b", "epochs": 1, "top1": v,
             "mistake_severity": None} for v in (1.0, 2.0, 3.0)]
    entry = replicate.summarise(rows)[0]
    # t(0.975, 2) = 4.302653, sample std (ddof = 1) = 1
    assert entry["top1"] == pytest.approx((2.0, 4.302653 / math.sqrt(3)), rel=1e-5)
    assert entry["top1"] == pytest.approx(seeds.mean_ci([1.0, 2.0, 3.0])[:2])
    assert entry["mistake_severity"] is None
    assert math.isnan(replicate.summarise(rows[:1])[0]["top1"][1])


def test_replicate_three_heads_two_seeds(tmp_path, capsys):
    out = tmp_path / "table.md"
    summary = replicate.main(["--datasets", "synthetic", "--seeds", "0", "1", *TINY, "--out", str(out)])
    assert [(e["dataset"], e["head"], e["n"]) for e in summary] == [
        ("synthetic", "haframe", 2), ("synthetic", "ce_linear", 2), ("synthetic", "learnable", 2)]
    for e in summary:
        mean, half = e["top1"]
        assert 0 <= mean <= 100 and half >= 0
        assert e["mistake_severity"] is None or e["mistake_severity"][0] >= 1
        assert e["hdist@20"] is None  # K = 12 < 20 on the synthetic tree
    text = out.read_text()
    assert text.startswith("| dataset | head | backbone |") and "| synthetic | ce_linear | small_cnn | 1 | 2 |" in text
    assert "Command: `python bench/replicate.py --datasets synthetic" in text and "CPUs" in text
    assert "synthetic haframe seed 1" in capsys.readouterr().out


def test_replicate_rejects_bad_set():
    with pytest.raises(SystemExit, match="key=value"):
        replicate.main(["--datasets", "synthetic", "--set", "epochs"])


def test_bench_fmnist_runs_the_cli(capsys):
    # The CLI's own dataset flag comes last and wins, so the test needs no Fashion-MNIST files.
    result = bench_fmnist.main(["--", "--dataset", "synthetic", "--epochs", "1", "--train-per-class", "6",
                                "--test-per-class", "3", "--image-size", "16", "--width", "4", "--batch-size", "16"])
    out = capsys.readouterr().out
    assert result["epochs"] == 1 and 0 <= result["top1"] <= 100 and result["wall_s"] > 0 and result["cpu_s"] > 0
    assert "python -m core.train --dataset fashion_mnist --device cpu --no-progress --dataset synthetic" in out
    assert "target ≥ 88 %" in out and "process start included" in out
