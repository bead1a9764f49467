"""The field's pickles uploaded on the Hierarchy page: shown like any other file; payloads never run."""
from __future__ import annotations

from pathlib import Path

import pytest
from field_pickles import distance_dict, distance_pickle, label_rows, labels_pickle, payloads, tree_pickle
from streamlit.testing.v1 import AppTest

import app.common
from core import load_bundled

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def upload(filename: str, data: bytes) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.sidebar.selectbox[0].select(app.common.UPLOAD_LABEL).run()
    at.file_uploader[0].set_value((filename, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def the_field_files() -> dict[str, bytes]:
    tree = load_bundled("synthetic")
    rows, _ = label_rows(tree)
    return {"synthetic_tree.pkl": tree_pickle(tree, protocol=2, module="nltk.tree"),
            "synthetic_ilsvrc_distances.pkl.xz": distance_pickle(distance_dict(tree)),
            "synthetic_tree_list_level3.pkl": labels_pickle(rows, as_array=True)}


@pytest.mark.parametrize("filename", list(the_field_files()))
def test_the_field_pickles_upload_like_any_hierarchy(runs_root, filename):
    tree = load_bundled("synthetic")
    at = upload(filename, the_field_files()[filename])
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "classes (K)") == str(tree.num_classes)
    assert metric(at, "height H") == str(tree.height)
    assert at.get("plotly_chart"), "the tree and its distances are drawn"
    saved = list((runs_root / ".uploads").iterdir())
    assert len(saved) == 1 and saved[0].read_bytes() == the_field_files()[filename]
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("JSON" in label for label in labels) and any("Newick" in label for label in labels), labels


def test_a_payload_upload_is_refused_by_name_and_never_runs(runs_root, tmp_path):
    marker = tmp_path / "payload-ran"
    for route in ["REDUCE (protocol 2)", "STACK_GLOBAL + REDUCE (protocol 4)", "object array with a payload",
                  "payload as an nltk leaf", "payload in xz"]:
        at = upload("evil.pkl.xz" if route.endswith("xz") else "evil.pkl", payloads(marker)[route])
        message = " ".join(e.value for e in at.error)
        assert "evil.pkl" in message and ("'posix.system'" in message or "'O8' is not allowed" in message), message
        assert len(at.sidebar.error) == 1 and not at.get("plotly_chart")
        assert not marker.exists(), route
    assert not (runs_root / ".uploads").exists(), "a refused upload is not kept"
