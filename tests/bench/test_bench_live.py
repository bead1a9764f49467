"""Smoke test of bench/bench_live.py --quick: every part runs against the real server in Chromium (no timing
assertions; only that each training ended as expected and each measurement came back)."""
from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path

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


@pytest.fixture
def session_groups():
    """Tests of the benchmark's priorities need a kernel that groups sessions for the CPU (autogroup)."""
    if not Path("/proc/self/autogroup").exists():
        pytest.skip("this kernel does not group sessions (no /proc/self/autogroup)")
    time.sleep(0.11)  # without privileges the kernel takes one change of a group's nice value per 0.1 s


def test_browser_nice_lowers_the_browsers_session_group(session_groups, tmp_path, monkeypatch):
    """Playwright starts the browser in a session of its own: where the kernel groups sessions for the CPU
    (autogroup), a plain ``nice`` ranks the browser only inside its own group, so ``--browser-nice`` changes
    nothing. The wrapper must lower the group too, for the processes it starts in a new session."""
    fake = tmp_path / "fake-chromium"  # stands in for Chromium: reports its group and its own nice value
    fake.write_text('#!/bin/sh\ncat /proc/self/autogroup\nnice\n')
    fake.chmod(0o755)
    monkeypatch.setattr(bench_live.shutil, "which", lambda name: str(fake))
    wrapper = bench_live._chromium(tmp_path, 7)
    out = subprocess.run([wrapper, "--headless"], capture_output=True, text=True, start_new_session=True,
                         check=True).stdout.split("\n")
    lowered = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    assert out[0].endswith(f" nice {lowered}"), f"the browser's session group is lowered: {out[0]}"
    assert int(out[1]) == lowered, "and its processes inside the group"
    if os.getpriority(os.PRIO_PROCESS, 0) == 0:
        assert bench_live._chromium(tmp_path, 0) == str(fake), "no wrapper unless asked"


def test_a_niced_benchmark_gives_the_servers_session_group_its_nice_value(session_groups):
    steps = 19 - os.getpriority(os.PRIO_PROCESS, 0)  # as far as an unprivileged process may go
    out = subprocess.run(["cat", "/proc/self/autogroup"], capture_output=True, text=True, start_new_session=True,
                         preexec_fn=lambda: (os.nice(steps), bench_live._group_nice()), check=True).stdout
    assert out.strip().endswith(" nice 19"), out
