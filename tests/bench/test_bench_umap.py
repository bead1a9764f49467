"""Smoke test of bench/bench_umap.py --quick (no timing assertions): both layouts come back, for the first and the
next epoch, equally faithful to the features."""
from __future__ import annotations

from bench import bench_umap


def test_quick_umap_benchmark_runs(capsys):
    result = bench_umap.main(["--quick"])
    out = capsys.readouterr().out
    rows = result["layouts"]
    assert [(r["points"], r["job"]) for r in rows] == [(300, "first"), (300, "next")]
    for row in rows:
        assert row["baseline_s"] > 0 and row["ours_s"] > 0 and row["speedup"] > 0
        assert row["ours_trust"] > 0.9 and abs(row["ours_trust"] - row["baseline_trust"]) < 0.02, row
    assert result["compile"] is None, "--quick leaves the compile part out"
    assert "baseline/ours" in out

