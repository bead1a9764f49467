"""Smoke test of bench/bench_frames.py --quick (no timing assertions)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_frames.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_frames", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_runs(capsys):
    bench = load_bench()
    rows = bench.main(["--quick"])
    out = capsys.readouterr().out
    assert [r["K"] for r in rows] == [100, 300]
    for row in rows:
        assert row["exact"] and row["max_abs_err"] < 1e-6
        assert row["baseline_s"] is not None and row["grid_agrees"] is True
        assert row["ours_s"] > 0 and row["speedup"] > 0
        assert -1.0 <= row["m_star"] < 0
    assert "baseline/ours" in out and "balanced-300" in out


def test_balanced_tree_helper():
    bench = load_bench()
    hier = bench.balanced_tree(37, fanout=3)
    assert hier.num_classes == 37
    depths = hier.depths[hier.leaf_ids]
    assert (depths == depths[0]).all()
