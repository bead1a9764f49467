"""The admission queue of app/jobs.py: one training per device by default, the rest queued on disk in order."""
import dataclasses
import threading
import time

import pytest

from app.jobs import JobRegistry, max_jobs_per_device
from core import RunDir


def wait_until(predicate, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def slow(config, epochs=50):
    """A config that trains long enough to be stopped (per_class small, many epochs)."""
    return config.replace(optim=dataclasses.replace(config.optim, epochs=epochs))


def test_two_starts_in_the_same_instant_queue_the_second(tmp_path, tiny_config):
    jobs = JobRegistry(tmp_path, max_per_device=1)
    config = slow(tiny_config)
    barrier = threading.Barrier(2)
    names = []

    def press():
        barrier.wait()
        names.append(jobs.submit(config, owner="someone"))

    presses = [threading.Thread(target=press) for _ in range(2)]
    for t in presses:
        t.start()
    for t in presses:
        t.join()
    try:
        assert len(set(names)) == 2, "two presses got two run directories"
        running = [n for n in names if jobs.is_running(n)]
        queued = [n for n in names if jobs.is_queued(n)]
        assert len(running) == 1 and len(queued) == 1, (running, queued)
        assert jobs.running_on("cpu") == 1
        waiting = RunDir(tmp_path / queued[0])
        assert waiting.state() == "queued" and waiting.status()["owner"] == "someone"
        listed = {j.run: j for j in jobs.jobs()}
        assert listed[queued[0]].position == 1 and listed[running[0]].position is None
        # The first one stops; the queued one is admitted.
        jobs.stop(running[0])
        wait_until(lambda: jobs.is_running(queued[0]))
        wait_until(lambda: RunDir(tmp_path / running[0]).state() == "stopped")
    finally:
        for n in names:
            jobs.stop(n)
        wait_until(lambda: not any(jobs.is_running(n) for n in names))


def test_queue_order_and_removal(tmp_path, tiny_config):
    jobs = JobRegistry(tmp_path, max_per_device=1)
    config = slow(tiny_config)
    first, second, third = (jobs.submit(config, owner=f"user{i}") for i in range(3))
    try:
        assert [j.run for j in jobs.jobs()][:2] == [second, third]  # queued first, in order
        assert [j.position for j in jobs.jobs()][:2] == [1, 2]
        assert jobs.remove(second)
        assert not (tmp_path / second).exists(), "a removed queued run leaves nothing on disk"
        assert [j.position for j in jobs.jobs() if j.run == third] == [1]
        assert not jobs.remove(first), "a running job is stopped, not removed"
        jobs.stop(first)
        wait_until(lambda: jobs.is_running(third))
        assert RunDir(tmp_path / first).state() == "stopped"
    finally:
        for n in (first, third):
            jobs.stop(n)
        wait_until(lambda: not jobs.is_running(third) and not jobs.is_running(first))


def test_more_jobs_per_device_when_configured(tmp_path, tiny_config, monkeypatch):
    monkeypatch.setenv("HAFRAME_MAX_JOBS_PER_DEVICE", "2")
    jobs = JobRegistry(tmp_path)
    assert jobs.max_per_device == 2
    names = [jobs.submit(slow(tiny_config)) for _ in range(2)]
    try:
        assert all(jobs.is_running(n) or RunDir(tmp_path / n).state() != "queued" for n in names)
        assert not any(jobs.is_queued(n) for n in names)
    finally:
        for n in names:
            jobs.stop(n)
        wait_until(lambda: not any(jobs.is_running(n) for n in names))


@pytest.mark.parametrize("raw", ["0", "-1", "two"])
def test_bad_max_jobs_setting_is_named(monkeypatch, raw):
    monkeypatch.setenv("HAFRAME_MAX_JOBS_PER_DEVICE", raw)
    with pytest.raises(ValueError, match="HAFRAME_MAX_JOBS_PER_DEVICE"):
        max_jobs_per_device()


def test_a_finished_job_frees_the_device_for_the_next(tmp_path, tiny_config):
    jobs = JobRegistry(tmp_path, max_per_device=1)
    first, second = jobs.submit(tiny_config), jobs.submit(tiny_config)
    wait_until(lambda: RunDir(tmp_path / second).state() == "finished")
    assert RunDir(tmp_path / first).state() == "finished"
    wait_until(lambda: jobs.running_on("cpu") == 0)  # status.json is written just before the "end" event
    assert not jobs.owns(second) and [j.run for j in jobs.jobs()] == [second, first]  # ended, still listed
