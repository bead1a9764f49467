"""The server-side follower of app/live_follow.py: a page is rerun when what it drew changed on disk, only its live
section when only files changed, and never while it runs."""
import threading
import time
from types import SimpleNamespace

import pytest
from streamlit.proto.ClientState_pb2 import ClientState

from app import live_follow
from app.live_follow import Follower


class FakeSession:
    """What the follower reads of a Streamlit AppSession: its state, last client state, fragments and event loop."""

    def __init__(self, running: bool = False, fragments=("live",)):
        self._state = SimpleNamespace(name="APP_IS_RUNNING" if running else "APP_NOT_RUNNING")
        self._client_state = ClientState(page_name="train", fragment_id="some-earlier-fragment-run")
        self.fragments = set(fragments)
        self.reruns: list[ClientState] = []
        self.rerun = threading.Event()

    def has_fragment(self, fragment_id):
        return fragment_id in self.fragments

    def _call_soon_on_event_loop(self, callback):
        callback()

    def request_rerun(self, client_state):
        self.reruns.append(client_state)
        self.rerun.set()


@pytest.fixture
def sessions(monkeypatch):
    table = {}
    monkeypatch.setattr(live_follow, "_app_session", table.get)
    return table


@pytest.fixture
def fast():
    """Followers with short delays, stopped after the test (a thread left running would rerun the next test's
    sessions of the same name)."""
    made = []

    def make(**kw) -> Follower:
        made.append(Follower(**{"check_s": 0.02, "settle_s": 0.05, "max_settle_s": 0.2, "retry_s": 0.5, "gap_s": 0.0,
                              **kw}))
        return made[-1]

    yield make
    for follower in made:
        follower.stop()


def test_a_file_change_reruns_the_live_section_alone_and_a_state_change_the_page(sessions, fast):
    sessions["s"] = session = FakeSession()
    now = {"fp": (("running",), 1)}
    follower = fast()
    follower.watch("s", lambda: now["fp"], (("running",), 1), "live")
    time.sleep(0.2)
    assert session.reruns == [], "nothing changed: no rerun"
    now["fp"] = (("running",), 2)  # a new metrics row
    assert session.rerun.wait(10), "the changed files were never acted on"
    asked = session.reruns[-1]
    assert asked.fragment_id == "live" and asked.is_auto_rerun and asked.page_name == "train"
    follower.watch("s", lambda: now["fp"], (("running",), 2), "live")  # the section ran and watches again
    session.rerun.clear()
    assert not session.rerun.wait(0.3), "the redrawn state is not rerun again"
    now["fp"] = (("finished",), 3)  # the run ended: labels and buttons outside the section change
    assert session.rerun.wait(10)
    assert session.reruns[-1].fragment_id == "" and not session.reruns[-1].is_auto_rerun
    assert follower.reruns == {"section": 1, "page": 1}


def test_writes_in_quick_succession_make_one_rerun(sessions, fast):
    sessions["s"] = session = FakeSession()
    now = {"fp": ((), 0)}
    follower = fast(settle_s=0.15, max_settle_s=5)
    follower.watch("s", lambda: now["fp"], ((), 0), "live")
    for write in range(1, 6):  # an epoch's end: snapshot, metrics row, status... 50 ms apart
        now["fp"] = ((), write)
        time.sleep(0.05)
    assert session.rerun.wait(10)
    time.sleep(0.3)
    assert len(session.reruns) == 1


def test_a_section_is_redrawn_no_sooner_than_the_gap_after_its_last_run_and_a_state_change_at_once(sessions, fast):
    sessions["s"] = session = FakeSession()
    now = {"fp": (("running",), 2)}  # a new epoch written right after the page drew
    follower = fast(gap_s=0.6)
    drawn = time.monotonic()
    follower.watch("s", lambda: now["fp"], (("running",), 1), "live")
    assert session.rerun.wait(10)
    assert time.monotonic() - drawn >= 0.6 and session.reruns[-1].fragment_id == "live"
    follower.gap_s = 60.0  # from now on, a section waits a minute
    session.rerun.clear()
    follower.watch("s", lambda: now["fp"], (("running",), 2), "live")
    now["fp"] = (("finished",), 3)  # the run ended just after: the whole page, without waiting for the gap
    assert session.rerun.wait(10) and session.reruns[-1].fragment_id == ""


def test_a_section_the_session_no_longer_holds_or_one_that_never_came_back_means_the_whole_page(sessions, fast):
    sessions["s"] = session = FakeSession(fragments=())
    follower = fast()
    follower.watch("s", lambda: ((), 2), ((), 1), "live")  # a full run since dropped that fragment
    assert session.rerun.wait(10)
    assert session.reruns[-1].fragment_id == ""
    sessions["t"] = other = FakeSession()
    follower.watch("t", lambda: ((), 2), ((), 1), "live")
    assert other.rerun.wait(10) and other.reruns[-1].fragment_id == "live"
    other.rerun.clear()  # the section run never watched again (e.g. it failed): after retry_s, the whole page
    assert other.rerun.wait(10) and other.reruns[-1].fragment_id == ""


def test_a_running_page_is_never_interrupted_and_a_closed_tab_is_forgotten(sessions, fast):
    sessions["busy"] = busy = FakeSession(running=True)
    follower = fast()
    follower.watch("busy", lambda: ((), 2), ((), 1))
    follower.watch("gone", lambda: ((), 1), ((), 1))  # no such session any more, and nothing it watched changes
    deadline = time.monotonic() + 10
    while follower.watching("gone") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not follower.watching("gone")
    time.sleep(0.2)
    assert busy.reruns == [] and follower.watching("busy")
    busy._state.name = "APP_NOT_RUNNING"  # its run ended without watching again: now it is rerun
    assert busy.rerun.wait(10)


def test_a_page_in_a_background_tab_is_not_rerun_until_it_watches_again_in_view(sessions, fast):
    sessions["s"] = session = FakeSession()
    now = {"fp": (("running",), 1)}
    follower = fast()
    follower.watch("s", lambda: now["fp"], (("running",), 1), "live", paused=True)  # the tab said it is hidden
    now["fp"] = (("running",), 2)
    time.sleep(0.3)
    now["fp"] = (("finished",), 3)
    time.sleep(0.3)
    assert session.reruns == [] and follower.watching("s"), "a hidden tab's page was rerun"
    follower.watch("s", lambda: now["fp"], (("running",), 3), "live")  # back in view: its section ran and watches
    assert session.rerun.wait(10), "the state that changed while hidden was never drawn"
    assert session.reruns[-1].fragment_id == ""  # the whole page: its labels changed


def test_unknown_drawn_parts_count_as_changes(sessions, fast):
    sessions["s"] = session = FakeSession()
    follower = fast()
    follower.watch("s", lambda: (("running",), 1), (("running",), None), "live")  # a write it may not have read
    assert session.rerun.wait(10) and session.reruns[-1].fragment_id == "live"
    follower.forget("s")
    session.rerun.clear()
    assert not session.rerun.wait(0.3)
    follower.watch("s", lambda: (("running",), 1), (None, 1), "live")  # the page's own top part: unknown
    assert session.rerun.wait(10) and session.reruns[-1].fragment_id == ""


def test_serves_only_sessions_it_can_rerun(sessions, fast):
    sessions["s"] = FakeSession()
    sessions["odd"] = SimpleNamespace(request_rerun=lambda state: None)  # a Streamlit without the attributes used
    follower = Follower()
    assert follower.serves("s") and not follower.serves("odd") and not follower.serves("missing")


def test_an_awaited_result_is_drawn_at_once_but_new_files_beside_it_wait_for_the_gap(sessions, fast):
    sessions["s"] = session = FakeSession()
    follower = fast(gap_s=60.0)  # a section just drawn (PCA while its UMAP layout is computed) waits a minute…
    now = {"fp": (("running",), (("stats", 1), "layouts 4"))}
    follower.watch("s", lambda: now["fp"], (("running",), (("stats", 1), "layouts 3")), "live", awaited=True)
    assert session.rerun.wait(10) and session.reruns[-1].fragment_id == "live", "…unless its layout landed"
    session.rerun.clear()
    now["fp"] = (("running",), (("stats", 2), "layouts 5"))  # a new epoch too: new files wait for the gap
    follower.watch("s", lambda: now["fp"], (("running",), (("stats", 1), "layouts 4")), "live", awaited=True)
    time.sleep(0.5)
    assert not session.rerun.is_set(), "a new epoch is not an awaited result"


def test_a_change_is_prepared_for_at_once_while_its_rerun_waits(sessions, fast):
    sessions["s"] = session = FakeSession()
    follower = fast(gap_s=60.0)  # the section was just drawn: its rerun waits a minute
    prepared = threading.Event()
    now = {"fp": (("running",), 1)}
    follower.watch("s", lambda: now["fp"], (("running",), 1), "live", prepare=prepared.set)
    time.sleep(0.2)
    assert not prepared.is_set(), "nothing changed: nothing to prepare"
    now["fp"] = (("running",), 2)  # a new epoch's snapshot
    assert prepared.wait(5), "the work the rerun needs (the next UMAP layout) starts at once"
    time.sleep(0.3)
    assert not session.rerun.is_set(), "the rerun itself still waits for the gap"


def test_a_failing_prepare_is_logged_and_the_page_still_followed(sessions, fast, caplog):
    sessions["s"] = session = FakeSession()
    follower = fast()

    def broken():
        raise OSError("snapshot gone")

    now = {"fp": (("running",), 1)}
    follower.watch("s", lambda: now["fp"], (("running",), 1), "live", prepare=broken)
    now["fp"] = (("running",), 2)
    assert session.rerun.wait(5) and follower.watching("s"), "the page's rerun does the work and says what fails"
    assert "preparing the rerun" in caplog.text


def test_an_awaited_result_does_not_wait_for_writes_to_settle(sessions, fast):
    sessions["s"] = session = FakeSession()
    follower = fast(settle_s=60.0, max_settle_s=60.0)  # file writes would wait a minute to settle…
    now = {"fp": (("running",), (("stats", 1), "layouts 4"))}
    follower.watch("s", lambda: now["fp"], (("running",), (("stats", 1), "layouts 3")), "live", awaited=True)
    assert session.rerun.wait(5), "…a layout that landed is one event: drawn at once"
