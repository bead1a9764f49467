"""How a page follows a live run: the server reruns it when a file it drew changes; the browser polls nothing.

A page that shows a live run registers what it drew (:func:`app.live.watch`): a fingerprint made of the runs' states
(the "page part") and of their files' stats (the "section part"), and the fragment that drew the files (its "live
section", when it has one). One daemon thread of the server compares every watched fingerprint with the files a few
times a second: a few ``stat`` calls and two tiny JSON reads per run, nothing sent anywhere. When one changed, it
waits for the writes to settle (an epoch's end writes its snapshot, its metrics row and its status within a few
milliseconds: one rerun, not three), then asks Streamlit to rerun that session, as its run-on-save does
(``AppSession.request_rerun`` with the session's last client state, on the session's event loop):

* only the live section when only files changed (a new epoch): the form, the sidebar and the page's other widgets are
  neither recomputed nor redrawn;
* the whole page when a state changed (a run finished, was stopped or queued: buttons and labels elsewhere change),
  when the page has no live section, or when a section rerun asked for earlier never came back.

A section is redrawn at most once per :data:`GAP_S` after its last run ended (a whole page at once): when epochs are
short (a GPU, or a small model) a page that redrew every epoch would keep the viewer's browser — on a shared machine,
the training's own cores — busy all the time, for views nobody can read that fast. The gap keeps what a page shows
within 3 s of the files it draws (gap + a check + the section's run and draw), whatever the epoch length. A result
the page asked for and waits on (a UMAP layout of the epoch it shows: the last item of its section part when watched
with ``awaited``) is drawn as soon as it lands, waiting for neither the gap nor a settle: the page drew a stand-in
a moment ago (PCA), which is what started the gap, and a landing is one event. Work a rerun will need can start
before it: a page may watch with a ``prepare`` callable, which the thread calls as soon as it sees a change (the
Collapse page's starts the new epoch's UMAP layout, computed while the rerun waits for the settle and the gap).

It never interrupts a page run (a session whose script runs is left until it ends; that run watches again) and
forgets a session whose tab is gone. Between changes nothing at all happens in the browser or in the page threads:
the browser-side alternative, a ``st.fragment(run_every=1)`` poll, sent a request and got a script run every second
per open page, and its timer was once seen to vanish for good (a page frozen at "running" after its run ended).

Streamlit has no public API for a server-initiated rerun. Where the private attributes used here (``_state``,
``_client_state``, ``_call_soon_on_event_loop``) are missing, :meth:`Follower.serves` says so and
:func:`app.live.watch` falls back to the browser poll.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)
CHECK_S = 0.25  # how often the thread compares fingerprints (a handful of stat calls per watched run)
SETTLE_S = 0.3  # writes closer together than this make one rerun
MAX_SETTLE_S = 1.0  # ... unless they keep coming: then rerun anyway this long after the first
RETRY_S = 3.0  # a rerun asked for this long ago whose page has not watched again: ask again, for the whole page
GAP_S = 2.0  # a live section is rerun no sooner than this after its last run ended (see the module's docstring)


Fingerprint = tuple[Hashable, Hashable]  # (page part: run states; section part: file stats); None = unknown


@dataclass
class _Watched:
    current: Callable[[], Fingerprint]
    seen: Fingerprint  # what the page drew
    fragment_id: str | None  # the live section that drew the section part (None: the page has none)
    last: Fingerprint | None = None  # the latest differing fingerprint, and since when it has held
    last_since: float = 0.0
    changed_since: float | None = None  # when the thread first saw a fingerprint other than ``seen``
    asked: float = 0.0  # when this entry last asked for a rerun (0: never)
    drawn_at: float = field(default_factory=time.monotonic)  # when the page's run that drew ``seen`` ended
    awaited: bool = False  # the section part's last item is a result the page waits on (drawn without the gap)
    paused: bool = False  # the page's browser tab is in the background: not rerun until it comes back
    prepare: Callable[[], None] | None = None  # called at each new change seen, before the settle and the gap


class Follower:
    """Per browser session, what its page drew; one daemon thread compares it with the files and reruns the page."""

    def __init__(self, check_s: float = CHECK_S, settle_s: float = SETTLE_S, max_settle_s: float = MAX_SETTLE_S,
                 retry_s: float = RETRY_S, gap_s: float = GAP_S):
        self.check_s, self.settle_s, self.max_settle_s, self.retry_s = check_s, settle_s, max_settle_s, retry_s
        self.gap_s = gap_s
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.reruns = {"section": 0, "page": 0}  # reruns asked for, by scope

    def serves(self, session_id: str) -> bool:
        """Whether this server can rerun ``session_id`` itself (a live Streamlit session with the attributes used)."""
        session = _app_session(session_id)
        return session is not None and all(hasattr(session, name) for name in (
            "_state", "_client_state", "_call_soon_on_event_loop", "request_rerun"))

    def watch(self, session_id: str, current: Callable[[], Fingerprint], seen: Fingerprint,
              fragment_id: str | None = None, awaited: bool = False, paused: bool = False,
              prepare: Callable[[], None] | None = None) -> None:
        """The page of ``session_id`` drew ``seen`` (its live section, when ``fragment_id``): rerun it when
        ``current()`` differs; at once when only the last item of the section part did and ``awaited``; not at all
        while ``paused`` (its tab is in the background: the page that reports its return watches again). Each new
        differing fingerprint calls ``prepare()`` first, at once: work the rerun will need starts during the wait."""
        with self._lock:
            self._watched[session_id] = _Watched(current, seen, fragment_id, awaited=awaited, paused=paused,
                                                 prepare=prepare)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="live-follow", daemon=True)
                self._thread.start()

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._watched.pop(session_id, None)

    def watching(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._watched

    def stop(self) -> None:
        """End the thread (the server's follower lives as long as the server; tests make their own)."""
        self._stopped.set()

    def _loop(self) -> None:
        while not self._stopped.wait(self.check_s):
            with self._lock:
                watched = list(self._watched.items())
            for session_id, entry in watched:
                try:
                    self._check(session_id, entry)
                except Exception:  # noqa: BLE001 - following must never take the server down
                    LOG.exception("live: following session %s failed; not followed any more", session_id)
                    self.forget(session_id)

    def _check(self, session_id: str, entry: _Watched) -> None:
        session = _app_session(session_id)
        if session is None:  # the browser tab is gone (checked first: its runs may never change again)
            self.forget(session_id)
            return
        if entry.paused:  # nobody sees the page: not even its files are looked at
            return
        now_fp, now = entry.current(), time.monotonic()
        if now_fp == entry.seen:
            entry.changed_since = entry.last = None
            return
        if now_fp != entry.last:
            entry.last, entry.last_since = now_fp, now
            _prepare(session_id, entry)
        entry.changed_since = entry.changed_since or now
        awaited = _only_awaited_changed(entry, now_fp)
        if now - entry.last_since < self.settle_s and now - entry.changed_since < self.max_settle_s and not awaited:
            return  # more writes may be on their way (an awaited result lands at once, alone)
        if entry.asked and now - entry.asked < self.retry_s:
            return  # the rerun asked for is on its way; it will watch again
        if getattr(getattr(session, "_state", None), "name", None) != "APP_NOT_RUNNING":
            return  # a page run is on its way (it will watch again); never interrupt it
        section = entry.fragment_id if (entry.fragment_id and not entry.asked and now_fp[0] == entry.seen[0]
                                        and _holds(session, entry.fragment_id)) else None
        if section and now - entry.drawn_at < self.gap_s and not awaited:
            return  # drawn a moment ago: new files wait (a state change, redrawn as a whole page, does not)
        entry.asked = now
        self.reruns["section" if section else "page"] += 1
        _rerun(session, section)


def _prepare(session_id: str, entry: _Watched) -> None:
    if entry.prepare is None:
        return
    try:
        entry.prepare()
    except Exception:  # noqa: BLE001 - the page's own rerun does that work and reports what fails
        LOG.exception("live: preparing the rerun of session %s failed", session_id)


def _only_awaited_changed(entry: _Watched, now_fp: Fingerprint) -> bool:
    """Whether the awaited result is all that changed in the section part (no new file since the page drew)."""
    drawn, now = entry.seen[1], now_fp[1]
    return (entry.awaited and isinstance(drawn, tuple) and isinstance(now, tuple) and len(drawn) == len(now)
            and drawn[:-1] == now[:-1] and drawn[-1] != now[-1])


def _holds(session, fragment_id: str) -> bool:
    has = getattr(session, "has_fragment", None)
    return bool(has(fragment_id)) if has is not None else True


def _rerun(session, fragment_id: str | None) -> None:
    """Rerun ``session`` on its page: only ``fragment_id`` when given, else the whole page. On the session's event
    loop: its methods expect that thread, and no script run of the session is in progress there."""
    session._call_soon_on_event_loop(lambda: session.request_rerun(_client_state(session, fragment_id)))


def _client_state(session, fragment_id: str | None):
    """The client state Streamlit kept from the session's last run (its page, address and browser context; no widget
    values, so the rerun keeps the values the server holds and replays no button press), aimed at ``fragment_id``."""
    from streamlit.proto.ClientState_pb2 import ClientState

    client_state = ClientState()
    client_state.CopyFrom(session._client_state)
    client_state.fragment_id = fragment_id or ""  # the last state may be a fragment's: say which run this is
    client_state.is_auto_rerun = bool(fragment_id)  # as a run_every timer's request (no warning if it is gone)
    return client_state


def _app_session(session_id: str):
    """The live AppSession of ``session_id``, or None (no Streamlit runtime, e.g. AppTest; or the tab closed)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    return Runtime.instance().get_app_session(session_id)


def current_fragment_id() -> str | None:
    """The id of the fragment whose body is running in this thread, or None (not in one, or not knowable)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

        return ThreadState.get().fragment_id
    except (ImportError, AttributeError, RuntimeError):
        return None
