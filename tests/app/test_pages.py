"""AppTest: every page renders without an exception, with and without runs on disk."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app.common
from core import Trainer

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGES = ["hierarchy", "frames", "train", "collapse", "compare"]


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setattr(app.common, "RUNS_ROOT", tmp_path)
    monkeypatch.setattr(app.common, "UPLOADS", tmp_path / ".uploads")
    return tmp_path


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    if page != "hierarchy":
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_without_runs(runs_root, page):
    at = open_page(page)
    assert_clean(at)
    assert not at.error


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_with_a_finished_run(runs_root, tiny_config, page):
    Trainer(tiny_config, root=runs_root, run_name="done").fit()
    at = open_page(page)
    assert_clean(at)
    assert not at.error
    if page in ("collapse", "compare"):
        assert at.get("plotly_chart"), "the run's charts are drawn"


@pytest.mark.parametrize("bundled", ["synthetic", "fashion_mnist", "cifar100"])
def test_frames_page_for_each_bundled_hierarchy(runs_root, bundled):
    at = open_page("frames")
    at.sidebar.selectbox[0].select(bundled).run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 3


def test_infeasible_min_similarity_is_explained(runs_root):
    at = open_page("frames")
    mode = next(r for r in at.radio if r.label.startswith("min similarity"))
    mode.set_value("value").run()
    at.number_input[0].set_value(-0.9).run()
    assert_clean(at)
    assert at.error and "infeasible" in at.error[0].value


def test_train_page_starts_a_run_and_shows_it(runs_root):
    at = open_page("train")
    at.number_input[0].set_value(1)  # epochs
    at.number_input[1].set_value(10)  # training images per class
    at.button[0].click().run()
    assert_clean(at)
    run = at.session_state["active_run"]
    status_file = runs_root / run / "status.json"
    deadline = time.time() + 120
    while time.time() < deadline and '"finished"' not in (status_file.read_text() if status_file.exists() else ""):
        time.sleep(0.5)
    assert '"finished"' in status_file.read_text()
    at.run()
    assert_clean(at)
    assert any(run in m.value for m in at.markdown)


def test_failed_run_is_shown_on_the_train_page(runs_root, tiny_config):
    from core import DataConfig

    bad = tiny_config.replace(data=DataConfig(hierarchy=str(runs_root / "gone.json")))
    trainer = Trainer(bad, root=runs_root, run_name="broken")
    with pytest.raises(ValueError):
        trainer.fit()
    at = open_page("train")
    at.session_state["active_run"] = "broken"
    at.run()
    assert_clean(at)
    assert at.error and "gone.json" in at.error[0].value
