"""Following runs live without costing the training anything.

:func:`watch` is the one way a page follows runs. It registers what the page drew with the server's follower
(app/live_follow.py): while a run is queued or training (or the caller waits for something, e.g. a UMAP layout),
a server thread compares the runs' file stats with what was drawn and reruns the page when they changed — only its
:func:`live_section` when only files changed, the whole page when a state changed. The browser polls nothing and
nothing is redrawn between changes. A run that ended or whose process is gone is not followed at all, nor is a
page whose browser tab is in the background (:func:`tab_hidden`) until the tab comes back. Pages read run files
through the cached readers below, so a file is parsed once per change however many sessions look at it.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.live_follow import Follower, current_fragment_id
from app.live_priority import page_thread
from core.runs import LIVE_STATES, RunDir

POLL_S = 1.0  # the browser poll's period, where the server cannot rerun a session itself (see watch)

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
SECTION_RUN_STARTED = "_section_run_started_ns"  # set by live_section at the start of a run of the section alone
PAGE_DRAWN = "_live_page_drawn"  # the runs' states the last whole-page run drew (None: unknown)
CLOCK_SLACK_NS = 50_000_000  # file times come from the kernel's coarse clock: compare with some slack
# What pages draw. Not the checkpoints: no page shows them, and the last one is written after the epoch's metrics.
TRACKED = ("status.json", "metrics.jsonl", "hierarchy.json", "snapshots")


def mark_page_run() -> None:
    """Call at the start of every full page run (app/main.py does): run files written after this moment may
    not have been read by the page."""
    st.session_state[PAGE_RUN_STARTED] = time.time_ns()
    ctx = get_script_run_ctx()
    if ctx is not None:  # a page that does not watch (another page now) must not be rerun for the last one's runs
        follower().forget(ctx.session_id)


def live_section(body: Callable) -> Callable:
    """Decorator: ``body`` draws the part of a page that shows run files, and calls :func:`watch` (the page's only
    call). When only those files change (a new epoch) the server reruns this part alone: the rest of the page (a
    form, pickers, the sidebar) is neither recomputed nor redrawn, which is most of what a live page costs the
    browser. Widgets inside the section rerun only the section too. Use it for the last part of a page."""
    @st.fragment
    @functools.wraps(body)
    def section(*args, **kwargs):
        if in_section_run():  # a run of the section alone, not of the whole page
            page_thread()
            st.session_state[SECTION_RUN_STARTED] = time.time_ns()
        return body(*args, **kwargs)

    return section


def in_section_run() -> bool:
    """True in a run of a live section alone (a fragment run), False in a whole-page run (or outside Streamlit)."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def rerun_section() -> None:
    """Rerun the live section that is running alone now, else the whole page."""
    st.rerun(scope="fragment" if in_section_run() else "app")


def _run_started() -> int:
    """time.time_ns() when the current run (the page's, or its live section's alone) began, less the clock slack."""
    return st.session_state.get(SECTION_RUN_STARTED if in_section_run() else PAGE_RUN_STARTED, 0) - CLOCK_SLACK_NS


def _newest_write(run: RunDir) -> int:
    stats = [_stat(run.path / name) for name in TRACKED]
    return max((stat[1] for stat in stats if stat is not None), default=0)


def fingerprint(run: RunDir) -> tuple:
    """What changes when a run writes something a page shows: its state and the stats of its files.
    A handful of stat calls and two tiny JSON reads (status, heartbeat): cheap enough several times a second."""
    return (run.state(), *(_stat(run.path / name) for name in TRACKED))


def watch(*runs: RunDir, pending: Callable[[], bool] | bool = False, extra: Callable[[], Hashable] | None = None,
          page_extra: Callable[[], Hashable] | None = None, prepare: Callable[[], None] | None = None) -> bool:
    """Rerun the page when any of ``runs`` changes on disk while one of them is queued or running, or while
    ``pending`` (e.g. a UMAP layout being computed) holds; also when ``extra()`` changes (a value the calling
    section draws) or ``page_extra()`` does (a value the rest of the page draws, e.g. the job queue). While
    ``pending``, a change of ``extra()`` alone (the awaited result landed) is drawn without the redraw gap.
    ``prepare()`` is called on the follower's thread as soon as it sees a change, before the page reruns: quick,
    thread-safe work that lets slow work the rerun needs start at once (the next UMAP layout).

    Call it once per page run, after the runs are chosen (inside the page's :func:`live_section` when it has one:
    file changes then rerun that section alone; a run's state change reruns the whole page). It draws nothing. The
    server's follower (app/live_follow.py) does the comparing; where it cannot rerun this session (no Streamlit
    server, e.g. AppTest) a browser timer polls every :data:`POLL_S` instead. Returns True while following.
    """
    def current() -> tuple[Hashable, Hashable]:
        prints = [fingerprint(run) for run in runs]
        return ((*(p[0] for p in prints), *((page_extra(),) if page_extra is not None else ())),
                (*(p[1:] for p in prints), *((extra(),) if extra is not None else ())))

    seen = current()
    waiting = pending() if callable(pending) else pending
    polling = waiting or any(state in LIVE_STATES for state in seen[0][:len(runs)])
    started = _run_started()
    # A write after this run began may have come after the page read that file (so ``seen`` may include a change
    # the page did not draw): then what the section drew is unknown, and the follower reruns it.
    missed = any(_newest_write(run) > started for run in runs)
    if in_section_run():  # the rest of the page still shows what the last whole-page run drew
        page_drawn = st.session_state.get(PAGE_DRAWN)
    else:  # the top of the page (e.g. a state label) was read before this call: unknown if a write came since
        page_drawn = st.session_state[PAGE_DRAWN] = None if missed else seen[0]
    drawn = (page_drawn, None if missed else seen[1])
    ctx = get_script_run_ctx()
    served = ctx is not None and follower().serves(ctx.session_id)
    if ctx is not None:
        if polling and served:
            follower().watch(ctx.session_id, current, drawn, current_fragment_id(),
                             awaited=bool(waiting and extra is not None), paused=tab_hidden(), prepare=prepare)
        else:
            follower().forget(ctx.session_id)
    if not polling:
        if missed or (in_section_run() and page_drawn is not None and page_drawn != seen[0]):
            # The run ended while this page run was drawing it, or while nobody followed the page (its tab was in
            # the background): the top of the page may still say "running". Draw it all once more; that run starts
            # after the last write and records what it drew, so this happens at most once.
            st.rerun()
        return False
    if not served:
        _browser_poll(current, seen, runs, started)
    return True


TAB_HIDDEN = "_live_tab_hidden"  # session state: the browser tab of this session is in the background
VISIBILITY_KEY = "_live_visibility"
VISIBILITY_JS = """
export default function ({parentElement, setTriggerValue}) {
    // Reports the tab's visibility when it changes, and once per mount where it may differ from what the server
    // last heard (a tab opened in the background; one that came back while no page listened). Never once per
    // render: a hidden tab reporting at every render would rerun itself for ever.
    const report = hidden => {
        window.__hafsReported = hidden;
        setTriggerValue('visibility', hidden ? 'hidden' : 'visible');
    };
    window.__hafsOnVisibility = () => { if (document.hidden !== window.__hafsReported) report(document.hidden); };
    if (!window.__hafsListening) {
        window.__hafsListening = true;
        document.addEventListener('visibilitychange', () => window.__hafsOnVisibility && window.__hafsOnVisibility());
    }
    if (!parentElement.__hafsMounted) {
        parentElement.__hafsMounted = true;
        if (document.hidden || window.__hafsReported) report(document.hidden);
    }
    return () => { window.__hafsOnVisibility = null; };  // unmounted: a change is reported by the next mount
}
"""


@functools.cache
def _visibility_component():
    # It draws nothing, and its element takes no room (an empty element still gets the page's 1rem gap).
    return st.components.v2.component("hafs_tab_visibility", js=VISIBILITY_JS, isolate_styles=False,
                                      css=f".st-key-{VISIBILITY_KEY} {{ display: none; }}")


def tab_hidden() -> bool:
    """Whether this session's browser tab is in the background (it reports each change, which reruns the section
    or page that asked). The follower reruns no page of a hidden tab: a page nobody sees costs the server and the
    browser nothing, and is drawn again, with what changed meanwhile, as soon as its tab comes back."""
    report = _visibility_component()(key=VISIBILITY_KEY, on_visibility_change=lambda: None)
    if report.visibility is not None:
        st.session_state[TAB_HIDDEN] = report.visibility == "hidden"
    return st.session_state.get(TAB_HIDDEN, False)


def _browser_poll(current: Callable[[], tuple], seen: tuple, runs: tuple[RunDir, ...], started: int) -> None:
    """Where the server cannot rerun a session: a browser timer that compares file stats every POLL_S."""
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        if current() != seen or any(_newest_write(run) > started for run in runs):
            st.rerun()  # the whole page: it reads the new files (each parsed once, see the readers below)

    poll()


@st.cache_resource
def follower() -> Follower:
    """The server's one follower thread (see app/live_follow.py)."""
    return Follower()


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
