import subprocess
import sys

from pathlib import Path

from core.train import main

ROOT = Path(__file__).resolve().parents[2]


def test_help():
    out = subprocess.run([sys.executable, "-m", "core.train", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--frame" in out.stdout and "--epochs" in out.stdout


def test_trains_headless(tmp_path, capsys):
    code = main(["--epochs", "1", "--train-per-class", "8", "--test-per-class", "4", "--width", "8",
                 "--device", "cpu", "--out", str(tmp_path / "smoke")])
    assert code == 0
    assert "epoch 1/1" in capsys.readouterr().out
    assert (tmp_path / "smoke" / "checkpoint.pt").exists()
    assert (tmp_path / "smoke" / "snapshots" / "epoch_001.npz").exists()


def test_bad_flags_give_one_line(tmp_path, capsys):
    assert main(["--epochs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "optim.epochs" in capsys.readouterr().err


def test_core_imports_no_ui_libraries():
    code = "import sys, core, core.train; print(sorted(m for m in ('streamlit', 'plotly', 'umap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
