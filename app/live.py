"""Following runs live without costing the training anything.

:func:`watch` is the one way a page follows runs: it draws nothing heavy; while a run is queued or
training (or the caller waits for something, e.g. a UMAP layout) a tiny fragment compares a
fingerprint made of file stats (status, heartbeat-derived state, metrics, snapshots) every
second and reruns the page only when it changed. A run that ended or whose process is gone is not
polled at all. Pages read run files through the cached readers below, so a file is parsed once per
change however many sessions look at it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.live_nudge import Nudger
from core.runs import LIVE_STATES, RunDir

POLL_S = 1.0  # how often a live page compares file stats; a change shows within this plus one page run

STATE_LABELS = {  # state → (badge colour, icon, text)
    "queued": ("orange", ":material/schedule:", "queued"),
    "running": ("blue", ":material/progress_activity:", "running"),
    "stopped": ("gray", ":material/stop_circle:", "stopped"),
    "finished": ("green", ":material/check_circle:", "finished"),
    "failed": ("red", ":material/error:", "failed"),
    "interrupted": ("violet", ":material/link_off:", "interrupted"),
    "unknown": ("gray", ":material/help:", "unknown"),
}


def state_badge(state: str) -> str:
    """Markdown for a coloured badge naming ``state`` (use in st.markdown / captions / labels)."""
    colour, icon, text = STATE_LABELS.get(state, STATE_LABELS["unknown"])
    return f":{colour}-badge[{icon} {text}]"


# --------------------------------------------------------------------------------------------- fingerprint
def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


PAGE_RUN_STARTED = "_page_run_started_ns"  # set by app/main.py at the start of every full page run
CLOCK_SLACK_NS = 50_000_000  # file times come from the kernel's coarse clock: compare with some slack
TRACKED = ("status.json", "metrics.jsonl", "hierarchy.json", "snapshots", "checkpoint_last.pt")


def mark_page_run() -> None:
    """Call at the start of every full page run (app/main.py does): run files written after this moment may
    not have been read by the page."""
    st.session_state[PAGE_RUN_STARTED] = time.time_ns()
    ctx = get_script_run_ctx()
    if ctx is not None:  # a page that does not watch (another page now) must not be rerun for the last one's runs
        nudger().forget(ctx.session_id)


def _newest_write(run: RunDir) -> int:
    stats = [_stat(run.path / name) for name in TRACKED]
    return max((stat[1] for stat in stats if stat is not None), default=0)


def fingerprint(run: RunDir) -> tuple:
    """What changes when a run writes something a page shows: its state and the stats of its files.
    A handful of stat calls and two tiny JSON reads (status, heartbeat): cheap enough every second."""
    return (run.state(), *(_stat(run.path / name) for name in TRACKED))


def watch(*runs: RunDir, pending: Callable[[], bool] | bool = False, extra: Callable[[], Hashable] | None = None,
          every: float = POLL_S) -> bool:
    """Rerun the page when any of ``runs`` changes on disk (or ``extra()`` changes), polling only while
    one of them is queued or running, or while ``pending`` (e.g. a UMAP layout being computed) holds.

    Call it once per page run, after the runs are chosen. It draws nothing: between changes the browser redraws
    nothing (measured: a progress bar and times redrawn every second cost the training more than the rest of the
    Train page). One fragment per page (two polling side by side can leave the browser with a blank page). A
    server thread (app/live_nudge.py) reruns the page if this poll misses a change. Returns True while polling.
    """
    def current() -> tuple:
        return tuple(fingerprint(run) for run in runs) + ((extra(),) if extra is not None else ())

    seen = current()
    waiting = pending() if callable(pending) else pending
    polling = waiting or any(state in LIVE_STATES for state, *_ in seen[:len(runs)])
    started = st.session_state.get(PAGE_RUN_STARTED, 0) - CLOCK_SLACK_NS
    missed = any(_newest_write(run) > started for run in runs)  # a write this page run may not have read
    ctx = get_script_run_ctx()
    if ctx is not None:  # the server-side backstop watches what this page run drew (None: unknown)
        (nudger().watch(ctx.session_id, current, None if missed else seen) if polling
         else nudger().forget(ctx.session_id))
    if not polling:
        if missed:
            # The run ended while this page run was drawing it (the top of the page may still say "running"):
            # draw it once more; that run starts after the last write, so this happens at most once.
            st.rerun()
        return False

    @st.fragment(run_every=every)
    def poll() -> None:
        # A write after the page run began may have come after the page read that file (pages call watch()
        # late, so ``seen`` alone could already include it): either way, run the page again.
        if current() != seen or any(_newest_write(run) > started for run in runs):
            st.rerun()  # the whole page: it reads the new files (each parsed once, see the readers below)

    poll()
    return True


@st.cache_resource
def nudger() -> Nudger:
    """The server's one backstop thread (see app/live_nudge.py)."""
    return Nudger()


# --------------------------------------------------------------------------------------------- cached readers
def stamp(path: Path) -> tuple[int, int] | None:
    """Cache key part that changes whenever the file does."""
    return _stat(path)


@st.cache_resource(max_entries=32, show_spinner=False)
def _metrics(path: str, key) -> list[dict]:
    return RunDir(Path(path)).metrics()


def metrics(run: RunDir) -> list[dict]:
    """metrics.jsonl rows, parsed once per change of the file (shared by every session; do not mutate)."""
    return _metrics(str(run.path), stamp(run.path / "metrics.jsonl"))


# --------------------------------------------------------------------------------------------- progress
@dataclass(frozen=True)
class Progress:
    """Where a run stands, for the Train and Jobs pages. Times in seconds (None when not known yet)."""

    state: str
    epoch: int  # epochs completed (evaluated)
    epochs: int  # epochs asked for
    fraction: float  # 0..1: epochs evaluated / epochs asked for
    elapsed_s: float | None
    per_epoch_s: float | None
    remaining_s: float | None


def progress(run: RunDir) -> Progress:
    """From the run's files: epochs done, fraction, elapsed, mean time per epoch and time remaining."""
    state = run.state()
    status = run.status()
    rows = metrics(run)
    epochs = int(status.get("epochs") or _config_epochs(run) or 0)
    done = max((int(r.get("epoch", 0)) for r in rows), default=0)
    # Wall time per epoch (training + evaluation + snapshot); runs written before it existed have the training alone.
    timed = [float(r.get("wall_seconds") or r["seconds"]) for r in rows
             if int(r.get("epoch", 0)) > 0 and (r.get("wall_seconds") or r.get("seconds"))]
    per_epoch = sum(timed) / len(timed) if timed else None
    fraction = done / epochs if epochs else 0.0
    beat = run.heartbeat() or {}
    since = beat.get("since")
    if state == "running" and since:
        elapsed = time.time() - float(since)
    elif since and beat.get("time"):
        elapsed = float(beat["time"]) - float(since)
    else:
        elapsed = sum(timed) if timed else None
    remaining = per_epoch * max(epochs * (1 - fraction), 0.0) if per_epoch is not None and state == "running" \
        else None
    return Progress(state, done, epochs, min(max(fraction, 0.0), 1.0), elapsed, per_epoch, remaining)


def _config_epochs(run: RunDir) -> int | None:
    try:
        return run.config().optim.epochs
    except (OSError, ValueError):
        return None


def duration(seconds: float | None) -> str:
    """'—', '0.4 s', '42 s', '3 min 05 s' or '1 h 02 min'."""
    if seconds is None:
        return "—"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
