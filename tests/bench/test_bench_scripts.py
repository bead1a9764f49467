"""Smoke tests of bench/bench_loss.py, bench_metrics.py, bench_training.py and gpu_check.py in their
--quick modes: rows come back with the expected keys, and "ours" agrees with the baseline wherever
a script checks it. No timing assertions (timings are only checked to be positive numbers)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import bench_loss, bench_metrics, bench_training, gpu_check

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _positive(*values):
    return all(isinstance(v, float) and v > 0 for v in values)


# --------------------------------------------------------------------------- bench_loss
LOSS_KEYS = {"name", "device", "K", "B", "gamma", "ours_s", "baseline_s", "speedup", "loss_ours", "loss_baseline",
             "loss_diff", "grad_max_diff", "agree", "ours_peak_mib", "baseline_peak_mib", "baseline_rss_growth_mib"}


def test_bench_loss_quick(capsys):
    rows = bench_loss.main(["--quick", "--device", "cpu"])
    out = capsys.readouterr().out
    assert [(r["K"], r["B"]) for r in rows] == [(100, 64), (608, 32)]
    for row in rows:
        assert LOSS_KEYS <= set(row)
        assert row["device"] == "cpu" and row["ours_peak_mib"] is None
        assert row["agree"] is True
        assert np.isclose(row["loss_ours"], row["loss_baseline"], rtol=1e-5)
        assert row["grad_max_diff"] < 1e-6
        assert _positive(row["ours_s"], row["baseline_s"], row["speedup"])
    assert "baseline/ours" in out


def test_loss_baseline_matches_reference_fixture(reference):
    result = bench_loss.check_baseline_fixture()
    assert result is not None and result["ok"], result
    assert abs(result["loss"] - 6.8101768) < 1e-5  # the baseline's own value, not the fixture's
    assert result["loss_err"] < 1e-5 and result["grad_err"] < 1e-6


def test_loss_baseline_soft_labels_are_columns_of_s():
    s = torch.rand(7, 7)
    y = torch.tensor([3, 0, 6, 3])
    assert torch.equal(bench_loss.make_batch_soft_labels(s, y, 7, 4), s[:, y].T)


# --------------------------------------------------------------------------- bench_metrics
def test_bench_metrics_quick(capsys):
    rows = bench_metrics.main(["--quick"])
    out = capsys.readouterr().out
    assert len(rows) == 1
    row = rows[0]
    assert {"name", "K", "N", "ks", "lookups", "ours_s", "baseline_s", "speedup", "ours", "baseline",
            "max_abs_diff", "agree"} <= set(row)
    assert (row["K"], row["N"], row["ks"], row["lookups"]) == (100, 1000, [1, 5, 20], 20000)
    assert set(row["ours"]) == set(row["baseline"]) == {"top1", "top5", "top20", "hdist@1", "hdist@5", "hdist@20",
                                                         "mistake_severity"}
    assert row["agree"] is True and row["max_abs_diff"] < 1e-9
    for key, value in row["ours"].items():
        assert value == pytest.approx(row["baseline"][key], abs=1e-9), key
    assert 0 < row["ours"]["top1"] < 100 and row["ours"]["mistake_severity"] >= 1
    assert _positive(row["ours_s"], row["baseline_s"])
    assert "baseline/ours" in out


def test_metrics_baseline_on_a_hand_example():
    dist = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    classes = ["a", "b", "c"]
    logits = torch.tensor([[3.0, 2.0, 1.0],    # y = 0: right; ranks 0, 1
                           [3.0, 1.0, 2.0],    # y = 1: wrong, top-1 distance 1; ranks 0, 2
                           [1.0, 3.0, 2.0]])   # y = 0: wrong, top-1 distance 1; ranks 1, 2
    labels = torch.tensor([0, 1, 0])
    lookup = bench_metrics.distance_dict(dist, classes)
    got = bench_metrics.reference_metrics(logits, labels, lookup, classes, ks=(1, 2), batch_size=2)
    assert got["top1"] == pytest.approx(100 / 3) and got["top2"] == pytest.approx(100 / 3)
    assert got["hdist@1"] == pytest.approx(2 / 3)
    assert got["hdist@2"] == pytest.approx(((0 + 1) + (1 + 2) + (1 + 2)) / 2 / 3)
    assert got["mistake_severity"] == pytest.approx(1.0)
    from core.metrics import hierarchical_metrics

    assert hierarchical_metrics(logits, labels, dist, ks=(1, 2)) == pytest.approx(got)


# --------------------------------------------------------------------------- bench_training
def test_bench_training_quick(capsys):
    checkpoints = ROOT / "checkpoints"
    before = sorted(p.name for p in checkpoints.iterdir()) if checkpoints.exists() else []
    rows = bench_training.main(["--quick"])
    out = capsys.readouterr().out
    assert len(rows) == 1
    row = rows[0]
    assert {"config", "device", "K", "epochs", "train_images", "test_images", "setup_s", "cold_train_s", "train_s",
            "eval_s", "snapshot_s", "checkpoint_s", "train_img_per_s", "eval_img_per_s", "eval_over_train",
            "non_train_share", "state"} <= set(row)
    assert row["state"] == "finished" and row["device"] == "cpu" and row["epochs"] == 2
    assert row["train_images"] == 144 and row["test_images"] == 72
    assert _positive(row["train_s"], row["eval_s"], row["snapshot_s"], row["checkpoint_s"], row["train_img_per_s"])
    assert 0 < row["non_train_share"] < 1
    after = sorted(p.name for p in checkpoints.iterdir()) if checkpoints.exists() else []
    assert after == before  # the run went to a temporary directory
    assert "img/s" in out


# --------------------------------------------------------------------------- gpu_check
CHECKS = ["environment", "trainer", "loss_cuda_cpu", "haframe_cpu", "bench_loss", "bench_training", "resnet50_step",
          "wrn_step"]


def test_gpu_check_quick_allow_cpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OUT", str(tmp_path))
    rows = gpu_check.main(["--allow-cpu", "--quick"])
    out = capsys.readouterr().out
    assert [r["check"] for r in rows] == CHECKS
    for row in rows:
        assert {"check", "ok", "details", "error", "seconds"} <= set(row)
        assert row["ok"] is True and row["error"] is None, row
    assert gpu_check.exit_code(rows) == 0
    details = {r["check"]: r["details"] for r in rows}
    assert details["trainer"]["state"] == "finished" and details["trainer"]["checkpoint_epoch"] == 2
    assert details["loss_cuda_cpu"]["loss_diff"] < 1e-5
    assert all(r["agree"] for r in details["bench_loss"]["rows"])
    step = details["resnet50_step"]  # fast step vs the reference's step, same weights and batch
    assert (step["backbone"], step["K"], step["B"]) == ("resnet50", 100, 4)
    assert step["loss_ours"] == pytest.approx(step["loss_reference"], rel=1e-4)  # float32 on CPU: same numbers
    assert _positive(step["ours_ms"], step["reference_ms"], step["speedup"], step["ours_img_per_s"])
    assert details["wrn_step"]["backbone"] == "wrn28_2" and _positive(details["wrn_step"]["ms_per_step"])
    assert "reference" in out and "target on an H100-class GPU" in out
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["complete"] is True and summary["all_ok"] is True
    assert [c["check"] for c in summary["checks"]] == CHECKS
    if not torch.cuda.is_available():
        assert "no CUDA device" in out and summary["cuda"] is False


def test_gpu_check_without_cuda_fails_unless_allowed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OUT", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rows = gpu_check.main([])
    assert "no CUDA device" in capsys.readouterr().out
    assert gpu_check.exit_code(rows) == 1
    assert json.loads((tmp_path / "gpu_check.json").read_text())["all_ok"] is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the exit status on a machine without CUDA")
def test_gpu_check_script_exit_status_without_cuda():
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    proc = subprocess.run([sys.executable, str(BENCH / "gpu_check.py")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "no CUDA device" in proc.stdout
