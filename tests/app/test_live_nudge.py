"""The server-side backstop of app/live.py: a page whose poll missed a change is rerun from the server."""
import threading
import time
from types import SimpleNamespace

import pytest

from app import live_nudge
from app.live_nudge import Nudger


class FakeSession:
    """What the nudger reads of a Streamlit AppSession: its state, last client state and event loop."""

    def __init__(self, running: bool = False):
        self._state = SimpleNamespace(name="APP_IS_RUNNING" if running else "APP_NOT_RUNNING")
        self._client_state = object()
        self.reruns = []
        self.rerun = threading.Event()

    def _call_soon_on_event_loop(self, callback):
        callback()

    def request_rerun(self, client_state):
        self.reruns.append(client_state)
        self.rerun.set()


@pytest.fixture
def sessions(monkeypatch):
    table = {}
    monkeypatch.setattr(live_nudge, "_app_session", table.get)
    return table


def test_a_change_the_page_missed_reruns_its_session_once_per_grace(sessions):
    sessions["s"] = session = FakeSession()
    value = {"now": 1}
    nudger = Nudger(check_s=0.02, grace_s=0.1)
    nudger.watch("s", lambda: value["now"], 1)
    time.sleep(0.3)
    assert session.reruns == [], "nothing changed: no rerun"
    value["now"] = 2
    assert session.rerun.wait(10), "the changed fingerprint was never acted on"
    assert session.reruns == [session._client_state]  # the session's own client state: its page, its widgets
    nudger.watch("s", lambda: value["now"], 2)  # the rerun page watches again with what it drew
    session.rerun.clear()
    assert not session.rerun.wait(0.4)
    assert nudger.nudges == 1


def test_a_running_page_is_never_interrupted_and_a_closed_tab_is_forgotten(sessions):
    sessions["busy"] = busy = FakeSession(running=True)
    nudger = Nudger(check_s=0.02, grace_s=0.05)
    nudger.watch("busy", lambda: 2, 1)
    nudger.watch("gone", lambda: 1, 1)  # no such session any more, and nothing it watched changes
    deadline = time.monotonic() + 10
    while "gone" in nudger._watched and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "gone" not in nudger._watched
    assert busy.reruns == [] and "busy" in nudger._watched
    busy._state.name = "APP_NOT_RUNNING"  # its run ended without watching again: now it is rerun
    assert busy.rerun.wait(10)


def test_unknown_seen_counts_as_a_change(sessions):
    sessions["s"] = session = FakeSession()
    nudger = Nudger(check_s=0.02, grace_s=0.05)
    nudger.watch("s", lambda: 1, None)  # the page run began before a write it may not have read
    assert session.rerun.wait(10)
    nudger.forget("s")
    session.rerun.clear()
    assert not session.rerun.wait(0.3)
