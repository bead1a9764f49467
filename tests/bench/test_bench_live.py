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
    assert [(r["page"], r["viewer"]) for r in cost] == [  # per page and viewer, one training: none, page, none
        step for page in bench_live.PAGES for viewer in bench_live.VIEWERS
        for step in (("none", ""), (page, viewer), ("none", ""))]
    assert len({r["run"] for r in cost}) == len(bench_live.PAGES) * len(bench_live.VIEWERS)
    assert all(r["state"] == "stopped" for r in cost), "each training stopped after its last block"
    assert all(r["page_runs"] >= 1 for r in cost if r["viewer"] == "headless"), "the server drew for the headless viewer"
    assert all(r["ratio"] > 0 for r in cost if r["page"] != "none"), "each page against the blocks beside it"
    assert all(r["epochs"] == 2 and r["epoch_s"] > 0 for r in cost), cost
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
