"""AppTest at iNaturalist-21 scale: a 10,000-class upload on the Frames, Hierarchy and Train pages — pictures
instead of per-cell plots, a class search instead of 10,000-option lists, and no error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.common import UPLOAD_LABEL

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.timeout(600)


def ten_thousand_classes() -> bytes:
    """A JSON tree with 10 × 10 × 10 × 10 leaves."""
    def node(name, depth):
        if depth == 4:
            return {"name": name}
        return {"name": name, "children": [node(f"{name}.{i}", depth + 1) for i in range(10)]}
    return json.dumps({"name": "ten-thousand", "tree": node("r", 0)}).encode()


@pytest.fixture(scope="module")
def upload() -> tuple[bytes, str]:
    return ten_thousand_classes(), "ten_thousand.json"


def page(upload: tuple[bytes, str], view: str | None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["hierarchy_choice"] = UPLOAD_LABEL
    at.session_state["hierarchy_upload"] = upload
    at.run()
    if view is not None:
        at.switch_page(f"views/{view}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_frames_page_draws_pictures_and_searches_classes(runs_root, upload):
    at = page(upload, "frames")
    assert len(at.get("image")) == 3 and not at.get("plotly_chart")[0].proto.id.endswith("frames_heat_haframe")
    at.session_state["frames_section_6"] = "Pair inspector"
    at.run()
    assert not at.exception
    assert not any(len(s.options) > 100 for s in at.selectbox), "no 10,000-option list is sent"
    next(t for t in at.text_input if t.label.startswith("class B")).input("r.9.9.9.9").run()
    assert not at.exception
    inspector = next(m.value for m in at.markdown if m.value.startswith("LCA"))
    assert "distance d = 4" in inspector, inspector  # positions 0 and 9999 meet at the root
    at.session_state["frames_section_6"] = "Exact view"
    at.run()
    assert not at.exception and at.get("plotly_chart"), "the exact view of three searched classes"


def test_hierarchy_page_draws_the_distances_as_a_picture(runs_root, upload):
    at = page(upload, None)
    specs = {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert specs["distances"]["data"][0]["type"] == "image", "no 10⁸ plotly cells"
    assert "10000" in " ".join(str(m.value) for m in at.metric)


def test_train_page_sets_up_without_error(runs_root, upload):
    at = page(upload, "train")
    assert any(b.label.startswith("Start") for b in at.button)
