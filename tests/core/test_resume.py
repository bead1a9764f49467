"""Kill a real CLI training with SIGKILL mid-run, resume it, and compare with an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from core import schema

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--epochs", "3", "--train-per-class", "24", "--test-per-class", "8", "--image-size", "16", "--width", "8",
         "--batch-size", "16", "--device", "cpu", "--deterministic", "--no-progress"]


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "core.train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def epochs_written(run: Path) -> list[int]:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line)["epoch"] for line in lines if line.endswith("}")]


def checkpoint_epoch(run: Path) -> int:
    try:  # written atomically (tmp file + rename): a reader never sees half a file
        return torch.load(run / "checkpoint_last.pt", weights_only=True)["epoch"]
    except (OSError, RuntimeError):
        return -1


def stable(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in schema.TIMING_KEYS} for row in rows]


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    straight = cli(*FLAGS, "--out", str(whole))
    victim = cli(*FLAGS, "--out", str(cut))
    deadline = time.monotonic() + 600
    while checkpoint_epoch(cut) < 1 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)  # epoch 1 is checkpointed: the kill lands in epoch 2
    assert victim.wait(timeout=60) == -signal.SIGKILL, victim.stdout.read()
    assert 3 not in epochs_written(cut)
    assert json.loads((cut / "status.json").read_text())["state"] == "running"  # what a crash leaves

    resumed = cli("--resume", str(cut), "--no-progress")
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert "epoch 3/3" in out and "epoch 1/3" not in out
    assert straight.wait(timeout=600) == 0, straight.stdout.read()

    assert epochs_written(cut) == [0, 1, 2, 3]  # no duplicate, no missing epoch
    assert stable(cut) == stable(whole)  # bit-equal: the deterministic switch is on
    a = torch.load(cut / "checkpoint_last.pt", weights_only=True)["model"]
    b = torch.load(whole / "checkpoint_last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((cut / "test_summary.json").read_text())
    assert summary == json.loads((whole / "test_summary.json").read_text())
    assert json.loads((cut / "status.json").read_text())["state"] == "finished"
