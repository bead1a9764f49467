import numpy as np
import torch

from core import RunConfig, RunDir, list_runs


def test_run_dir_round_trips(tmp_path):
    config = RunConfig()
    run = RunDir.create(tmp_path, config, "a")
    assert run.config() == config and run.status()["state"] == "created"
    run.append_metrics({"epoch": 0, "top1": 10.0})
    run.append_metrics({"epoch": 1, "top1": 20.0})
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "to')  # a writer caught mid-line
    assert [r["epoch"] for r in run.metrics()] == [0, 1]
    run.save_snapshot(3, features=np.ones((4, 2), np.float32), labels=np.arange(4))
    run.save_snapshot(1, features=np.zeros((4, 2), np.float32), labels=np.arange(4))
    assert run.snapshot_epochs() == [1, 3]
    assert run.snapshot(3)["features"].sum() == 8
    run.save_checkpoint({"epoch": 1, "model": {"w": torch.ones(2)}})
    assert run.load_checkpoint()["model"]["w"].sum() == 2
    assert not list(run.path.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_create_never_reuses_a_populated_directory(tmp_path):
    first = RunDir.create(tmp_path, RunConfig(), "same")
    second = RunDir.create(tmp_path, RunConfig(), "same")
    assert first.path != second.path
    assert {r.path for r in list_runs(tmp_path)} == {first.path, second.path}


def test_list_runs_ignores_other_folders(tmp_path):
    (tmp_path / ".uploads").mkdir()
    (tmp_path / "junk").mkdir()
    assert list_runs(tmp_path) == []
    assert list_runs(tmp_path / "missing") == []
