"""RunDir.state(): status.json plus a heartbeat, so a run whose process is gone is never "running"."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from core import RunConfig, RunDir, Trainer
from core.runs import STALE_AFTER_S


@pytest.fixture
def run(tmp_path):
    return RunDir.create(tmp_path, RunConfig(), name="r")


def write(run: RunDir, name: str, doc: dict) -> None:
    (run.path / name).write_text(json.dumps(doc))


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("state", ["finished", "stopped", "failed"])
def test_ended_states_are_read_as_written(run, state):
    run.write_status(state, epoch=3)
    assert run.state() == state and not run.live()


def test_fresh_heartbeat_of_this_process_is_running(run):
    run.write_status("running", epoch=1)
    run.write_heartbeat()
    assert run.state() == "running" and run.live()


def test_stale_heartbeat_is_interrupted(run):
    run.write_status("running", epoch=1)
    run.write_heartbeat()
    assert run.state(now=time.time() + STALE_AFTER_S + 1) == "interrupted"


def test_heartbeat_of_a_dead_process_is_interrupted_at_once(run):
    run.write_status("running", epoch=1)
    write(run, "heartbeat.json", {"pid": dead_pid(), "host": socket.gethostname(), "started": None,
                                  "time": time.time()})
    assert run.state() == "interrupted"


def test_reused_pid_with_another_start_time_is_interrupted(run):
    """A restarted container's server may get the very same pid: the process start time tells them apart."""
    run.write_status("running", epoch=1)
    write(run, "heartbeat.json", {"pid": os.getpid(), "host": socket.gethostname(), "started": "1",
                                  "time": time.time()})
    assert run.state() == "interrupted"


def test_heartbeat_from_another_host_counts_by_its_age(run):
    run.write_status("running", epoch=1)
    write(run, "heartbeat.json", {"pid": 1, "host": "elsewhere-" + socket.gethostname(), "time": time.time()})
    assert run.state() == "running"
    assert run.state(now=time.time() + STALE_AFTER_S + 1) == "interrupted"


def test_queued_lives_as_long_as_its_server(tmp_path):
    queued = RunDir.create(tmp_path, RunConfig(), name="q", state="queued", owner="ada")
    assert queued.state() == "queued" and queued.status()["owner"] == "ada"
    status = queued.status()
    write(queued, "status.json", {**status, "pid": dead_pid()})
    assert queued.state() == "interrupted"


def test_a_running_run_without_heartbeat_is_judged_by_its_last_update(run):
    """Runs written before heartbeats existed: running only while their status is recent."""
    write(run, "status.json", {"state": "running", "updated": time.time()})
    assert run.state() == "running"
    write(run, "status.json", {"state": "running", "updated": time.time() - STALE_AFTER_S - 5})
    assert run.state() == "interrupted"


@pytest.mark.parametrize("content", ["", "{", "[1, 2]", '"running"'])
def test_damaged_status_is_unknown_not_an_exception(run, content):
    (run.path / "status.json").write_text(content)
    assert run.state() == "unknown"


def test_damaged_heartbeat_is_interrupted(run):
    run.write_status("running", epoch=1)
    (run.path / "heartbeat.json").write_text("{not json")
    assert run.state() == "running"  # unreadable heartbeat: judged by the recent status update
    write(run, "heartbeat.json", {"pid": "x", "host": socket.gethostname(), "time": time.time()})
    assert run.state() == "interrupted"


def test_trainer_beats_while_it_trains_and_ends_finished(tmp_path, tiny_config):
    seen = []
    trainer = Trainer(tiny_config, root=tmp_path, run_name="t",
                      callbacks=[lambda e: seen.append(RunDir(tmp_path / "t").state()) if e.kind == "epoch" else None])
    trainer.fit()
    run = RunDir(tmp_path / "t")
    assert seen and set(seen) == {"running"}
    beat = run.heartbeat()
    assert beat["pid"] == os.getpid() and beat["since"] <= beat["time"]
    assert run.state() == "finished"
