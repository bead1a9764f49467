"""What the Collapse and Mistakes pages draw, built from a run's files: cached snapshot reads,
the animated projection (PCA in a fixed basis, or the projector's epoch-to-epoch UMAP), colourings,
the class-mean heatmaps and the mistake tables. Pages stay a few lines each.

Caches are keyed by each snapshot file's modification time, so a file is read once per change,
and are bounded (``max_entries``). Only small per-epoch results (2-D points, labels, predictions)
are kept, never a whole run's features.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import plots
from app import common
from app.common import labelled_key, projector, run_label
from app.live import rerun_section, watch
from app.projector import Projector, basis_vectors, principal_axes, project
from core import Hierarchy, list_runs, mistakes
from core.metrics import cosine_matrix
from core.runs import RunDir

MAX_ANIMATED_POINTS = 2500  # points per animation frame (evenly spaced subset of the snapshot)
MAX_ANIMATED_EPOCHS = 40  # frames per animation (evenly spaced epochs, first, last and chosen kept)
MAX_POINT_FRAMES = 40_000  # points × frames sent to the browser: fewer frames when points are many
MAX_IMAGE_SIDE = 520  # class-mean heatmaps of more classes are drawn as images of at most this many pixels
LEGEND_MAX = 24  # more groups than this are not distinguishable by colour: the legend shows branches
CORRECT, MISTAKE = "#2ca02c", "#d62728"
EVAL_KEYS = ("eval_labels", "eval_predictions", "eval_crm_predictions", "labels", "predictions")


# --------------------------------------------------------------------------------------------- runs
def pick_run(key: str) -> RunDir | None:
    """The run picker every run page shares (titles, notes and states in the labels)."""
    runs = list_runs(common.RUNS_ROOT)  # read at call time: tests move the store
    if not runs:
        st.info("No runs yet: start one on the Train page or with `python -m core.train`.")
        return None
    names, labels = [r.name for r in runs], [run_label(r) for r in runs]
    remembered = st.session_state.get(key) or st.session_state.get("active_run")
    index = names.index(remembered) if remembered in names else 0
    choice = st.selectbox("Run", range(len(runs)), index=index, format_func=labels.__getitem__,
                          key=labelled_key(key, labels))
    st.session_state[key] = names[choice]
    return runs[choice]


def _file_stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(max_entries=16, show_spinner=False)
def _hierarchy(path: str, stamp: int) -> Hierarchy:
    return RunDir(Path(path)).hierarchy()


def hierarchy_of(run: RunDir) -> Hierarchy:
    """The run's hierarchy, parsed once per change of hierarchy.json: the object is shared, so its
    cached tree order, distances and LCAs (seconds at K = 1010) are computed once, not per page run."""
    return _hierarchy(str(run.path), _file_stamp(run.path / "hierarchy.json"))


@st.cache_resource(max_entries=16, show_spinner=False)
def _frame(path: str, stamp: int) -> dict[str, np.ndarray]:
    return RunDir(Path(path)).frame()


def frame_of(run: RunDir) -> dict[str, np.ndarray]:
    """frame.npz (weights (K, d), target (K, K)), read once per change of the file (do not mutate)."""
    return _frame(str(run.path), _file_stamp(run.path / "frame.npz"))


def run_hierarchy(run: RunDir) -> Hierarchy | None:
    """The run's hierarchy, or None after saying why there is none yet."""
    try:
        return hierarchy_of(run)
    except (OSError, ValueError, KeyError):  # not written yet, or a damaged/foreign run directory
        status = run.status()
        if status.get("state") == "failed":
            st.error(f"This run failed before its first evaluation: {status.get('error')}")
        elif run.live():
            st.info("This run is still preparing its data; its features appear here after the first evaluation.")
        else:
            st.error(f"Run {run.name} has no readable hierarchy.json, so its features cannot be shown.")
        return None


def _stamp(run: RunDir, epoch: int) -> int:
    try:
        return (run.path / "snapshots" / f"epoch_{epoch:03d}.npz").stat().st_mtime_ns
    except OSError:
        return 0


def snapshots_or_wait(run: RunDir, waiting: str) -> tuple[Hierarchy, list[int]]:
    """The run's hierarchy and snapshot epochs; until it has both the page says why (``waiting`` while its first
    evaluation is to come), follows the run, and stops."""
    hierarchy = run_hierarchy(run)
    epochs = run.snapshot_epochs() if hierarchy else []
    if hierarchy and not epochs:
        st.info(waiting)
    if not epochs:
        follow(run)
        st.stop()
    return hierarchy, epochs


def epoch_slider(place, label: str, epochs: list[int], key: str) -> int:
    """The epoch picked on ``place``; it follows a live run's newest epoch unless the viewer moved it away.

    While it follows, the slider is a new widget per newest epoch (key ``{key}@{epoch}``, value the newest): a
    request the browser composed before it saw the newest epoch (a click on another widget in that instant) names
    the old slider, which no longer exists, so it cannot pin the view to an old epoch by accident. Once the viewer
    picks another epoch it is pinned under ``key`` until they move it back to the newest."""
    if len(epochs) == 1:
        return epochs[0]
    newest, pinned_key = epochs[-1], f"{key}_pinned"
    following_key = f"{key}@{newest}"
    moved = st.session_state.get(following_key)  # the viewer moved the following slider in the last run
    if moved is not None and moved != newest:
        st.session_state[pinned_key] = st.session_state[key] = moved
    pinned = st.session_state.get(pinned_key)
    if pinned not in epochs or st.session_state.get(key) == newest:
        pinned = st.session_state[pinned_key] = None  # moved back to the newest (or gone): follow again
    if pinned is None:
        return place.select_slider(label, epochs, value=newest, key=following_key)
    return place.select_slider(label, epochs, key=key)


def follow(run: RunDir, view: ProjectionView | None = None) -> None:
    """Rerun the page when the run's files change while it is live, or when a UMAP layout ``view`` waits
    for lands (:func:`app.live.watch`: file stats only, nothing polled once the run and UMAP are done). A UMAP
    view has the newest epoch's layout started the moment its snapshot is written, before the page reruns."""
    prepare = None
    if view is not None and view.umap:
        umap = projector()  # taken here: the follower's thread, which calls ``prepare``, has no script run
        prepare = lambda: extend_chain(umap, run, run.snapshot_epochs())  # noqa: E731
    if view is None or not view.waiting:
        watch(run, prepare=prepare)
        return
    watch(run, pending=True, extra=projector().version, prepare=prepare)
    if projector().version() != view.version:  # it landed while this page was drawn, before watch() looked
        rerun_section()


@st.cache_resource(max_entries=8)
def _snapshot(path: str, epoch: int, stamp: int) -> dict[str, np.ndarray]:
    return RunDir(Path(path)).snapshot(epoch)


def snapshot(run: RunDir, epoch: int) -> dict[str, np.ndarray]:
    """One epoch's snapshot (read once per file change; a few kept)."""
    return _snapshot(str(run.path), epoch, _stamp(run, epoch))


@st.cache_resource(max_entries=1024)
def _eval_arrays(path: str, epoch: int, stamp: int) -> dict[str, np.ndarray]:
    return RunDir(Path(path)).snapshot_arrays(epoch, EVAL_KEYS)


def outcomes(run: RunDir, epoch: int, crm: bool) -> mistakes.Outcomes:
    return mistakes.outcomes_of(_eval_arrays(str(run.path), epoch, _stamp(run, epoch)), crm)


# --------------------------------------------------------------------------------------------- colours
@dataclass(frozen=True)
class Colouring:
    """How points are coloured: by ``kind`` "group" (class or ancestor at ``level``), "outcome" or "height"."""

    kind: str
    level: int = 0
    label: str = ""


def colourings(hierarchy: Hierarchy) -> list[Colouring]:
    """The colour-by menu: class, every ancestor level, correct/mistake, LCA height of the mistake."""
    out = []
    for level in range(hierarchy.height, 0, -1):
        groups = len(set(hierarchy.ancestor_at(level)))
        name = "class" if level == hierarchy.height else f"ancestor at depth {level}"
        out.append(Colouring("group", level, f"{name} ({groups} groups)"))
    out += [Colouring("outcome", label="correct / mistake"), Colouring("height", label="LCA height of the mistake")]
    return out


def default_colouring(options: list[Colouring]) -> int:
    """The finest grouping whose colours stay distinguishable."""
    for i, c in enumerate(options):
        if c.kind == "group" and int(c.label.rsplit("(", 1)[1].split()[0]) <= LEGEND_MAX:
            return i
    return 0


def _group_colours(hierarchy: Hierarchy, level: int) -> tuple[list[str], list[tuple[str, str]]]:
    """(K,) colour per class and a legend of at most LEGEND_MAX entries (branches when groups are many)."""
    order = hierarchy.tree_order()
    ancestors = hierarchy.ancestor_at(level)
    groups = list(dict.fromkeys(ancestors[i] for i in order))
    legend_level = level
    while len(set(hierarchy.ancestor_at(legend_level))) > LEGEND_MAX and legend_level > 1:
        legend_level -= 1
    branch = dict(zip(ancestors, hierarchy.ancestor_at(min(1, level))))
    colour_of = plots.tree_palette(groups, [branch[g] for g in groups])
    per_class = [colour_of[a] for a in ancestors]
    legend_groups = hierarchy.ancestor_at(legend_level)
    legend = {}
    for i in order:  # first class of each legend group gives its colour
        legend.setdefault(hierarchy.display(legend_groups[i]), per_class[i])
    return per_class, list(legend.items())[:LEGEND_MAX]


def _palette(colouring: Colouring, per_class: list[str], max_height: int) -> tuple[list[str], np.ndarray | None]:
    """The colours points can take and, for group colourings, each class's index into them."""
    if colouring.kind == "group":
        colours = list(dict.fromkeys(per_class))
        position = {c: i for i, c in enumerate(colours)}
        return colours, np.array([position[c] for c in per_class])
    if colouring.kind == "outcome":
        return [CORRECT, MISTAKE], None
    return ["#c9c9c9", *plots.height_colours(max_height)], None


def _colour_index(colouring: Colouring, class_index: np.ndarray | None, labels: np.ndarray,
                  heights: np.ndarray) -> np.ndarray:
    if colouring.kind == "group":
        return class_index[labels]
    return (heights > 0).astype(int) if colouring.kind == "outcome" else heights


def _legend(colouring: Colouring, group_legend: list[tuple[str, str]], max_height: int) -> list[tuple[str, str]]:
    if colouring.kind == "group":
        return group_legend
    if colouring.kind == "outcome":
        return [("correct", CORRECT), ("mistake", MISTAKE)]
    return [("correct", "#c9c9c9"), *((f"height {h}", c) for h, c in
                                      zip(range(1, max_height + 1), plots.height_colours(max_height)))]


# --------------------------------------------------------------------------------------------- projection
@st.cache_resource(max_entries=512)
def _pca_epoch(path: str, epoch: int, stamp: int, axes_digest: str, _axes: np.ndarray) -> dict[str, np.ndarray]:
    """A snapshot in the run's fixed PCA basis: points, class means and classifier rows (2-D), labels, predictions."""
    snap = RunDir(Path(path)).snapshot(epoch)
    means = np.asarray(snap["class_means"], np.float64)
    out = {"points": project(snap["features"], _axes), "labels": snap["labels"].astype(np.int64),
           "predictions": snap["predictions"].astype(np.int64), "means": project(np.nan_to_num(means), _axes),
           "mean_norm": float(np.nanmean(np.linalg.norm(means, axis=1)))}
    if "classifier" in snap:
        out["classifier"] = np.asarray(snap["classifier"], np.float64)
    return out


def _evenly(items: list, most: int, keep: tuple = ()) -> list:
    if len(items) <= most:
        return list(items)
    picked = {items[int(round(i))] for i in np.linspace(0, len(items) - 1, most)} | set(keep)
    return [x for x in items if x in picked]


def _frame_vectors(frame: dict, view: dict, scale: float) -> np.ndarray | None:
    """(K, d) the run's fixed frame weights, else this epoch's classifier; scaled to the class means' norm."""
    vectors = frame.get("weights")
    if vectors is None:
        vectors = view.get("classifier")
    if vectors is None:
        return None
    norms = np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    return vectors / norms * scale


@dataclass(frozen=True)
class ProjectionView:
    """The animated projection, the caption's ``note``, and for UMAP whether a layout is still being
    computed (``waiting``) and the projector's :meth:`~app.projector.Projector.version` it was drawn at."""

    figure: go.Figure
    note: str
    umap: bool = False
    waiting: bool = False
    version: int = 0


def projection(run: RunDir, hierarchy: Hierarchy, epochs: list[int], epoch: int, method: str,
               colouring: Colouring) -> ProjectionView:
    """The animated projection of ``run`` over (up to MAX_ANIMATED_EPOCHS of) ``epochs``, starting at ``epoch``.

    PCA: every epoch, at once. UMAP: the epochs whose layouts are ready (they are computed in epoch
    order, each from the previous one's layout, and drawn as they land); PCA until the first is ready.
    The figure is cached by the snapshots' stamps (and the ready layouts), so a page run that changed
    nothing rebuilds nothing."""
    n = len(snapshot(run, epochs[-1])["labels"])
    n_drawn = min(n, MAX_ANIMATED_POINTS)
    shown = _evenly(epochs, max(2, min(MAX_ANIMATED_EPOCHS, MAX_POINT_FRAMES // n_drawn)),
                    keep=(epochs[0], epochs[-1], epoch))
    stamps = tuple(_stamp(run, e) for e in shown)
    colour = (colouring.kind, colouring.level, colouring.label)
    path = str(run.path)
    if method != "UMAP":
        figure, note = _figure(path, tuple(shown), stamps, epoch, colour, (), _hierarchy=hierarchy, _layouts={})
        return ProjectionView(figure, note)
    version = projector().version()  # read first: a layout landing from here on reruns the page
    layouts, waiting, problem = _umap_layouts(run, epochs, shown)
    ready = [e for e in shown if e in layouts]
    if not ready:
        figure, note = _figure(path, tuple(shown), stamps, epoch, colour, (), _hierarchy=hierarchy, _layouts={})
        why = problem or f"computing epoch {waiting}'s layout, the first of {len(shown)}"
        return ProjectionView(figure, f"{note}; UMAP replaces it when its first layout is ready ({why})",
                              umap=True, waiting=waiting is not None, version=version)
    start = epoch if epoch in layouts else ready[-1]
    figure, note = _figure(path, tuple(ready), tuple(stamps[shown.index(e)] for e in ready), start, colour,
                           tuple(ready), _hierarchy=hierarchy, _layouts=layouts)
    if len(ready) < len(shown):
        rest = (f"epoch {waiting}'s is being computed and the others follow, each as it lands" if problem == ""
                else problem)
        note += (f"; UMAP layouts of {len(ready)} of {len(shown)} epochs ({ready[0]}–{ready[-1]}) are ready and "
                 f"animated, {rest}" + ("" if start == epoch else f"; showing epoch {start}, the latest ready"))
    return ProjectionView(figure, note, umap=True, waiting=waiting is not None, version=version)


@st.cache_resource(max_entries=8, show_spinner=False)
def _figure(path: str, shown: tuple[int, ...], stamps: tuple[int, ...], epoch: int, colour: tuple, umap: tuple,
            _hierarchy: Hierarchy, _layouts: dict[int, np.ndarray]) -> tuple[go.Figure, str]:
    """(figure, note) of the projection over ``shown`` epochs: in the fixed PCA basis, or the ``_layouts``
    of the ``umap`` epochs (their keys). ``stamps`` (one per epoch) make it rebuilt when a snapshot changes."""
    run, hierarchy, colouring = RunDir(Path(path)), _hierarchy, Colouring(*colour)
    frame = frame_of(run)
    epochs = list(shown)
    axes = principal_axes(basis_vectors(frame, snapshot(run, epochs[-1])))
    digest = hashlib.sha1(axes.tobytes()).hexdigest()
    views = {e: _pca_epoch(path, e, s, digest, axes) for e, s in zip(epochs, stamps)}
    note = "PCA in a basis fixed for the whole run (the frame's principal plane)"
    points = {e: v["points"] for e, v in views.items()}
    means = {e: v["means"] for e, v in views.items()}
    if umap:
        points = {e: _layouts[e] for e in epochs}
        means = {e: _centroids(points[e], views[e]["labels"], hierarchy.num_classes) for e in epochs}
        note = "UMAP, each epoch started from the previous one's layout (so points move only as their features " \
               "do); class means are the centroids of their class's points (frame vectors have no place in a UMAP layout)"
    distances = hierarchy.distance_matrix()
    per_class, group_legend = _group_colours(hierarchy, colouring.level or hierarchy.height)
    scale = views[epochs[-1]]["mean_norm"]
    n = len(views[epochs[-1]]["labels"])
    keep = np.unique(np.linspace(0, n - 1, min(n, MAX_ANIMATED_POINTS)).round().astype(int))
    colours, class_index = _palette(colouring, per_class, int(distances.max()))
    leaves = [hierarchy.display(leaf) for leaf in hierarchy.leaves]
    paths = [" → ".join(hierarchy.display(a) for a in hierarchy.ancestors(leaf)[1:]) for leaf in hierarchy.leaves]
    labels = views[epochs[0]]["labels"][keep]
    args = dict(points=[], colour_index=[], predicted=[], means=[], frame=[])
    for e in epochs:
        view = views[e]
        preds = view["predictions"][keep]
        heights = mistakes.mistake_heights(labels, preds, distances)
        args["points"].append(np.asarray(points[e])[keep])
        args["colour_index"].append(_colour_index(colouring, class_index, labels, heights))
        # Every frame carries this text for every point: a correct prediction needs no class name (the true path
        # is the hover's first line), which keeps long runs' animations a fraction of the size.
        args["predicted"].append(["✓ correct" if h == 0 else f"✗ {leaves[p]} (LCA height {h})"
                                  for p, h in zip(preds, heights)])
        args["means"].append(means[e])
        vectors = _frame_vectors(frame, view, scale if "weights" in frame else view["mean_norm"])
        args["frame"].append(project(vectors, axes) if vectors is not None and not umap else None)
    fig = plots.animated_projection(epochs, **args, colours=colours, paths=[f"true: {paths[y]}" for y in labels],
                                    class_names=leaves, legend=_legend(colouring, group_legend,
                                                                        int(distances.max())),
                                    title=f"Penultimate features, epochs {epochs[0]}–{epochs[-1]}",
                                    start=epochs.index(epoch))
    if n > len(keep):
        note += f"; {len(keep)} of the snapshot's {n} points drawn"
    return fig, note


def _centroids(points: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, 2))
    np.add.at(sums, labels, points)
    counts = np.bincount(labels, minlength=k)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def extend_chain(umap: Projector, run: RunDir, epochs: list[int], read: Callable[[int], dict] | None = None) -> None:
    """Queue the UMAP layout of the newest of ``run``'s snapshot ``epochs`` when the one before it is ready: the
    epoch a page following the live run draws next (called by the page, and by the server's follower as soon as the
    snapshot is written). Not before: a newest epoch started from an older layout would jump at the animation's end.
    ``read(epoch)`` gives a snapshot (the page's cached reader; the follower's thread reads the file itself)."""
    if len(epochs) >= 2:
        newest = epochs[-1]
        read = read or (lambda e: run.snapshot_arrays(e, ("features",)))
        with contextlib.suppress(OSError, ValueError, KeyError):  # unreadable: the page's own read of it says why
            umap.extend(str(run.path), epochs[-2], newest, lambda: read(newest)["features"])


def _umap_layouts(run: RunDir, epochs: list[int], shown: list[int]) -> tuple[dict[int, np.ndarray], int | None, str]:
    """(the ready UMAP layouts of the ``shown`` epochs; the epoch being computed or None; why UMAP stopped, or "").

    Layouts are asked for in epoch order (each starts from the previous one's), so only the earliest missing epoch
    is queued, and its snapshot is read only then; except the run's newest epoch (of all its ``epochs``), queued
    first when the one before it is ready (:func:`extend_chain`): a page following a live run shows each new epoch
    at once, while older epochs newly picked for the animation fill in behind it."""
    path, done, waiting = str(run.path), {}, None
    try:
        extend_chain(projector(), run, epochs, read=lambda e: snapshot(run, e))
        for e in shown:
            layout = projector().layout(path, e)
            if layout is None and waiting is None:
                layout = projector().umap(path, e, snapshot(run, e)["features"])
                waiting = None if layout is not None else e
            if layout is not None:
                done[e] = layout
    except RuntimeError as err:
        return done, None, str(err)
    return done, waiting, ""


# --------------------------------------------------------------------------------------------- heatmaps
def mean_heatmaps(run: RunDir, hierarchy: Hierarchy, epoch: int) -> tuple[go.Figure, go.Figure]:
    """Class-mean cosines at ``epoch`` and the target cosines, tree-ordered (images for large K); built once
    per change of the snapshot, frame or hierarchy file and shared: copy a figure before changing it."""
    return _mean_heatmaps(str(run.path), epoch, _stamp(run, epoch), _file_stamp(run.path / "frame.npz"),
                          _file_stamp(run.path / "hierarchy.json"), _hierarchy=hierarchy)


@st.cache_resource(max_entries=16, show_spinner=False)
def _mean_heatmaps(path: str, epoch: int, stamp: int, frame_stamp: int, hierarchy_stamp: int,
                   _hierarchy: Hierarchy) -> tuple[go.Figure, go.Figure]:
    run, hierarchy = RunDir(Path(path)), _hierarchy
    order = hierarchy.tree_order()
    labels = [hierarchy.display(hierarchy.leaves[i]) for i in order]
    spans = hierarchy.group_spans(1)
    means = cosine_matrix(np.nan_to_num(snapshot(run, epoch)["class_means"]))[np.ix_(order, order)]
    target = frame_of(run)["target"][np.ix_(order, order)]
    return (_cosine_figure(means, labels, spans, f"Class-mean cosines, epoch {epoch}"),
            _cosine_figure(target, labels, spans, "Target cosines (the frame)"))


def _cosine_figure(matrix: np.ndarray, labels: list[str], spans, title: str) -> go.Figure:
    from app.frame_views import heatmap_figure, matrix_png

    if len(labels) > plots.MAX_HOVER_NAMES:
        step = -(-len(labels) // MAX_IMAGE_SIDE)  # every step-th class: a lighter picture for the page
        uri, inner = matrix_png(matrix[::step, ::step], -1, 1, plots.COSINE_SCALE)
        return heatmap_figure(title, labels, spans, zmin=-1, zmax=1, scale=plots.COSINE_SCALE,
                              image=(uri, inner * step))
    return plots.cosine_heatmap(matrix, labels, title)


# --------------------------------------------------------------------------------------------- mistakes
def mistake_tables(run: RunDir, hierarchy: Hierarchy, epochs: list[int], epoch: int, crm: bool):
    """(stacked bars over epochs, histogram at ``epoch``, confusion figure, confused-pairs rows), built once
    per change of the snapshots (or of the epoch and CRM choice) and shared: do not change them."""
    stamps = tuple(_stamp(run, e) for e in epochs)
    return _mistake_tables(str(run.path), tuple(epochs), stamps, epoch, crm,
                           _file_stamp(run.path / "hierarchy.json"), _hierarchy=hierarchy)


@st.cache_resource(max_entries=8, show_spinner=False)
def _mistake_tables(path: str, epochs: tuple[int, ...], stamps: tuple[int, ...], epoch: int, crm: bool,
                    hierarchy_stamp: int, _hierarchy: Hierarchy):
    run, hierarchy = RunDir(Path(path)), _hierarchy
    distances = hierarchy.distance_matrix()
    per_epoch = {e: outcomes(run, e, crm) for e in epochs}
    shown, table = mistakes.heights_over_epochs(per_epoch, distances)
    tag = " · CRM re-ranked" if crm else ""
    bars = plots.mistakes_over_epochs(shown, table, f"Mistakes by LCA height over epochs{tag}")
    at = per_epoch[epoch]
    hist = plots.mistake_histogram(mistakes.height_counts(at.labels, at.predictions, distances),
                                   f"Mistakes by LCA height, epoch {epoch}{tag}")
    order = hierarchy.tree_order()
    labels = [hierarchy.display(hierarchy.leaves[i]) for i in order]
    lca = None
    if hierarchy.num_classes <= plots.MAX_HOVER_NAMES:
        names = np.array([hierarchy.display(n) for n in hierarchy.names], dtype=object)
        lca = names[hierarchy.lca_matrix()][np.ix_(order, order)]
    matrix = mistakes.confusion(at.labels, at.predictions, hierarchy.num_classes, order)
    conf = plots.confusion_figure(matrix, labels, hierarchy.group_spans(1),
                                  f"Confusions in tree order, epoch {epoch}{tag}", lca)
    pairs = mistakes.confused_pairs(at.labels, at.predictions, hierarchy, distances, top=15)
    return bars, hist, conf, pairs
