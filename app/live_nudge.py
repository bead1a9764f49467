"""A server-side backstop for :func:`app.live.watch`: reruns a page whose watched files changed when the page's own
poll did not.

The poll is a browser timer (``st.fragment(run_every=...)``) that asks the server to compare file stats every
second. Rarely (seen once in CI, on a quiet machine, right after a page run that the poll itself had requested)
that timer is gone: the page then stays at its last state for good, e.g. "running" after the run finished. This
thread watches the same fingerprints from the server and, when one has been changed for ``GRACE_S`` without the
page running again, requests a rerun of that session as Streamlit's own run-on-save does
(``AppSession.request_rerun`` with the session's last client state, scheduled on the session's event loop). It
never interrupts a page run: a session whose script is running is left alone.

Streamlit offers no public API for this; without the private attributes it reads (``_state``, ``_client_state``)
the backstop does nothing for that session (the poll keeps working as before).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

LOG = logging.getLogger(__name__)
CHECK_S = 1.0  # how often the thread compares fingerprints
GRACE_S = 3.0  # a change the page's poll has not acted on for this long gets a server-side rerun


@dataclass
class _Watched:
    current: Callable[[], Hashable]  # the fingerprint now (file stats; cheap)
    seen: Hashable  # the fingerprint the page drew (None: unknown, so any value counts as a change)
    changed_since: float | None = None  # monotonic time the thread first saw a different fingerprint
    nudged: float = 0.0


class Nudger:
    """Per browser session, the fingerprint its page drew; one daemon thread compares and nudges."""

    def __init__(self, check_s: float = CHECK_S, grace_s: float = GRACE_S):
        self.check_s, self.grace_s = check_s, grace_s
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._thread: threading.Thread | None = None
        self.nudges = 0  # reruns requested (a backstop: expected to stay 0)

    def watch(self, session_id: str, current: Callable[[], Hashable], seen: Hashable) -> None:
        """The page of ``session_id`` drew ``seen``; rerun it if ``current()`` differs for longer than the grace."""
        with self._lock:
            self._watched[session_id] = _Watched(current, seen)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="live-nudge", daemon=True)
                self._thread.start()

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._watched.pop(session_id, None)

    def _loop(self) -> None:
        while True:
            time.sleep(self.check_s)
            with self._lock:
                watched = list(self._watched.items())
            for session_id, entry in watched:
                try:
                    self._check(session_id, entry)
                except Exception:  # noqa: BLE001 - a backstop must never take the server down
                    LOG.exception("live nudge for session %s failed; not watched any more", session_id)
                    self.forget(session_id)

    def _check(self, session_id: str, entry: _Watched) -> None:
        session = _app_session(session_id)
        if session is None:  # the browser tab is gone (checked first: its runs may never change again)
            self.forget(session_id)
            return
        if entry.current() == entry.seen:
            entry.changed_since = None
            return
        now = time.monotonic()
        entry.changed_since = entry.changed_since or now
        if now - max(entry.changed_since, entry.nudged) < self.grace_s:
            return
        if getattr(getattr(session, "_state", None), "name", None) != "APP_NOT_RUNNING":
            return  # a page run is on its way (it will watch again); never interrupt it
        client_state = getattr(session, "_client_state", None)
        if client_state is None:
            self.forget(session_id)
            return
        entry.nudged = now
        self.nudges += 1
        LOG.info("live: the page of session %s missed a change for %.1f s; rerunning it from the server",
                 session_id, now - entry.changed_since)
        # On the session's event loop when Streamlit lets us (its methods expect that thread), else as run-on-save does.
        on_loop = getattr(session, "_call_soon_on_event_loop", None)
        if on_loop is not None:
            on_loop(lambda: session.request_rerun(client_state))
        else:
            session.request_rerun(client_state)


def _app_session(session_id: str):
    """The live AppSession of ``session_id``, or None (no Streamlit runtime, e.g. AppTest; or the tab closed)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    return Runtime.instance().get_app_session(session_id)
