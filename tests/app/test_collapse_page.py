"""AppTest: the Collapse page's animation and colourings, and the Mistakes page, on runs written to disk."""
import base64
import json
from pathlib import Path

import numpy as np
from nc_runs import INAT19, write_run
from streamlit.testing.v1 import AppTest

from app import collapse_views
from core import mistakes
from page_charts import payload_bytes, plotly_specs

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs by their title text."""
    out = {}
    for spec in plotly_specs(at).values():
        title = spec["layout"].get("title", {})
        out[title.get("text", "") if isinstance(title, dict) else str(title)] = spec
    return out


def values(data) -> list:
    """A plotly array as a list (plotly writes numpy arrays as base64 typed arrays)."""
    if isinstance(data, dict) and "bdata" in data:
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        return array.reshape(data["shape"]).tolist() if "shape" in data else array.tolist()
    return list(data)


def chart(at: AppTest, starts: str) -> dict:
    found = [spec for title, spec in charts(at).items() if title.startswith(starts)]
    assert found, f"no chart titled '{starts}…' among {list(charts(at))}"
    return found[0]


def test_animation_has_one_frame_per_epoch_with_play_and_slider(runs_root):
    write_run(runs_root, "run", epochs=3)
    at = open_page("collapse")
    spec = chart(at, "Penultimate features")
    assert [f["name"] for f in spec["frames"]] == ["0", "1", "2", "3"]
    buttons = [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]]
    assert any("Play" in b for b in buttons) and any("Pause" in b for b in buttons)
    slider = spec["layout"]["sliders"][0]
    assert [step["label"] for step in slider["steps"]] == ["0", "1", "2", "3"] and slider["active"] == 3
    names = [t.get("name") for t in spec["data"]]
    assert "class means" in names and "frame vectors" in names, "means and frame drawn in the same projection"
    points = spec["data"][0]
    assert values(points["customdata"])[0].startswith("true: ") and "→" in values(points["customdata"])[0]
    assert "predicted: %{text}" in points["hovertemplate"]
    assert all(t == "✓ correct" or (t.startswith("✗ ") and "LCA height" in t) for t in values(points["text"]))
    # the axes stay fixed across frames: set once on the layout
    assert spec["layout"]["xaxis"]["range"] and spec["layout"]["yaxis"]["range"]


def epoch_slider(at):
    """The Collapse page's epoch slider (its key names the newest epoch while it follows the run)."""
    return next(s for s in at.select_slider if s.label.startswith("Epoch"))


def test_epoch_slider_moves_the_start_and_the_heatmap(runs_root):
    write_run(runs_root, "run", epochs=3)
    at = open_page("collapse")
    epoch_slider(at).set_value(1).run()
    assert not at.exception
    assert chart(at, "Penultimate features")["layout"]["sliders"][0]["active"] == 1
    chart(at, "Class-mean cosines, epoch 1")


def test_the_epoch_slider_follows_new_epochs_until_the_viewer_moves_it(runs_root):
    run = write_run(runs_root, "run", epochs=3)
    at = open_page("collapse")
    slider = lambda: epoch_slider(at).value  # noqa: E731
    assert slider() == 3
    run.save_snapshot(4, **run.snapshot(3))  # a live run's next epoch lands
    at.run()
    assert slider() == 4, "a page left at the newest epoch follows the run"
    at.selectbox(key="colour_by").set_value(1).run()  # another control changed: the slider still follows
    run.save_snapshot(5, **run.snapshot(3))
    at.run()
    assert slider() == 5
    epoch_slider(at).set_value(1).run()
    run.save_snapshot(6, **run.snapshot(3))
    at.run()
    assert slider() == 1, "an epoch the viewer chose stays chosen"
    epoch_slider(at).set_value(6).run()  # back to the newest: it follows again
    run.save_snapshot(7, **run.snapshot(3))
    at.run()
    assert slider() == 7


def test_colour_by_outcome_and_height_follow_the_predictions(runs_root):
    run = write_run(runs_root, "run", epochs=1)
    at = open_page("collapse")
    labels = [o.label for o in collapse_views.colourings(run.hierarchy())]
    at.selectbox(key="colour_by").set_value(labels.index("correct / mistake")).run()
    spec = chart(at, "Penultimate features")
    snap = run.snapshot(1)
    correct = snap["labels"] == snap["predictions"]
    last_frame = values(spec["frames"][-1]["data"][0]["marker"]["color"])
    assert last_frame == (~correct).astype(int).tolist()  # indices into the outcome palette
    scale = spec["data"][0]["marker"]["colorscale"]
    assert scale[0][1] == collapse_views.CORRECT and scale[-1][1] == collapse_views.MISTAKE
    at.selectbox(key="colour_by").set_value(labels.index("LCA height of the mistake")).run()
    spec = chart(at, "Penultimate features")
    legend = [t["name"] for t in spec["data"][3:]]
    assert legend[0] == "correct" and legend[1] == "height 1"


def test_a_run_without_snapshots_waits(runs_root):
    from core import load_bundled

    run = write_run(runs_root, "empty", epochs=1)
    for snapshot in (run.path / "snapshots").iterdir():
        snapshot.unlink()
    run.save_hierarchy(load_bundled("synthetic"))
    at = open_page("collapse")
    assert any("Waiting" in i.value for i in at.info)


def test_mistake_views_and_the_crm_toggle(runs_root):
    run = write_run(runs_root, "run", epochs=2)
    at = open_page("mistakes")
    bars = chart(at, "Mistakes by LCA height over epochs")
    hierarchy, distances = run.hierarchy(), run.hierarchy().distance_matrix()
    arrays = run.snapshot(2)
    counts = mistakes.height_counts(arrays["eval_labels"], arrays["eval_predictions"], distances)
    assert len(bars["data"]) == distances.max(), "one stacked trace per height"
    assert [values(t["customdata"])[-1] for t in bars["data"]] == counts[1:].tolist()
    assert values(chart(at, "Mistakes by LCA height, epoch 2")["data"][0]["y"]) == counts[1:].tolist()
    chart(at, "Confusions in tree order, epoch 2")
    table = at.dataframe[0].value
    assert {"true", "predicted", "count", "lca", "distance"} <= set(table.columns)
    at.toggle(key="crm").set_value(True).run()
    assert not at.exception
    crm = mistakes.height_counts(arrays["eval_labels"], arrays["eval_crm_predictions"], distances)
    assert values(chart(at, "Mistakes by LCA height, epoch 2 · CRM")["data"][0]["y"]) == crm[1:].tolist()
    assert hierarchy.num_classes == 12


def test_k1010_views_are_images_with_short_legends(runs_root, reference):
    write_run(runs_root, "inat", str(INAT19), epochs=1, per_class=2, dim=24)
    at = open_page("collapse")
    spec = chart(at, "Penultimate features")
    assert len(spec["data"]) - 3 <= collapse_views.LEGEND_MAX, "legend limited to distinguishable groups"
    means = chart(at, "Class-mean cosines")
    assert means["data"][0]["type"] == "image", "a K=1010 heatmap is a picture, not a million cells"
    size = payload_bytes(at)
    assert size < 4_000_000, f"{size} bytes of figures"
    at = open_page("mistakes")
    assert chart(at, "Confusions in tree order")["data"][0]["type"] == "image"


def test_umap_layouts_are_shown_as_they_land_and_the_wait_ends(runs_root, monkeypatch):
    from test_projector import gated_projector, wait_for

    write_run(runs_root, "run", epochs=3)
    projector, worker = gated_projector()
    monkeypatch.setattr(collapse_views, "projector", lambda: projector)
    at = open_page("collapse")
    at.radio(key="projection").set_value("UMAP").run()
    note = at.caption[0].value
    assert "PCA in a basis fixed" in note and "computing epoch 0's layout" in note
    assert [f["name"] for f in chart(at, "Penultimate features")["frames"]] == ["0", "1", "2", "3"]
    for ready in range(1, 5):
        worker.gate.release()  # one more layout lands; the page's next run shows it and asks for the next
        wait_for(lambda: projector.version() == ready)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        frames = [f["name"] for f in chart(at, "Penultimate features")["frames"]]
        assert frames == [str(e) for e in range(ready)], "the animation holds exactly the ready epochs"
        note = at.caption[0].value
        if ready < 4:
            assert f"{ready} of 4 epochs" in note and f"epoch {ready}'s is being computed" in note
            assert f"showing epoch {ready - 1}, the latest ready" in note
    assert note.startswith("UMAP, each epoch started from the previous one's layout"), note
    assert "computed" not in note and "computing" not in note, "no waiting message once every layout is in"
    assert all("init" in call for call in worker.calls[1:]), "epochs after the first start from the previous"
    assert not projector.pending_run(str(runs_root / "run"))
    projector.close()


def test_a_new_epoch_of_a_followed_run_is_laid_out_before_older_epochs_newly_picked(runs_root, monkeypatch):
    from test_projector import gated_projector, wait_for

    run = write_run(runs_root, "run", epochs=5)
    projector, worker = gated_projector()
    monkeypatch.setattr(collapse_views, "projector", lambda: projector)
    monkeypatch.setattr(collapse_views, "MAX_ANIMATED_EPOCHS", 3)  # epochs 0–5 animate as 0, 2, 5
    at = open_page("collapse")
    at.radio(key="projection").set_value("UMAP").run()
    for ready in range(1, 4):
        worker.gate.release()
        wait_for(lambda: projector.version() == ready)
        at.run()
    assert [f["name"] for f in chart(at, "Penultimate features")["frames"]] == ["0", "2", "5"]
    snapshot = run.snapshot(5)
    run.save_snapshot(6, **{**snapshot, "features": snapshot["features"] * 1.1})  # a new epoch: 0, 3, 6 animate
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    worker.gate.release()
    wait_for(lambda: projector.version() == 4)
    path = str(runs_root / "run")
    assert projector.layout(path, 6) is not None and projector.layout(path, 3) is None, "the newest epoch first"
    np.testing.assert_array_equal(worker.calls[-1]["init"], projector.layout(path, 5))
    at.run()
    assert [f["name"] for f in chart(at, "Penultimate features")["frames"]] == ["0", "6"]
    note = at.caption[0].value
    assert "epoch 3's is being computed" in note and "2 of 3 epochs" in note, note
    worker.gate.release()
    wait_for(lambda: projector.version() == 5)
    at.run()
    assert [f["name"] for f in chart(at, "Penultimate features")["frames"]] == ["0", "3", "6"]
    np.testing.assert_array_equal(worker.calls[-1]["init"], projector.layout(path, 2))
    projector.close()
