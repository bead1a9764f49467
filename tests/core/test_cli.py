import subprocess
import sys

from pathlib import Path

from core.build import build_config
from core.train import main

ROOT = Path(__file__).resolve().parents[2]


def test_help():
    out = subprocess.run([sys.executable, "-m", "core.train", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--head" in out.stdout and "--epochs" in out.stdout
    for listed in ("cifar100", "fgvc", "wrn28_8", "resnet50", "ce_linear", "--resume", "torchrun"):
        assert listed in out.stdout, listed  # registries, recipes and examples


def test_trains_headless(tmp_path, capsys):
    code = main(["--epochs", "1", "--train-per-class", "8", "--test-per-class", "4", "--width", "8",
                 "--device", "cpu", "--out", str(tmp_path / "smoke")])
    assert code == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "top-1 %" in out and "model + CRM" in out
    for name in ("checkpoint_last.pt", "checkpoint_best.pt", "test_summary.json"):
        assert (tmp_path / "smoke" / name).exists(), name
    assert (tmp_path / "smoke" / "snapshots" / "epoch_001.npz").exists()


def test_bad_flags_give_one_line(tmp_path, capsys):
    assert main(["--epochs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "optim.epochs" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nothing"), "--gamma", "3"]) == 2
    assert "only --epochs and --device may be given (got gamma)" in capsys.readouterr().err


def test_a_bad_hierarchy_or_missing_dataset_leaves_no_run_directory(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--hierarchy", str(tmp_path / "missing.json"), "--epochs", "1", "--out", str(runs / "a")]) == 2
    err = capsys.readouterr().err
    assert "missing.json" in err and "was removed" in err
    assert main(["--dataset", "cifar100", "--root", str(tmp_path / "nowhere"), "--epochs", "1",
                 "--out", str(runs / "b")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "--download" in err
    assert not list(runs.iterdir()), "no failed run directory is left behind"


def test_flags_left_out_keep_the_recipe(monkeypatch):
    from core.train import choices_from_args, parse_args

    choices = choices_from_args(parse_args(["--recipe", "fgvc", "--epochs", "3", "--frame", "etf", "--reference-eval"]))
    assert choices == {"recipe": "fgvc", "epochs": 3, "head": "etf", "reference_quirks": True}
    config = build_config(choices_from_args(parse_args(["--snapshot-size", "50", "--snapshot-dtype", "float32"])))
    assert (config.data.snapshot_size, config.data.snapshot_dtype) == (50, "float32")


def test_core_imports_no_ui_libraries():
    code = "import sys, core, core.train; print(sorted(m for m in ('streamlit', 'plotly', 'umap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_paper_recipe_on_a_generated_cifar100(tmp_path, capsys):
    """--recipe cifar100 with a light backbone: the preset's γ/α/lrs, K = 100 so hdist@20 is reported."""
    import json

    from fixtures_data import write_cifar100

    write_cifar100(tmp_path / "data", train_per_class=3, test_per_class=1)
    out = tmp_path / "run"
    code = main(["--recipe", "cifar100", "--root", str(tmp_path / "data"), "--backbone", "small_cnn", "--width", "4",
                 "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "cifar100" and config["data"]["name"] == "cifar100"
    assert config["frame"]["gamma"] == 2.0 and config["optim"]["alpha"] == 0.4 and config["optim"]["lr"] == 0.01
    assert config["model"]["backbone"] == "small_cnn" and config["optim"]["epochs"] == 1  # flags override
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("hdist@20" in row for row in rows)
    assert "hdist@20" in json.loads((out / "test_summary.json").read_text())["rows"]["crm"]
