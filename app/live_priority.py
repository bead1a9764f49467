"""Which server threads may use the cores when the training wants them: the training first.

The training of an app run is a thread of the server process, beside the Streamlit script threads that
draw pages. On a machine with few cores a page run (figures, snapshot reads, PCA) competes with the
training for the same cores, so the script threads run at a lower CPU priority (a higher nice value):
they get the cores the training leaves idle (data loading, evaluation, GIL waits) and everything when
nothing trains. Linux keeps a nice value per thread (``setpriority(PRIO_PROCESS, tid)``), and a new thread
inherits its creator's: the trainings are therefore started by :class:`Launcher`, a thread created before
any page lowered its priority, so they keep the server's own priority.

Threads are also named (``comm`` in /proc: "page", "train"), so bench/bench_live.py can tell where the
server's CPU time goes. Linux only; elsewhere every function here does nothing.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

# How much lower than the server's the priority of page runs is (nice steps; 0: the same). E.g. 10 steps: a CFS
# weight 1024 / 110 times smaller, a page run gets about a tenth of a core the training keeps busy. Off by default:
# on a machine loaded by other processes (nice 0), niced page runs were starved and pages lagged > 10 s behind
# their runs (the browser tests of live states failed); an idle dedicated server may set HAFRAME_PAGE_NICE=10.
PAGE_NICE = int(os.environ.get("HAFRAME_PAGE_NICE", "0"))

_lowered = threading.local()


def name_thread(name: str) -> None:
    """Give the calling thread the OS-level name ``name`` (15 bytes at most; shown by top -H and /proc)."""
    try:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])
    except OSError:  # not Linux, or /proc not mounted
        pass


def lower_priority(steps: int = PAGE_NICE) -> None:
    """Lower the calling thread's priority by ``steps`` nice steps, once per thread (later calls do nothing)."""
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    launcher()  # created now, if not yet, by a thread still at the server's priority
    if steps <= 0:
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except (AttributeError, OSError):  # no per-thread priorities here (not Linux), or not allowed
        pass


def page_thread() -> None:
    """Call at the start of every page run and fragment run: a page waits for the training, not the reverse."""
    name_thread("page")
    lower_priority()


class Launcher:
    """One daemon thread, named "train", that calls the functions it is given (e.g. ``Trainer.start``): the
    threads they create inherit its name and its priority (the server's), whichever thread asked."""

    def __init__(self):
        self._calls: queue.SimpleQueue[tuple[Callable[[], object], Future]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="train-launcher", daemon=True).start()

    def call(self, function: Callable[[], object]) -> object:
        """``function()`` run on the launcher thread; waits for it and returns its result (or raises its error)."""
        if threading.current_thread().name == "train-launcher":
            return function()
        done: Future = Future()
        self._calls.put((function, done))
        return done.result()

    def _serve(self) -> None:
        name_thread("train")
        while True:
            function, done = self._calls.get()
            try:
                done.set_result(function())
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                done.set_exception(err)


_launcher: Launcher | None = None
_launcher_lock = threading.Lock()


def launcher() -> Launcher:
    """The server's one :class:`Launcher` (created on first use)."""
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            _launcher = Launcher()
        return _launcher
