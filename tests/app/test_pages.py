"""AppTest: every page renders without an exception, with and without runs on disk."""
import time
from pathlib import Path

import pytest
from bad_inputs import BAD_UPLOADS
from streamlit.testing.v1 import AppTest

import app.common
from core import Trainer
from page_charts import plotly_specs

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGES = ["hierarchy", "frames", "train", "collapse", "compare"]


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    if page != "hierarchy":
        at.switch_page(f"views/{page}.py")
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
        assert plotly_specs(at), "the run's charts are drawn"


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


# ---------------------------------------------------------------------------------------------- Hierarchy page
def test_hierarchy_search_lists_matching_classes_with_their_path(runs_root):
    at = open_page("hierarchy")
    at.text_input(key="class_search").input("BETA").run()  # case-insensitive
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and all("beta" in name for name in table["class"])
    assert "synthetic → beta → beta-2" in list(table["path from the root"])
    assert any("4 of 12 classes match" in c.value for c in at.caption)
    at.text_input(key="class_search").input("zebra").run()
    assert any("zebra" in i.value for i in at.info)


def test_hierarchy_distance_convention_radio(runs_root):
    at = open_page("hierarchy")
    assert at.radio(key="convention").value == "depth"
    at.radio(key="convention").set_value("height").run()
    assert_clean(at)
    assert any("height of the LCA" in c.proto.spec for c in at.get("plotly_chart")), "the heatmap's title follows"
    assert any("identical" in c.value and "tieredImageNet-H" in c.value for c in at.caption)


def test_hierarchy_conventions_differ_on_an_unbalanced_upload(runs_root):
    at = open_page("hierarchy")
    at.sidebar.selectbox[0].select(app.common.UPLOAD_LABEL).run()
    at.file_uploader[0].set_value(("lopsided.csv", b"parent,child\nr,a\nr,x\nx,b\nx,y\ny,c\ny,d\n", "text/csv")).run()
    assert_clean(at)
    assert not at.error
    assert any("differ on" in c.value for c in at.caption)


def test_hierarchy_downloads(runs_root):
    at = open_page("hierarchy")  # synthetic: names without spaces, all four formats work
    assert not any(b.proto.disabled for b in at.get("download_button"))
    at.sidebar.selectbox[0].select("fashion_mnist").run()
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert list(buttons) == ["JSON", "CSV edges", "Newick", "isa.txt"]
    assert not any(buttons[k].disabled for k in ("JSON", "CSV edges", "Newick"))
    # Fashion-MNIST's names hold spaces ("Ankle boot"), which isa.txt cannot write: disabled, with the reason.
    assert buttons["isa.txt"].disabled and "whitespace" in buttons["isa.txt"].help
    assert any("isa.txt is unavailable" in c.value for c in at.caption)


def test_tree_outline_html():
    from app.plots import tree_outline_html
    from core import load_bundled

    h = load_bundled("synthetic")
    leaf = [i in set(h.leaf_ids.tolist()) for i in range(h.num_nodes)]
    text = tree_outline_html(h.parents.tolist(), [h.display(n) for n in h.names], leaf)
    assert text.count("<details") == text.count("</details>") == h.num_nodes - h.num_classes
    assert "gamma-1b" in text and "(12 classes)" in text
    assert tree_outline_html([-1, 0, 0], ["r", "<a>", "b"], [False, True, True]).count("&lt;a&gt;") == 1


@pytest.mark.parametrize("filename", BAD_UPLOADS)
def test_bad_upload_is_explained_once_under_the_uploader(runs_root, filename):
    data, problem = BAD_UPLOADS[filename]
    at = open_page("hierarchy")
    at.sidebar.selectbox[0].select(app.common.UPLOAD_LABEL).run()
    at.file_uploader[0].set_value((filename, data, "application/octet-stream")).run()
    assert_clean(at)
    where = at.sidebar.error  # once, under the uploader; the page only points there
    assert len(where) == 1 and filename in where[0].value and problem in where[0].value, [e.value for e in at.error]
    assert not at.main.error and any("could not be read" in i.value for i in at.main.info)
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------------------------------------- Train page
def number(at: AppTest, label: str):
    return next(n for n in at.number_input if n.label == label)


@pytest.mark.parametrize("setting, value, field", [
    ("Learning rate", 0.0, "optim.lr"),
    ("Feature dimension (0 = K)", 5, "model.feature_dim"),
    ("m (for 'value')", -0.9, "frame.min_similarity"),
])
def test_train_page_names_an_invalid_setting(runs_root, setting, value, field):
    at = open_page("train")
    if setting.startswith("m "):
        next(r for r in at.radio if r.label == "Min similarity m").set_value("value").run()  # enables m
    number(at, setting).set_value(value)
    at.button[0].click().run()
    assert_clean(at)
    assert at.error and field in at.error[0].value, [e.value for e in at.error]
    assert "active_run" not in at.session_state
    assert not list(runs_root.iterdir()), "no run directory for invalid settings"


def test_train_page_advanced_settings_reach_the_run_config(runs_root):
    from core import RunDir

    at = open_page("train")
    number(at, "Epochs").set_value(1)
    number(at, "Training images per class (synthetic)").set_value(10)
    next(r for r in at.radio if r.label == "Min similarity m").set_value("grid")
    next(s for s in at.selectbox if s.label == "Mapping").set_value("linear")
    number(at, "Learning rate").set_value(0.02)
    number(at, "Batch size").set_value(32)
    number(at, "Feature dimension (0 = K)").set_value(16)
    number(at, "Seed").set_value(7)
    device = next(t for t in at.text_input if t.label == "Device")
    assert device.value in ("CPU",) or device.value.startswith("CUDA")
    at.button[0].click().run()
    assert_clean(at)
    run = at.session_state["active_run"]
    jobs = app.common.job_registry()
    jobs.stop(run)
    deadline = time.time() + 60
    while jobs.is_running(run) and time.time() < deadline:  # no training thread left at exit
        time.sleep(0.1)
    assert not jobs.is_running(run), "Stop did not end the training thread"
    config = RunDir(runs_root / run).config()
    assert (config.frame.min_similarity, config.frame.mapping, config.frame.seed) == ("grid", "linear", 7)
    assert (config.optim.lr, config.optim.batch_size, config.model.feature_dim) == (0.02, 32, 16)
    assert (config.seed, config.data.seed) == (7, 7)


def test_tree_palette_gives_each_branch_one_hue():
    import colorsys

    from app.plots import tree_palette

    groups = ["a1", "a2", "a3", "b1", "b2", "c"]
    colours = tree_palette(groups, ["a", "a", "a", "b", "b", "c"])
    assert len(set(colours.values())) == len(groups)
    hue = {g: colorsys.rgb_to_hls(*(int(colours[g][i:i + 2], 16) / 255 for i in (1, 3, 5)))[0] for g in groups}
    assert max(hue[g] for g in ("a1", "a2", "a3")) - min(hue[g] for g in ("a1", "a2", "a3")) < 0.08
    assert abs(hue["a1"] - hue["b1"]) > 0.2


# ---------------------------------------------------------------------------------------------- damaged runs
def test_collapse_and_compare_survive_damaged_run_directories(runs_root, tiny_config):
    from core import RunDir

    Trainer(tiny_config, root=runs_root, run_name="good").fit()
    RunDir.create(runs_root, tiny_config, "preparing").write_status("running")  # no hierarchy.json yet
    broken = RunDir.create(runs_root, tiny_config, "broken")
    (broken.path / "config.json").write_text("{not json")
    at = open_page("collapse")
    at.selectbox[0].select(next(i for i, o in enumerate(at.selectbox[0].options) if "preparing" in o)).run()
    assert_clean(at)
    assert any("still preparing" in i.value for i in at.info)
    at = open_page("compare")
    at.multiselect[0].set_value(["good", "preparing"]).run()  # "broken" is not offered: its config is unreadable
    assert_clean(at)
    assert any("broken" in w.value for w in at.warning)
    assert plotly_specs(at)
