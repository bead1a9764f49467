"""Shared AppTest set-up: every app test gets its own run store and upload folder."""
import pytest

import app.common


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """Move the app's run store (and its uploads) into a temporary folder; returns it."""
    monkeypatch.setattr(app.common, "RUNS_ROOT", tmp_path)
    monkeypatch.setattr(app.common, "UPLOADS", tmp_path / ".uploads")
    return tmp_path
