"""bench/bench_frames_browser.py --quick drives the real server in headless Chromium (K = 300) so the script cannot
rot: rows come back with every measurement, and the γ steps changed the picture. No timing assertions."""
from __future__ import annotations

import shutil

import pytest

from bench import bench_frames_browser

pytestmark = pytest.mark.timeout(600)


def test_quick_run_measures_every_change(tmp_path, capsys):
    if shutil.which("chromium") is None:
        pytest.fail("the browser benchmark needs the system Chromium on PATH")
    summary = bench_frames_browser.main(["--quick", "--shots", str(tmp_path)])
    out = capsys.readouterr().out
    assert summary["K"] == 300 and [r["change"] for r in summary["rows"]] == ["γ → 2.5", "γ → 3", "mapping → linear"]
    for row in summary["rows"]:
        assert row["image_s"] > 0 and row["page_s"] >= row["image_s"] and row["server_cpu_s"] >= 0
        assert row["kib"] > 0, "the change reached the page over its websocket"
    assert "goal" in out and "load average" in out
    assert (tmp_path / "frames_K300.png").stat().st_size > 10_000
