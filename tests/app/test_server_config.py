"""The settings Streamlit reads from .streamlit/config.toml when the server starts in the repository root."""
from pathlib import Path

import pytest
from streamlit import config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_config(monkeypatch):
    """Streamlit's options as ``streamlit run app/main.py`` in the repository root parses them."""
    monkeypatch.chdir(ROOT)
    config.get_config_options(force_reparse=True)
    yield config.get_option
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_a_page_run_ends_without_a_full_garbage_collection(server_config):
    # Streamlit's default gc.collect(2) after every script run held the GIL for 0.13 s or more in this server:
    # a live page rerunning every few seconds stalled the training thread that long each time.
    assert server_config("runner.postScriptGC") is False


def test_the_server_listens_on_this_machine_only_and_serves_plotly_js(server_config):
    assert server_config("server.address") == "127.0.0.1"
    assert server_config("server.enableStaticServing") is True
