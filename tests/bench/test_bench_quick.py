"""Smoke test of bench/bench_frames.py --quick (no timing assertions)."""
from __future__ import annotations

from bench import bench_frames
from bench.common import balanced_tree, load_case


def test_quick_benchmark_runs(capsys):
    rows = bench_frames.main(["--quick"])
    out = capsys.readouterr().out
    assert [r["K"] for r in rows] == [100, 300]
    for row in rows:
        assert row["exact"] and row["max_abs_err"] < 1e-6
        assert row["baseline_s"] is not None and row["grid_agrees"] is True
        assert row["ours_s"] > 0 and row["speedup"] > 0
        assert -1.0 <= row["m_star"] < 0
    assert "baseline/ours" in out and "balanced-300" in out


def test_balanced_tree_helper():
    hier = balanced_tree(37, fanout=3)
    assert hier.num_classes == 37
    depths = hier.depths[hier.leaf_ids]
    assert (depths == depths[0]).all()


def test_load_case_synthetic():
    name, dist, classes = load_case(100, force_synthetic=True)
    assert name == "balanced-100" and dist.shape == (100, 100) and len(classes) == 100
    assert (dist == dist.T).all() and (dist.diagonal() == 0).all()
