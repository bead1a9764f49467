import subprocess
import sys

from pathlib import Path

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


def test_flags_left_out_keep_the_recipe(monkeypatch):
    from core.train import choices_from_args, parse_args

    choices = choices_from_args(parse_args(["--recipe", "fgvc", "--epochs", "3", "--frame", "etf", "--reference-eval"]))
    assert choices == {"recipe": "fgvc", "epochs": 3, "head": "etf", "reference_quirks": True}


def test_core_imports_no_ui_libraries():
    code = "import sys, core, core.train; print(sorted(m for m in ('streamlit', 'plotly', 'umap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
