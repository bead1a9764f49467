"""AppTest of the Frames page: every bundled hierarchy, every control, downloads, and a large-K hierarchy;
plus the page's figure helpers (app/frame_views.py)."""
import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import app.common
from app import frame_views as fv
from app.common import UPLOAD_LABEL
from core import load_bundled

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
FIGURES = 9  # three heatmaps, cosine by distance, γ overlay, spectrum, feasibility, 3-D view, exact view
HEATMAPS_AND_FIRST_TAB = 5  # the heatmaps and the open tab's two charts: the other tabs are lazy
SMALL_TABS = ["Cosine by distance", "Spectrum and feasibility", "The frame in 3-D", "Exact view", "Downloads"]
LARGE_TABS = ["Cosine by distance", "Pair inspector", *SMALL_TABS[1:]]  # above 200 classes


def frames_page(hierarchy: str = "synthetic", upload: tuple[bytes, str] | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    if upload is not None:
        at.session_state["hierarchy_choice"] = UPLOAD_LABEL
        at.session_state["hierarchy_upload"] = upload
    at.run()
    at.switch_page("views/frames.py")
    at.run()
    if upload is None and hierarchy != "synthetic":
        at.sidebar.selectbox[0].select(hierarchy).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart_specs(at: AppTest) -> dict[str, dict]:
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the page's lazy section tabs (only the open one is computed and drawn)."""
    tabs = [t.label for t in at.tabs]
    sections = LARGE_TABS if "Pair inspector" in tabs else SMALL_TABS
    at.session_state[f"frames_section_{len(sections)}"] = label
    return at.run()


def every_tab(at: AppTest) -> tuple[dict[str, dict], list[str]]:
    """The chart specs and download labels of every section tab (opened one after the other), merged."""
    specs, labels = {}, []
    sections = LARGE_TABS if "Pair inspector" in [t.label for t in at.tabs] else SMALL_TABS
    for label in sections:
        open_tab(at, label)
        assert_clean(at)
        specs.update(chart_specs(at))
        labels += [lbl for lbl in download_labels(at) if lbl not in labels]
    open_tab(at, sections[0])
    return specs, labels


def values(data) -> np.ndarray:
    """A plotly JSON array: a list, or plotly 6's base64 typed array {"dtype", "bdata"[, "shape"]}."""
    if isinstance(data, dict) and "bdata" in data:
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
        return array.reshape([int(n) for n in str(data["shape"]).split(",")]) if "shape" in data else array
    return np.asarray(data, dtype=float)


def download_labels(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


@pytest.mark.parametrize("bundled", ["synthetic", "fashion_mnist", "cifar100"])
def test_renders_for_each_bundled_hierarchy(runs_root, bundled):
    at = frames_page(bundled)
    assert_clean(at)
    assert len(chart_specs(at)) == HEATMAPS_AND_FIRST_TAB, "only the open tab's charts are drawn"
    specs, labels = every_tab(at)
    assert len(specs) == FIGURES
    heat = specs["frames_heat_haframe"]["data"][0]
    k = len(load_bundled(bundled).leaves)
    assert heat["type"] == "heatmap" and len(heat["customdata"]) == k, "small K: plotly cells with names in hover"
    assert "%{x}" in heat["hovertemplate"] and "LCA" in heat["hovertemplate"] and len(set(heat["x"])) == k
    assert specs["frames_heat_haframe"]["layout"]["shapes"], "groups are outlined"
    assert "Pair inspector" not in " ".join(m.value for m in at.markdown)
    assert {"frame .npy", "frame .pt", "frame .csv"} <= set(labels) and len(labels) == 3 + FIGURES
    open_tab(at, "Downloads")
    assert all(d.proto.deferred_file_id for d in at.get("download_button")), "downloads are generated on click"


def test_every_control_changes_without_error(runs_root):
    at = frames_page("fashion_mnist")
    k = len(load_bundled("fashion_mnist").leaves)
    at.radio(key="frames_mapping").set_value("linear").run()
    assert_clean(at)
    at.radio(key="frames_mapping").set_value("exponential").run()
    at.slider(key="frames_gamma").set_value(5.0).run()
    assert_clean(at)
    before = chart_specs(at)["frames_heat_haframe"]["data"][0]["z"]
    at.slider(key="frames_gamma").set_value(1.0).run()
    assert chart_specs(at)["frames_heat_haframe"]["data"][0]["z"] != before, "γ changes the heatmap"
    at.radio(key="frames_mode").set_value("grid").run()
    assert_clean(at)
    at.radio(key="frames_mode").set_value("value").run()
    assert_clean(at)
    at.number_input(key="frames_m_value").set_value(0.1).run()
    assert_clean(at)
    assert "**m** = 0.1000" in " ".join(m.value for m in at.markdown)
    open_tab(at, "The frame in 3-D")
    at.number_input(key=f"frames_dim_{fv.tag('fashion_mnist')}").set_value(k + 6).run()
    assert_clean(at)
    assert f"**d = {k + 6}, rotation deterministic.**" in " ".join(m.value for m in at.markdown)
    at.radio(key="frames_rotation").set_value("seeded random").run()
    at.number_input(key="frames_seed").set_value(7).run()
    assert_clean(at)
    at.selectbox(key=f"frames_outline_{fv.tag('fashion_mnist')}").select(2).run()
    assert_clean(at)
    at.selectbox(key=f"frames_colour_{fv.tag('fashion_mnist')}").select(3).run()
    assert_clean(at)
    assert len(every_tab(at)[0]) == FIGURES


def test_level_pickers_follow_the_hierarchy(runs_root):
    at = frames_page("synthetic")
    outline = next(s for s in at.selectbox if s.label == "Outline groups at level")
    assert outline.options == ["level 1 (3 groups)", "level 2 (6 groups)"]
    at.sidebar.selectbox[0].select("cifar100").run()
    assert_clean(at)
    outline = next(s for s in at.selectbox if s.label == "Outline groups at level")
    open_tab(at, "The frame in 3-D")
    colour = next(s for s in at.selectbox if s.label == "Colour by ancestor at level")
    assert outline.options == ["level 1 (20 groups)"] and outline.key.endswith(fv.tag("cifar100"))
    assert colour.options == ["level 1 (20 groups)", "level 2 (100 groups)"]


def test_infeasible_value_keeps_the_feasibility_curve_and_the_error(runs_root):
    at = frames_page("cifar100")
    at.radio(key="frames_mode").set_value("value").run()
    at.number_input(key="frames_m_value").set_value(-0.9).run()
    assert not at.exception
    assert at.error and "infeasible" in at.error[0].value and "m* =" in at.error[0].value
    specs = chart_specs(at)
    assert list(specs) == ["frames_feasibility"], "the curve that explains the error stays on screen"
    curve = specs["frames_feasibility"]
    lines = {a["text"] for a in curve["layout"]["annotations"]}
    assert "m = -0.9000" in lines and any(t.startswith("m* = ") for t in lines)
    assert values(curve["data"][0]["x"]).min() <= -0.9 and values(curve["data"][0]["y"]).min() < 0, \
        "the curve reaches the entered m"
    at.number_input(key="frames_m_value").set_value(0.0).run()  # back to a feasible m
    assert_clean(at)
    assert len(every_tab(at)[0]) == FIGURES


def balanced_tree(branching: tuple[int, ...]) -> dict:
    """A JSON tree with the given branching per level (leaves named by their path)."""
    def node(name, depth):
        if depth == len(branching):
            return {"name": name}
        return {"name": name, "children": [node(f"{name}.{i}", depth + 1) for i in range(branching[depth])]}
    return {"name": "big", "tree": node("r", 0)}


def test_large_hierarchy_uses_images_and_the_pair_inspector(runs_root):
    data = json.dumps(balanced_tree((4, 8, 8))).encode()  # K = 256 > HOVER_MAX_K
    at = frames_page(upload=(data, "big.json"))
    assert_clean(at)
    assert not any(key.startswith("frames_heat_") for key in chart_specs(at)), "large K: pictures, no plotly heatmaps"
    pictures = at.get("image")
    assert len(pictures) == 3 and all(p.value[0] for p in pictures)
    assert [t.label for t in at.tabs] == LARGE_TABS
    open_tab(at, "Pair inspector")
    assert any("Pair inspector" in m.value for m in at.markdown)
    pair_b = next(s for s in at.selectbox if s.label == "class B")
    pair_b.select(200).run()
    assert_clean(at)
    inspector = next(m.value for m in at.markdown if m.value.startswith("LCA"))
    assert "distance d = 3" in inspector and "HAFrame cos" in inspector
    before = [p.value[0] for p in at.get("image")]
    at.slider(key="frames_gamma").set_value(4.0).run()
    after = [p.value[0] for p in at.get("image")]
    assert after[0] != before[0] and after[2] != before[2], "γ changes the HAFrame and the difference"
    assert after[1] == before[1], "the ETF does not depend on γ"
    open_tab(at, "Downloads")
    assert {"heatmap haframe (png)", "heatmap etf (png)"} <= set(download_labels(at))


def test_large_heatmap_picture_matches_the_tree(runs_root):
    """The picture's pixels are the target cosines' colours, its colour bar spans the range, groups outlined."""
    hierarchy = app.common.uploaded(json.dumps(balanced_tree((4, 8, 8))).encode(), "big.json")
    source = "test-big"
    png = fv.heatmap_png(source, hierarchy, "haframe", "exponential", 2.0, 0.0, True, 0)
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    k = hierarchy.num_classes
    assert picture.shape[0] == k and picture.shape[1] > k, "one pixel per class, the colour bar to the right"
    target = fv.cosine_matrices(source, hierarchy, "exponential", 2.0, 0.0)["haframe"]
    zmin, zmax = fv.colour_range("haframe", target, True)
    palette = fv.colour_palette(fv.COSINE_SCALE)
    expected = palette[fv.colour_index(target, zmin, zmax)]
    assert np.array_equal(picture[:, :k], expected)
    outlined = np.asarray(Image.open(io.BytesIO(
        fv.heatmap_png(source, hierarchy, "haframe", "exponential", 2.0, 0.0, True, 1))).convert("RGB"))
    block = k // 4  # level 1: four groups of 64 classes, squares on the diagonal
    assert (outlined[block - 1, :block] == 20).all() and not np.array_equal(outlined[:, :k], picture[:, :k])


def test_class_search_finds_names_and_positions():
    labels = ["lion", "tiger", "sea lion", "otter"] + [f"x{i}" for i in range(20)]
    assert fv.search_classes(labels, "LION", 10) == [0, 2]
    assert fv.search_classes(labels, "1", 3) == [1, 5, 10]  # position 1, "x1", position 10: name or position
    assert fv.search_classes(labels, "", 3) == [0, 1, 2] and fv.search_classes(labels, "zebra", 5) == []


@pytest.mark.parametrize("tree", [
    {"name": "two", "children": [{"name": "a"}, {"name": "b"}]},  # K = 2: the ETF is ±1
    {"name": "flat", "children": [{"name": c} for c in "abcde"]},  # one level: no groups to outline
    {"name": "uneven", "children": [{"name": "x", "children": [{"name": "x1"}, {"name": "x2"}]},
                                    {"name": "y"}, {"name": "z", "children": [{"name": "z1"}]}]},
])
def test_tiny_and_uneven_hierarchies(runs_root, tree):
    at = frames_page(upload=(json.dumps({"tree": tree}).encode(), "tiny.json"))
    assert_clean(at)
    assert len(every_tab(at)[0]) in (FIGURES, FIGURES - 1)  # K = 2: no third class for the exact view
    open_tab(at, "The frame in 3-D")
    exact = any("exact (the vectors span at most 3 dimensions)" in m.value for m in at.markdown)
    assert exact == (tree["name"] != "flat")  # K ≤ 4 at m = m* spans ≤ 3 dimensions; the flat K = 5 does not
    if not exact:
        assert any("PCA: the top 3 principal axes keep" in m.value for m in at.markdown), "the share kept is said"


# ------------------------------------------------------------------------------------------ figure helpers
def test_matrix_png_maps_values_to_the_colour_scale():
    matrix = np.array([[-1.0, 0.0], [0.0, 1.0]])
    uri, step = fv.matrix_png(matrix, -1.0, 1.0, fv.COSINE_SCALE)
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
    assert step == 1 and image.size == (2, 2)
    palette = fv.colour_palette(fv.COSINE_SCALE)
    assert image.getpixel((0, 0)) == tuple(palette[0]) and image.getpixel((1, 1)) == tuple(palette[-1])
    big = np.zeros((fv.IMAGE_MAX_PX + 10, fv.IMAGE_MAX_PX + 10))
    uri, step = fv.matrix_png(big, -1.0, 1.0, fv.COSINE_SCALE)
    assert step == 2 and Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size[0] <= fv.IMAGE_MAX_PX


def test_figures_export_as_standalone_html():
    fig = fv.feasibility_figure(np.linspace(-1, 0, 5), np.array([-1.0, -0.5, 0.0, 0.2, 0.1]), -0.5, -0.4)
    html = fv.figure_html(fig)
    assert "<html>" in html and "cdn.plot.ly" in html and "Feasibility" in html
    assert fv.slug("iNaturalist-2019 (7-level, 1010 species)") == "iNaturalist_2019"
    assert fv.slug("a/b c") == "a_b_c" and fv.slug("(x)") == "hierarchy"


# ------------------------------------------------------------------------------------------ lecture controls
def heat(at: AppTest, kind: str = "haframe") -> dict:
    return chart_specs(at)[f"frames_heat_{kind}"]["data"][0]


def test_fitted_scale_cell_values_and_presenter_layout(runs_root):
    at = frames_page("synthetic")
    assert heat(at)["zmin"] == -1 and heat(at)["zmax"] == 1 and not heat(at).get("texttemplate")
    at.toggle(key="frames_fitted").set_value(True).run()
    assert_clean(at)
    z = values(heat(at)["z"])
    off = z[~np.eye(len(z), dtype=bool)]
    assert heat(at)["zmin"] == pytest.approx(off.min()) and heat(at)["zmax"] == pytest.approx(off.max())
    etf = heat(at, "etf")
    assert etf["zmin"] < values(etf["z"])[0, 1] < etf["zmax"] and etf["zmax"] - etf["zmin"] < 0.2, "ETF: a window on its value"
    at.toggle(key="frames_cells").set_value(True).run()
    assert not heat(at).get("texttemplate"), "12 classes: cells too small for text in the normal layout"
    at.toggle(key="frames_presenter").set_value(True).run()
    assert_clean(at)
    assert heat(at)["texttemplate"] == "%{z:.2f}"
    layout = chart_specs(at)["frames_heat_haframe"]["layout"]
    assert layout["height"] >= 600
    assert (layout["title"]["x"], layout["title"]["xanchor"]) == (0.5, "center"), "the title centred over the square"
    assert [t.label for t in at.tabs][:3] == ["HAFrame", "Simplex ETF", "HAFrame − ETF"]


def test_cell_values_are_offered_for_small_k_only(runs_root):
    at = frames_page("cifar100")
    assert at.toggle(key="frames_cells").disabled


def test_gamma_overlay_draws_several_gammas_and_the_etf(runs_root):
    at = frames_page("synthetic")
    overlay = chart_specs(at)["frames_gamma_overlay"]
    names = [trace["name"] for trace in overlay["data"]]
    assert names[-1] == "ETF" and len(names) >= 1 + len(fv.OVERLAY_GAMMAS) and "γ = 2" in names
    widths = {trace["name"]: trace["line"]["width"] for trace in overlay["data"][:-1]}
    assert widths["γ = 2"] > widths["γ = 10"], "the slider's γ is drawn thick"
    at.radio(key="frames_mapping").set_value("linear").run()
    assert "frames_gamma_overlay" not in chart_specs(at), "the linear mapping has no γ"


def test_3d_view_never_puts_two_classes_on_one_point(runs_root):
    at = open_tab(frames_page("synthetic"), "The frame in 3-D")
    points = [t for t in chart_specs(at)["frames_3d"]["data"] if t.get("mode") == "markers"]
    xyz = np.concatenate([np.column_stack([values(t["x"]), values(t["y"]), values(t["z"])]) for t in points])
    assert len(xyz) == 12 and len(np.unique(np.round(xyz, 6), axis=0)) == 12
    text = " ".join(m.value for m in at.markdown)
    assert "of the frame's variance" in text and "12 classes project onto" in text


def angles_of(at: AppTest):
    return next(d.value for d in at.dataframe if "angle (°)" in d.value.columns)


def test_exact_view_of_three_and_four_classes_and_a_subtree(runs_root):
    at = open_tab(frames_page("synthetic"), "Exact view")
    tag = fv.tag("synthetic")
    angles = angles_of(at)
    assert len(angles) == 3 and chart_specs(at)["frames_exact_view"]["layout"]["title"]["text"].startswith("the vectors")
    at.multiselect(key=f"frames_exact_{tag}").select(5).run()  # a fourth class
    assert_clean(at)
    spec = chart_specs(at)["frames_exact_view"]
    assert "tips" in spec["layout"]["title"]["text"] and len(angles_of(at)) == 6
    subtree = at.selectbox(key=f"frames_exact_subtree_{tag}")
    assert {"alpha", "alpha-1", "gamma-2"} <= set(subtree.options)  # every subtree of 2–4 classes
    subtree.select_index(subtree.options.index("alpha-1")).run()
    assert_clean(at)
    assert list(angles_of(at)["class A"]) == ["alpha-1a"] and list(angles_of(at)["class B"]) == ["alpha-1b"]
    at.selectbox(key=f"frames_exact_subtree_{tag}").select_index(subtree.options.index("alpha")).run()
    assert len(angles_of(at)) == 6, "the 4 classes of alpha: 6 pairs"


def test_exact_view_geometry_is_exact():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(4, 7))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gram = vectors @ vectors.T
    three, tips = fv.exact_view(gram[:3, :3])
    assert not tips and np.allclose(three @ three.T, gram[:3, :3])
    four, tips = fv.exact_view(gram)
    assert tips
    chords = np.sqrt(np.maximum(2 - 2 * gram, 0))
    assert np.allclose(np.linalg.norm(four[:, None] - four[None], axis=-1), chords)
    rows = fv.angles_table(gram[:2, :2], ["a", "b"])
    assert rows[0]["angle (°)"] == pytest.approx(np.degrees(np.arccos(gram[0, 1])), abs=0.01)


def test_spread_coincident_separates_equal_points_only():
    coords = np.array([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    out, points, classes = fv.spread_coincident(coords, list("abcd"))
    assert (points, classes) == (1, 3) and len(np.unique(np.round(out, 9), axis=0)) == 4
    assert np.allclose(out[3], coords[3]) and np.allclose(out[:3].mean(0), coords[0])
