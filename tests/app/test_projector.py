"""The projector's PCA: one basis for every epoch of a run (the frame's principal plane), deterministic signs;
its UMAP queue: newer epochs replace queued ones, each epoch starts from the previous layout."""
import threading
import time
from pathlib import Path

import numpy as np

from app.projector import (UMAP_APPROXIMATE_FROM, WARM_UP_POINTS, Projector, basis_vectors, cosine_neighbours, pca_2d,
                           principal_axes, project)


def test_axes_are_orthonormal_and_deterministic():
    vectors = np.random.default_rng(0).normal(size=(12, 6))
    axes = principal_axes(vectors)
    assert axes.shape == (2, 6)
    assert np.allclose(axes @ axes.T, np.eye(2))
    assert np.array_equal(axes, principal_axes(vectors.copy()))
    assert np.array_equal(principal_axes(-vectors), axes), "signs do not depend on the vectors' signs"


def test_fixed_basis_moves_points_only_when_features_move():
    rng = np.random.default_rng(1)
    frame = {"weights": rng.normal(size=(5, 8))}
    early = rng.normal(size=(50, 8))
    late = early.copy()
    late[:10] += 3.0  # only ten features change between the two epochs
    axes = principal_axes(basis_vectors(frame, {"features": late}))
    moved = np.linalg.norm(project(late, axes) - project(early, axes), axis=1)
    assert np.all(moved[10:] == 0) and np.all(moved[:10] > 0)
    # Per-epoch PCA, by contrast, re-orients everything when a few points move.
    assert not np.allclose(pca_2d(late)[10:], pca_2d(early)[10:])


def test_basis_falls_back_to_the_classifier_then_class_means():
    rng = np.random.default_rng(2)
    snapshot = {"features": rng.normal(size=(20, 4)), "classifier": rng.normal(size=(3, 4)),
                "class_means": rng.normal(size=(3, 4))}
    assert basis_vectors({}, snapshot) is snapshot["classifier"]
    snapshot["classifier"] = np.full((3, 4), np.nan)
    assert basis_vectors({}, snapshot) is snapshot["class_means"]


def test_one_dimensional_features_are_padded():
    points = project(np.arange(6.0).reshape(6, 1), principal_axes(np.arange(4.0).reshape(4, 1)))
    assert points.shape == (6, 2) and np.all(points[:, 1] == 0)


class GatedWorker:
    """The projector's worker process replaced by an in-process PCA that answers only when the test lets it
    (UMAP itself needs its numba compilation: tests of the queue need not wait for it)."""

    def __init__(self):
        self.gate = threading.Semaphore(0)
        self.calls: list[dict] = []

    def call(self, **arrays):
        assert self.gate.acquire(timeout=60), "the test never let this job finish"
        self.calls.append(arrays)
        return pca_2d(arrays["features"]).astype(np.float32)

    def close(self):
        pass


def gated_projector() -> tuple[Projector, GatedWorker]:
    projector, worker = Projector(), GatedWorker()
    projector._worker = worker
    return projector, worker


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_newer_epoch_replaces_a_queued_one_without_deadlock():
    projector, worker = gated_projector()
    features = np.random.default_rng(0).normal(size=(30, 5))
    assert projector.umap("other", 0, features) is None  # occupies the single job thread
    assert projector.umap("a", 1, features) is None  # queued behind it
    asked = threading.Thread(target=projector.umap, args=("a", 2, features), daemon=True)
    asked.start()  # cancels the queued epoch 1 (its callback takes the projector's lock)
    asked.join(timeout=10)
    assert not asked.is_alive(), "asking for a newer epoch deadlocked"
    assert not projector.pending("a", 1) and projector.pending("a", 2) and projector.pending_run("a")
    before = projector.version()
    worker.gate.release()
    worker.gate.release()
    wait_for(lambda: projector.layout("a", 2) is not None)
    assert projector.layout("a", 1) is None and not projector.pending_run("a")
    assert projector.version() >= before + 2, "every job that ended counts, so waiting pages rerun"
    projector.close()


def test_each_epoch_starts_from_the_previous_layout():
    projector, worker = gated_projector()
    features = np.random.default_rng(1).normal(size=(30, 5))
    projector.umap("a", 0, features)
    worker.gate.release()
    wait_for(lambda: projector.layout("a", 0) is not None)
    projector.umap("a", 1, features + 0.1)
    worker.gate.release()
    wait_for(lambda: projector.layout("a", 1) is not None)
    assert "init" not in worker.calls[0]
    np.testing.assert_array_equal(worker.calls[1]["init"], projector.layout("a", 0))
    projector.close()


class SuspendableWorker(GatedWorker):
    """A gated worker that records the suspend/continue signals the warm-up supervisor sends it."""

    def __init__(self):
        super().__init__()
        self.signals: list[bool] = []

    def suspend(self, pause: bool) -> bool:
        self.signals.append(pause)
        return True


def kinds(calls: list[dict]) -> list:
    """The worker's jobs: a compile's snapshot size, or a layout's number of points."""
    return [int(c["warm"]) if "warm" in c else len(c["features"]) for c in calls]


def nn_descent_compiled_once_idle(projector: Projector, worker: GatedWorker, training: dict) -> None:
    """NN-descent's compile (no layout so far needs it) is not made beside the training, and is once it ends."""
    time.sleep(0.2)
    assert projector._warm_approximate is None, "NN-descent's compile waits for idle cycles"
    training["on"] = False
    wait_for(lambda: projector._warm_approximate is not None)
    worker.gate.release()
    wait_for(lambda: projector._warm_approximate.done())


def test_the_umap_compile_waits_for_idle_and_is_suspended_while_a_training_needs_the_cpu():
    projector, worker = Projector(), SuspendableWorker()
    projector._worker = worker
    training = {"on": True}
    projector.warm_up_when(lambda: not training["on"], check_s=0.01)
    time.sleep(0.2)
    assert not worker.calls and projector._warm is None, "no compile while a training runs"
    training["on"] = False
    wait_for(lambda: projector._warm is not None)  # idle: the compile starts (the gated worker holds it)
    training["on"] = True
    wait_for(lambda: worker.signals == [True])  # a training started: the worker is stopped
    features = np.random.default_rng(0).normal(size=(30, 5))
    assert projector.umap("run", 0, features) is None  # a page wants a layout: it needs the compile now
    wait_for(lambda: worker.signals == [True, False])
    worker.gate.release()  # the compile ends
    worker.gate.release()  # and the page's layout
    wait_for(lambda: projector.layout("run", 0) is not None)
    assert projector.warm and worker.signals == [True, False]
    nn_descent_compiled_once_idle(projector, worker, training)
    assert kinds(worker.calls) == [WARM_UP_POINTS[0], 30, WARM_UP_POINTS[1]]
    assert WARM_UP_POINTS[0] < UMAP_APPROXIMATE_FROM <= WARM_UP_POINTS[1], "one compile per neighbour search"


class KillableWorker(SuspendableWorker):
    """A suspendable gated worker whose kill() fails the call it is in (as a killed worker process does)."""

    def __init__(self):
        super().__init__()
        self.kills = 0
        self._dying = False

    def kill(self):
        self.kills += 1
        self._dying = True
        self.gate.release()

    def call(self, **arrays):
        assert self.gate.acquire(timeout=60), "the test never let this job finish"
        self.calls.append(arrays)
        if self._dying:
            self._dying = False
            raise RuntimeError("the UMAP worker stopped")
        return pca_2d(arrays["features"]).astype(np.float32) if "features" in arrays else np.zeros((0, 2))


def nn_descent_compile_paused_by_a_training() -> tuple[Projector, KillableWorker, dict]:
    projector, worker = Projector(), KillableWorker()
    projector._worker = worker
    training = {"on": False}
    projector.warm_up_when(lambda: not training["on"], check_s=0.01)
    wait_for(lambda: projector._warm is not None)
    worker.gate.release()  # the exact-neighbour path compiled on idle cycles
    wait_for(lambda: projector._warm_approximate is not None)  # still idle: NN-descent's compile starts
    training["on"] = True
    wait_for(lambda: worker.signals == [True])  # a training started: the worker is stopped
    return projector, worker, training


def test_nn_descent_s_compile_gives_way_to_a_small_layout_a_page_waits_for_during_a_training():
    projector, worker, training = nn_descent_compile_paused_by_a_training()
    projector.umap("run", 0, np.random.default_rng(0).normal(size=(600, 5)))
    wait_for(lambda: worker.kills == 1)  # not resumed for half a minute at nice 19 first: killed
    worker.gate.release()  # the page's layout, in a new worker
    wait_for(lambda: projector.layout("run", 0) is not None)
    nn_descent_compiled_once_idle(projector, worker, training)  # made again, not beside the training
    assert kinds(worker.calls) == [WARM_UP_POINTS[0], WARM_UP_POINTS[1], 600, WARM_UP_POINTS[1]]
    assert worker.kills == 1


def test_a_layout_queued_before_nn_descent_s_compile_is_never_what_gets_killed():
    projector, worker = Projector(), KillableWorker()
    projector._worker = worker
    training = {"on": False}
    projector.warm_up_when(lambda: not training["on"], check_s=0.01)
    wait_for(lambda: projector._warm is not None)  # the exact-neighbour compile runs (held by the gate)
    projector.umap("run", 0, np.random.default_rng(0).normal(size=(600, 5)))  # queued behind it
    worker.gate.release()
    wait_for(lambda: projector._warm_approximate is not None)  # still idle: NN-descent's queued behind the layout
    training["on"] = True  # a training, and a page waiting: the running job is the layout, not the compile
    time.sleep(0.2)
    worker.gate.release()
    wait_for(lambda: projector.layout("run", 0) is not None)
    assert worker.kills == 0
    wait_for(lambda: worker.signals == [True])  # the compile, with no page waiting, is stopped instead
    assert kinds(worker.calls) == [WARM_UP_POINTS[0], 600]


def test_a_large_layout_waits_for_nn_descent_s_compile_it_needs_anyway():
    projector, worker, training = nn_descent_compile_paused_by_a_training()
    projector.umap("run", 0, np.random.default_rng(0).normal(size=(UMAP_APPROXIMATE_FROM, 5)))
    wait_for(lambda: worker.signals == [True, False])  # resumed, not killed
    worker.gate.release()
    worker.gate.release()
    wait_for(lambda: projector.layout("run", 0) is not None)
    assert kinds(worker.calls) == [WARM_UP_POINTS[0], WARM_UP_POINTS[1], UMAP_APPROXIMATE_FROM]
    assert worker.kills == 0 and projector._warm_approximate.done()


def test_the_first_layout_is_the_compile():
    projector, worker = gated_projector()
    projector.umap("run", 0, np.random.default_rng(0).normal(size=(30, 5)))
    projector.warm_up()  # the queued layout compiles the exact-neighbour path: only NN-descent's is added
    worker.gate.release()
    worker.gate.release()
    wait_for(lambda: projector.warm and projector._warm_approximate.done())
    assert kinds(worker.calls) == [30, WARM_UP_POINTS[1]]


def test_extend_queues_the_newest_epoch_only_from_a_ready_previous_layout():
    projector, worker = gated_projector()
    features = np.random.default_rng(2).normal(size=(30, 5))
    reads = []

    def read(epoch):
        return lambda: reads.append(epoch) or features + epoch

    assert not projector.extend("a", 0, 1, read(1)), "no layout of epoch 0 yet: a newest epoch would start cold"
    assert not reads, "the snapshot is not read for nothing"
    projector.umap("a", 0, features)
    worker.gate.release()
    wait_for(lambda: projector.layout("a", 0) is not None)
    assert projector.extend("a", 0, 1, read(1)) and projector.pending("a", 1)
    assert not projector.extend("a", 0, 1, read(1)), "asked once: the follower and the page both ask"
    assert reads == [1]
    worker.gate.release()
    wait_for(lambda: projector.layout("a", 1) is not None)
    np.testing.assert_array_equal(worker.calls[1]["init"], projector.layout("a", 0))
    np.testing.assert_array_equal(worker.calls[1]["features"], np.float32(features + 1))
    assert not projector.extend("a", 0, 1, read(1)), "done: nothing to queue"
    projector.close()


def test_extend_replaces_an_older_epoch_still_waiting():
    projector, worker = gated_projector()
    features = np.random.default_rng(3).normal(size=(30, 5))
    for epoch in (0, 5):  # a page followed the run to epoch 5
        projector.umap("a", epoch, features)
        worker.gate.release()
        wait_for(lambda epoch=epoch: projector.layout("a", epoch) is not None)
    projector.umap("other", 0, features)  # occupies the single job thread
    projector.umap("a", 3, features)  # an older epoch newly picked for the animation, queued behind it
    assert projector.extend("a", 5, 6, lambda: features)
    assert not projector.pending("a", 3) and projector.pending("a", 6), "the newest goes first"
    for _ in range(2):
        worker.gate.release()
    wait_for(lambda: projector.layout("a", 6) is not None)
    np.testing.assert_array_equal(worker.calls[-1]["init"], projector.layout("a", 5))
    projector.close()


def test_layouts_are_kept_within_a_byte_budget_least_recently_used_first():
    projector, worker = Projector(max_bytes=2 * 30 * 2 * 4), GatedWorker()  # two layouts of 30 points (float32)
    projector._worker = worker
    features = np.random.default_rng(4).normal(size=(30, 5))
    for epoch in range(3):
        if epoch == 2:
            assert projector.layout("a", 0) is not None  # epoch 0 used again: epoch 1 is the least recent
        projector.umap("a", epoch, features)
        worker.gate.release()
        wait_for(lambda epoch=epoch: projector.layout("a", epoch) is not None)
    assert projector.layout("a", 1) is None and projector.layout("a", 0) is not None and projector.cached() == 2
    big = Projector(max_bytes=10)
    big._worker = worker
    big.umap("b", 0, features)
    worker.gate.release()
    wait_for(lambda: big.layout("b", 0) is not None)  # larger than the budget: the newest is kept all the same
    projector.close()
    big.close()


def test_cosine_neighbours_are_the_exact_nearest_by_cosine_distance():
    features = np.random.default_rng(5).normal(size=(70, 6)) * np.random.default_rng(6).uniform(0.1, 9, (70, 1))
    indices, distances = cosine_neighbours(features, 9, block=16)  # blocks smaller than the rows: 5 of them
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    full = 1 - unit @ unit.T
    expected = np.argsort(full, axis=1)[:, :9]
    assert indices.shape == distances.shape == (70, 9)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    assert np.all(indices[:, 0] == np.arange(70)) and np.all(np.diff(distances, axis=1) >= 0)


def test_umap_below_the_nn_descent_threshold_is_given_exact_neighbours_and_keeps_its_compiles(monkeypatch):
    """umap's own small-data path called its numba metric from Python once per pair (11 s for 4,000 points); the
    layout gets the exact neighbours from cosine_neighbours instead, and numba keeps umap's compiles on disk."""
    from app import projector

    calls = []
    real = projector.cosine_neighbours
    monkeypatch.setattr(projector, "cosine_neighbours", lambda f, k: calls.append((len(f), k)) or real(f, k))
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 10)) * 5
    labels = np.repeat(np.arange(3), 60)
    features = centres[labels] + rng.normal(size=(180, 10))
    points = projector.umap_2d(features)
    assert calls == [(180, 15)]
    assert points.shape == (180, 2) and np.isfinite(points).all()
    nearest = np.argsort(np.linalg.norm(points[:, None] - points[None], axis=2), axis=1)[:, 1:6]
    assert (labels[nearest] == labels[:, None]).mean() > 0.95, "the three clusters stay apart in the layout"

    import umap.layouts
    from numba.core.dispatcher import Dispatcher

    epoch = next(v for v in vars(umap.layouts).values()
                 if isinstance(v, Dispatcher) and v.py_func.__name__ == "_optimize_layout_euclidean_single_epoch")
    cache_files = [p.name for p in Path(epoch._cache.cache_path).glob("*.nbi")]
    assert any(name.startswith("layouts._optimize_layout_euclidean_single_epoch") for name in cache_files), cache_files
