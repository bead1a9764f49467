"""The trainings of this server, shared by every browser session (held in ``st.cache_resource``).

Admission: at most ``max_per_device`` trainings run on one device at a time (default 1, or the
environment variable ``HAFRAME_MAX_JOBS_PER_DEVICE``); later Starts wait in a queue, in order, as run
directories whose status is "queued" (so every page and every session sees them). One lock orders
submissions, admissions and removals: two Starts in the same instant get two run directories and
never two trainings on one device.

The training threads never touch Streamlit: the registry is another Trainer listener that only acts on a
run's "end" event (it frees the device for the next queued run); pages read the run files when
:func:`app.live.watch` sees a change.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from core import RunConfig, RunDir, TrainEvent, Trainer
from app.live_priority import launcher
from core.training import resolve_device

MAX_PER_DEVICE_ENV = "HAFRAME_MAX_JOBS_PER_DEVICE"
RECENT_JOBS = 50  # ended jobs remembered for the Jobs page (the run files keep everything)


def max_jobs_per_device() -> int:
    """From ``HAFRAME_MAX_JOBS_PER_DEVICE`` (a positive integer), else 1."""
    raw = os.environ.get(MAX_PER_DEVICE_ENV, "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_PER_DEVICE_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{MAX_PER_DEVICE_ENV} must be a positive integer, got {raw!r}")
    return value


def device_of(config: RunConfig) -> str:
    """The device a run will occupy, as a queue key: "cpu", "cuda:0", …"""
    try:
        device = resolve_device(config.device)
    except RuntimeError:  # e.g. cuda asked for on a machine without it: the trainer reports it; queue as cpu
        return "cpu"
    return f"cuda:{device.index or 0}" if device.type == "cuda" else device.type


@dataclass(frozen=True)
class Job:
    """One training of this server, as the Jobs page lists it."""

    run: str
    owner: str  # free text from the Train form ("" when not given)
    device: str
    submitted: float  # time.time() of the Start press
    started: float | None  # when its thread started (None while queued)
    position: int | None  # 1-based place in its device's queue (None once admitted)
    resumed: bool = False  # continues a stopped or interrupted run


class JobRegistry:
    """Queues, starts, stops and reports on this server's Trainer threads by run name."""

    def __init__(self, root: Path, max_per_device: int | None = None):
        self.root = Path(root)
        self.max_per_device = max_per_device or max_jobs_per_device()
        self._lock = threading.Lock()
        self._queue: list[tuple[Job, Trainer]] = []  # waiting (trainer not started), in submission order
        self._trainers: dict[str, Trainer] = {}  # running
        self._jobs: OrderedDict[str, Job] = OrderedDict()  # queued, running and the last RECENT_JOBS ended
        self.version = 0  # bumped on every change of the queue or of a job's state (pages watch it)

    # ------------------------------------------------------------------ actions
    def submit(self, config: RunConfig, owner: str = "") -> str:
        """Create the run directory as "queued", then start it at once if its device has room.
        Returns the run name."""
        owner = owner.strip()[:80]
        with self._lock:
            run = RunDir.create(self.root, config, state="queued", owner=owner)  # under the lock: unique names
            self._enqueue_locked(Trainer(config, root=self.root, callbacks=[self._record], run_dir=run), owner)
        return run.name

    def resume(self, run: str, owner: str = "") -> str:
        """Queue a stopped or interrupted run to continue from its last checkpoint (ENGINE's
        ``Trainer.resume``). Raises ValueError/OSError with a clear message when it cannot."""
        owner = owner.strip()[:80]
        with self._lock:
            if run in self._jobs and (run in self._trainers or any(j.run == run for j, _ in self._queue)):
                raise ValueError(f"{run} is already queued or training")
            run_dir = RunDir(self.root / run)
            trainer = Trainer.resume(run_dir, callbacks=[self._record])
            run_dir.write_status("queued", owner=owner, resumed=True)
            self._enqueue_locked(trainer, owner, resumed=True)
        return run

    def start(self, config: RunConfig, owner: str = "") -> str:
        """Alias of :meth:`submit` (the name callers used before the queue existed)."""
        return self.submit(config, owner)

    def stop(self, run: str) -> bool:
        """Stop a running job after its current batch, or remove a queued one. False if it is neither."""
        with self._lock:
            trainer = self._trainers.get(run)
            if trainer is None:
                return self._remove_locked(run)
        trainer.stop()
        return True

    def remove(self, run: str) -> bool:
        """Take a queued run out of the queue and delete its (still empty) run directory."""
        with self._lock:
            return self._remove_locked(run)

    # ------------------------------------------------------------------ queries
    def is_running(self, run: str) -> bool:
        with self._lock:
            trainer = self._trainers.get(run)
        return trainer is not None and trainer.running

    def is_queued(self, run: str) -> bool:
        with self._lock:
            return any(job.run == run for job, _ in self._queue)

    def owns(self, run: str) -> bool:
        """True for a queued or running job of this server (one it can stop or remove)."""
        with self._lock:
            return run in self._trainers or any(job.run == run for job, _ in self._queue)

    def jobs(self) -> list[Job]:
        """Every job of this server: queued ones with their queue position, then the others, newest first."""
        with self._lock:
            positions: dict[str, int] = {}
            for job, _ in self._queue:
                positions[job.run] = sum(1 for j, _ in self._queue if j.device == job.device
                                         and j.submitted <= job.submitted and j.run != job.run) + 1
            listed = [replace(job, position=positions.get(job.run)) for job in self._jobs.values()]
        return sorted(listed, key=lambda j: (j.position is None, j.position or 0, -j.submitted))

    def running_on(self, device: str) -> int:
        with self._lock:
            return self._running_on_locked(device)

    # ------------------------------------------------------------------ internals
    def _running_on_locked(self, device: str) -> int:
        return sum(1 for name in self._trainers if self._jobs[name].device == device)

    def _enqueue_locked(self, trainer: Trainer, owner: str, resumed: bool = False) -> None:
        job = Job(trainer.run_dir.name, owner, device_of(trainer.config), time.time(), None, None, resumed)
        self._queue.append((job, trainer))
        self._jobs[job.run] = job
        self._jobs.move_to_end(job.run)
        self._changed_locked()
        self._admit_locked()

    def _admit_locked(self) -> None:
        """Start queued jobs, in order, while their device has room."""
        for job, trainer in list(self._queue):
            if self._running_on_locked(job.device) >= self.max_per_device:
                continue
            self._queue.remove((job, trainer))
            self._trainers[job.run] = trainer
            self._jobs[job.run] = replace(job, started=time.time())
            # Started from the launcher thread: the training thread (and the threads its torch operations start)
            # then keeps the server's CPU priority even when a page run, which runs at a lower one, pressed Start.
            launcher().call(trainer.start)
            self._changed_locked()

    def _remove_locked(self, run: str) -> bool:
        for job, trainer in self._queue:
            if job.run == run:
                self._queue.remove((job, trainer))
                self._jobs.pop(run, None)
                if not job.resumed:  # a new run: only config.json and status.json yet
                    shutil.rmtree(self.root / run, ignore_errors=True)
                else:  # a resumed run keeps everything it trained; it is stopped again
                    trainer.run_dir.write_status("stopped", epochs=trainer.config.optim.epochs)
                self._changed_locked()
                return True
        return False

    def _changed_locked(self) -> None:
        self.version += 1

    def _record(self, event: TrainEvent) -> None:
        if event.kind != "end":  # every batch calls this: return before taking the lock
            return
        with self._lock:
            if event.run not in self._jobs:
                return
            self._trainers.pop(event.run, None)  # let the finished trainer (data, model, optimiser) be freed
            self._changed_locked()
            ended = [name for name in self._jobs if name not in self._trainers
                     and all(job.run != name for job, _ in self._queue)]
            for name in ended[:-RECENT_JOBS] if len(ended) > RECENT_JOBS else ():
                self._jobs.pop(name)
            self._admit_locked()
