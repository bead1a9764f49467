"""Smoke test of bench/bench_live.py --quick: every part runs against the real server in Chromium (no timing
assertions; only that each training ended as expected and each measurement came back)."""
from __future__ import annotations

import math

import pytest

from bench import bench_live

pytestmark = pytest.mark.timeout(1500)


def test_quick_live_benchmark_runs(capsys):
    rows = bench_live.main(["--quick"])
    out = capsys.readouterr().out
    cost = [r for r in rows if r["part"] == "cost"]
    assert [r["page"] for r in cost] == ["none", *(p for page in bench_live.PAGES for p in (page, "none"))]
    assert all(r["ratio"] > 0 for r in cost if r["page"] != "none"), "each page against the baselines beside it"
    assert all(r["state"] == "finished" and r["epochs"] >= 1 and r["epoch_s"] > 0 for r in cost), cost
    latency = [r for r in rows if r["part"].startswith("latency")]
    assert {(r["page"], r["part"]) for r in latency} == {("collapse", "latency PCA"), ("collapse", "latency UMAP"),
                                                         ("train", "latency text")}
    first = latency[0]["run"]  # the Collapse run with --points points (2 epochs); a run of 24 short ones follows
    pca = [r for r in latency if r["run"] == first]
    short = [r for r in latency if r["page"] == "train"]
    assert len(short) == 25 and all(not math.isnan(r["latency_s"]) for r in short), "Train showed every epoch"
    assert [r["epoch"] for r in pca] == [0, 1, 2]
    assert all(not math.isnan(r["latency_s"]) for r in pca), "the Collapse page showed every epoch"
    memory = [r for r in rows if r["part"] == "memory"]
    assert memory and memory[0]["process"] == "server" and memory[0]["state"] == "finished"
    assert memory[0]["rss_end_mib"] > 0
    assert "ratio" in out and "latency" in out and "MiB" in out
