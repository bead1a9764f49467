"""torchrun with two gloo processes on the CPU: one run directory, written by rank 0 alone."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes_write_one_run(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HAFRAME_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "core.train",
           "--epochs", "2", "--train-per-class", "16", "--test-per-class", "6", "--image-size", "16", "--width", "8",
           "--batch-size", "16", "--device", "cpu", "--no-progress"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("writing to") == 1 and out.stdout.count("epoch 2/2") == 1  # rank 0 alone reports
    (run,) = [p for p in runs.iterdir() if p.is_dir()]  # one run directory for both processes
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    # metrics and snapshots cover the whole evaluation set, not one rank's shard
    with __import__("numpy").load(run / "snapshots" / "epoch_002.npz") as snap:
        assert len(snap["eval_labels"]) == 12 * 6
    summary = json.loads((run / "test_summary.json").read_text())
    assert summary["images"] == 12 * 6
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    state = torch.load(run / "checkpoint_last.pt", weights_only=True)
    assert state["epoch"] == 2 and not any(k.startswith("module.") for k in state["model"])
    assert not list(run.glob(".*.tmp"))
