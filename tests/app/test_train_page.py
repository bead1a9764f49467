"""AppTest of the Train and Jobs pages: applicable controls, remembered settings, final numbers, the job list."""
import dataclasses
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

import app.common
from core import Trainer

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(items, label):
    return next(w for w in items if w.label == label)


def test_controls_that_do_not_apply_are_disabled_or_hidden(runs_root):
    at = open_page("train")
    assert not widget(at.slider, "γ").disabled
    widget(at.selectbox, "Classifier").set_value("etf").run()
    assert widget(at.slider, "γ").disabled and widget(at.selectbox, "Mapping").disabled
    assert not widget(at.slider, "α (cosine-loss weight)").disabled
    widget(at.selectbox, "Classifier").set_value("learnable").run()
    assert widget(at.slider, "α (cosine-loss weight)").disabled
    widget(at.selectbox, "Dataset").set_value("fashion_mnist").run()
    labels = [n.label for n in at.number_input]
    assert "Training images (subset)" in labels and "Training images per class (synthetic)" not in labels
    assert any("10,000 test" in c.value for c in at.caption), "Fashion-MNIST's facts are stated where it is chosen"
    assert all(w.help for w in [*at.number_input, *at.slider, *at.selectbox] if w.label != "Hierarchy")


def test_settings_come_back_from_the_address(runs_root):
    at = open_page("train", {"epochs": "3", "head": "etf", "owner": "ada", "gamma": "bogus"})
    assert widget(at.number_input, "Epochs").value == 3
    assert widget(at.selectbox, "Classifier").value == "etf"
    assert widget(at.text_input, "Your name").value == "ada"
    assert widget(at.slider, "γ").value == 2.0  # a malformed value falls back to the default
    widget(at.number_input, "Epochs").set_value(5).run()
    assert at.query_params["epochs"] == ["5"] or at.query_params["epochs"] == "5"


def test_a_finished_run_shows_its_final_numbers(runs_root, tiny_config):
    Trainer(tiny_config, root=runs_root, run_name="done").fit()
    at = open_page("train", {"run": "done"})
    assert any("done" in m.value and "— finished" in m.value for m in at.markdown)
    shown = {m.label for m in at.metric}
    assert {"top-1 accuracy", "mistake severity", "frame deviation (mean)"} <= shown, shown
    assert {"Elapsed", "Time per epoch", "Time remaining"} <= shown


def test_jobs_page_lists_running_and_queued_jobs_and_removes_one(runs_root, tiny_config):
    jobs = app.common.job_registry()
    slow = tiny_config.replace(optim=dataclasses.replace(tiny_config.optim, epochs=200))
    first, second = jobs.submit(slow, owner="ada"), jobs.submit(slow, owner="grace")
    try:
        at = open_page("jobs")
        text = " ".join(m.value for m in at.markdown)
        assert first in text and second in text and "queued" in text
        assert "| ada |" in text and "| grace |" in text, text  # who started each, in its row
        widget(at.button, "Remove").click().run()
        assert not (runs_root / second).exists()
        assert second not in " ".join(m.value for m in at.markdown)
    finally:
        jobs.stop(first)
        jobs.stop(second)
        deadline = time.time() + 60
        while jobs.is_running(first) and time.time() < deadline:
            time.sleep(0.1)


def test_jobs_page_without_jobs(runs_root):
    at = open_page("jobs")
    assert any("No trainings" in i.value for i in at.info)


def test_recipe_menu_fills_the_controls_and_a_dataset_change_applies_its_cpu_values(runs_root):
    at = open_page("train")
    widget(at.selectbox, "Dataset").set_value("fashion_mnist").run()  # the cpu recipe's Fashion-MNIST values
    assert (widget(at.number_input, "Epochs").value, widget(at.number_input, "Batch size").value) == (2, 128)
    assert widget(at.number_input, "Training images (subset)").value == 0  # every image, visibly
    widget(at.selectbox, "Recipe").set_value("cifar100").run()
    assert widget(at.selectbox, "Dataset").value == "cifar100"
    assert widget(at.selectbox, "Backbone").value == "wrn28_8"
    assert (widget(at.number_input, "Epochs").value, widget(at.number_input, "Batch size").value) == (100, 64)
    assert widget(at.slider, "γ").value == 2.0 and widget(at.slider, "α (cosine-loss weight)").value == 0.4
    assert widget(at.text_input, "Data folder") is not None  # CIFAR-100 is read from a folder the user names
    widget(at.selectbox, "Recipe").set_value("cpu").run()
    assert widget(at.selectbox, "Dataset").value == "synthetic" and widget(at.number_input, "Epochs").value == 8
