"""AppTest: Compare with seed groups, settings, reference rows, exports, naming and the trash."""
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from nc_runs import write_run
from streamlit.testing.v1 import AppTest

from app import compare_views
from core import seeds
from core.runs import TRASH
from page_charts import plotly_specs

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def seeded(runs_root):
    """Three HAFrame runs that differ only by seed, and one with another γ."""
    runs = [write_run(runs_root, f"haf-s{s}", seed=s, epochs=2) for s in range(3)]
    runs.append(write_run(runs_root, "haf-gamma5", gamma=5.0, epochs=2))
    return runs


def open_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page("views/compare.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_seed_groups_are_mean_and_t_interval(seeded):
    at = open_page()
    table = at.dataframe[0].value
    ours = table[table["source"] == "this app"]
    assert len(ours) == 2, "three seeds in one row, the other γ in its own"
    group = ours[ours["n"] == 3].iloc[0]
    finals = [r.metrics()[-1]["top1"] for r in seeded[:3]]
    mean, half, n = seeds.mean_ci(finals)
    assert group["top1"] == pytest.approx(mean) and group["top1 ±"] == pytest.approx(half)
    assert group["seed"] == "0, 1, 2" and group["γ"] == 2.0 and group["head"] == "haframe"
    specs = plotly_specs(at)
    assert any(t.get("fill") == "toself" for t in specs["compare"]["data"]), "a CI band for the seed group"
    histograms = sum(key.startswith("side_hist_") for key in specs)
    no_mistakes = sum(i.value.startswith("No mistakes at epoch 2") for i in at.info)
    shown = (seeded[0], seeded[3])  # side by side: the first run of each group
    perfect = sum(int((r.snapshot(2)["eval_labels"] == r.snapshot(2)["eval_predictions"]).all()) for r in shown)
    assert (histograms, no_mistakes) == (2 - perfect, perfect), "a histogram, or a word why none, per group"
    at.toggle(key="group_seeds").set_value(False).run()
    assert len(at.dataframe[0].value.query("source == 'this app'")) == 4


def test_published_rows_are_labelled_and_can_be_hidden(seeded):
    at = open_page()
    table = at.dataframe[0].value
    published = table[table["source"] != "this app"]
    assert len(published) == 9 and published["source"].str.contains("BiLT").all()
    assert any("never results of this app" in c.value for c in at.caption)
    # Metrics a row lacks (the published rows have no collapse statistics) read as an em dash, explained.
    assert published["nc1"].isna().all() and at.dataframe[0].proto.placeholder == compare_views.MISSING == "—"
    assert any(compare_views.MISSING_HELP in c.value for c in at.caption)
    at.toggle(key="reference_rows").set_value(False).run()
    assert (at.dataframe[0].value["source"] == "this app").all()


def test_different_hierarchies_are_not_overlaid_silently(runs_root):
    write_run(runs_root, "synthetic-run", epochs=1)
    write_run(runs_root, "fmnist-run", hierarchy="fashion_mnist", epochs=1)
    at = open_page()
    runs_picker(at).set_value(["synthetic-run", "fmnist-run"]).run()
    assert any("not comparable" in w.value for w in at.warning)
    at.selectbox(key="compare_metric").set_value("mistake_severity").run()
    assert "not comparable" in json.dumps(plotly_specs(at)["compare"]["layout"]["title"])


def test_csv_exports(seeded):
    at = open_page()
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert set(buttons) == {"Table as CSV", "Every run's metrics as CSV"}
    assert all(b.proto.deferred_file_id for b in buttons.values()), "written when clicked, not at every page run"
    table = pd.read_csv(io.BytesIO(compare_views.table_csv(at.dataframe[0].value)))
    assert list(table.columns) == list(at.dataframe[0].value.columns) and len(table) == len(at.dataframe[0].value)
    metrics = pd.read_csv(io.BytesIO(compare_views.metrics_csv(compare_views.load_runs()[0])))
    assert len(metrics) == 4 * 3 and {"run", "title", "dataset", "gamma", "seed", "top1", "nc1"} <= set(metrics)


def test_smoothing_changes_the_curves(seeded):
    at = open_page()
    at.toggle(key="group_seeds").set_value(False).run()
    at.selectbox(key="compare_metric").set_value("train_loss").run()
    raw = plotly_specs(at)["compare"]["data"]
    at.slider(key="smoothing").set_value(3).run()
    assert not at.exception and plotly_specs(at)["compare"]["data"] != raw


def test_title_notes_and_delete_with_confirmation(seeded, runs_root):
    at = open_page()
    at.selectbox(key="manage_run").set_value(0).run()
    name = compare_views.load_runs()[0][0].run.name
    at.text_input(key=f"title_{name}").input("Baseline").run()
    at.text_area(key=f"notes_{name}").input("first try").run()
    at.button(key="save_meta").click().run()
    assert not at.exception
    assert json.loads((runs_root / name / "meta.json").read_text()) == {"title": "Baseline", "notes": "first try"}
    labels = runs_picker(at).options
    assert any("Baseline" in label and "first try" in label for label in labels), "titles and notes in pickers"
    at.button(key="delete_run").click().run()
    assert (runs_root / name).exists(), "nothing happens before the confirmation"
    assert any("trash" in w.value for w in at.warning)
    at.button(key="confirm_delete_no").click().run()
    assert (runs_root / name).exists()
    at.button(key="delete_run").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert not at.exception
    assert not (runs_root / name).exists()
    assert [p.name.startswith(name) for p in (runs_root / TRASH).iterdir()] == [True]


def runs_picker(at):
    """The Compare page's run multiselect (its key follows its labels, so it is found by its label)."""
    return next(m for m in at.multiselect if m.label == "Runs")
