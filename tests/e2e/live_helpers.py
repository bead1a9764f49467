"""Helpers for the live-monitoring browser tests: trainings in their own process, state labels, a private server."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streamlit_page import BUSY_JS, wait_idle

from core import RunDir

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # as conftest's
SHOTS = Path("/tmp/e2e_shots")  # failure screenshots, as tests/e2e/conftest.py keeps them
APPEARS_MS = 10_000  # a state written on disk must reach the page by itself (no reload); the 3 s promise is timed
# by bench/bench_live.py, not asserted here: on this 2-core machine under CI load it lands at 2–4 s

TRAIN_CODE = """
import json, os, sys, time
sys.path.insert(0, {repo!r})
from core import Trainer
from core.build import build_config

def held(path):
    deadline = time.monotonic() + 300
    while path and not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)

def pause_after_first_epoch(event):
    if event.kind == "epoch" and event.epoch == 1:
        held(sys.argv[5])  # between epochs: epoch 1 is on disk, the heartbeat keeps beating

trainer = Trainer(build_config(json.loads(sys.argv[1])), root=sys.argv[2], run_name=sys.argv[3],
                  callbacks=[pause_after_first_epoch])
beat = trainer.run_dir.beating()  # alive while held, as a trainer preparing its data is
held(sys.argv[4])  # held: the run directory exists, nothing is evaluated yet
beat.stop()
trainer.fit()
"""


def external_training(runs: Path, name: str, hold: Path | None = None, pause: Path | None = None,
                      **settings) -> subprocess.Popen:
    """A training in its own process, as ``python -m core.train`` would run it (settings for build_config).
    With ``hold``, it creates its run directory and waits (≤ 300 s, heartbeat beating) until that file exists;
    with ``pause``, it waits the same way after epoch 1 is written, so "between epochs" lasts until the test
    has looked (on a fast machine a small run's three epochs are over in seconds)."""
    choices = {"dataset": "synthetic", "epochs": 2, "train_per_class": 20, **settings}
    return subprocess.Popen([sys.executable, "-c", TRAIN_CODE.format(repo=str(REPO)), json.dumps(choices), str(runs),
                             name, str(hold or ""), str(pause or "")], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(predicate, timeout_s: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout_s} s"
        time.sleep(0.1)


def wait_state(run: RunDir, state: str, timeout_s: float = 240.0) -> None:
    wait_for(lambda: run.state() == state, timeout_s, f"{run.name} on disk: {state}")


def main_text(page) -> str:
    """Visible text of the main area plus the values of its inputs (selectboxes show their choice in one)."""
    return page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]') || document.body;
        return m.innerText + ' ' + Array.from(m.querySelectorAll('input')).map(i => i.value).join(' '); }""")


def _shows(page, pattern: str, timeout_ms: int) -> str | None:
    """None once the main area's text matches ``pattern``; else the text it shows after ``timeout_ms``."""
    deadline = time.monotonic() + timeout_ms / 1000
    text = ""
    while time.monotonic() < deadline:
        text = main_text(page)
        if re.search(pattern, text):
            return None
        page.wait_for_timeout(100)
    return text


def expect_label(page, pattern: str, where: str, timeout_ms: int = APPEARS_MS) -> None:
    """The page shows ``pattern`` (regex) within ``timeout_ms``. On a machine so loaded that the page is still
    re-running when that time is up, it gets one more ``timeout_ms`` after that run ends: what is tested is that
    the page picks the change up by itself (no reload), not how fast this machine draws it."""
    text = _shows(page, pattern, timeout_ms)
    if text is not None and page.evaluate(BUSY_JS):
        wait_idle(page, timeout_s=120)
        text = _shows(page, pattern, timeout_ms)
    if text is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"FAILED_{re.sub(r'[^A-Za-z0-9]+', '_', where)}.png"), full_page=True)
    raise AssertionError(f"{where}: /{pattern}/ not shown within {timeout_ms} ms; the page ({page.url}) shows:\n"
                         f"{text[:1500]}")


class PrivateServer:
    """A Streamlit server of our own (the SIGKILL test kills it), on a free port, with a given run store."""

    def __init__(self, runs: Path, log: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url, self.runs_dir, self.log = f"http://127.0.0.1:{port}", runs, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
                 "--server.headless", "true", "--server.address", "127.0.0.1"], cwd=REPO,
                env={**os.environ, "HAFRAME_RUNS_DIR": str(runs), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.healthy, 90, "server health")

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.read().strip() == b"ok"
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its process group): a crash, not a shutdown."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
