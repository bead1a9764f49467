"""AppTest of the Primer page and the sidebar's hierarchy badge; unit test of the toy run (core/toy.py)."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

import app.common
from core import load_bundled
from core.toy import ToyConfig, toy_run

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=180)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    return at


def test_toy_run_collapses():
    result = toy_run(load_bundled("synthetic"), ToyConfig(steps=60, record_every=30))
    first, last = result.stats[0], result.stats[-1]
    assert result.steps == [0, 30, 60]
    assert last["train_acc"] > 95 and first["train_acc"] < 50
    assert last["nc1"] < 0.1 * first["nc1"] and last["frame_dev_mean"] < 0.5 * first["frame_dev_mean"]
    assert last["self_duality"] < first["self_duality"] and last["nc4_agreement"] > 95
    assert result.means.shape == (12, 16) and result.features["last"].shape == (len(result.labels), 16)


def test_primer_page_trains_the_toy_and_links_every_page(runs_root):
    at = open_page("primer")
    assert not at.exception and not at.error
    assert at.title[0].value.startswith("What is neural collapse")
    captions = [c.value for c in at.caption]
    assert all(name in captions for name in ("alpha-1a", "beta-2b", "gamma-2a")), "sample images of every class"
    assert not at.get("plotly_chart"), "nothing trained before the click"
    at.radio(key="primer_head").set_value("etf").run()
    at.button(key="primer_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    charts = {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    assert charts == {"primer_curves", "primer_features", "primer_means"}
    assert any("NC4" in c.value and "(head: etf)" in c.value for c in at.caption)
    links = {link.proto.page for link in at.get("page_link")}
    assert {"", "collapse", "frames", "train", "mistakes"} <= links  # "": Hierarchy, the default page


def test_sidebar_names_the_hierarchy_on_every_page_also_after_an_upload(runs_root):
    at = open_page("compare")  # a page without the picker
    assert any("In use:" in m.value and "12 classes" in m.value for m in at.sidebar.markdown)
    at.switch_page("views/hierarchy.py").run()
    at.sidebar.selectbox[0].select(app.common.UPLOAD_LABEL).run()
    data = b"parent,child\nr,a\nr,b\nr,c\n"
    at.file_uploader[0].set_value(("mine.csv", data, "text/csv")).run()
    assert any("mine.csv (uploaded)" in m.value and "3 classes" in m.value for m in at.sidebar.markdown)
    at.switch_page("views/compare.py").run()  # the uploader is gone; the badge still names the upload
    assert any("mine.csv (uploaded)" in m.value for m in at.sidebar.markdown)
