"""2-D projections of feature snapshots that stay put from epoch to epoch and never starve a training.

* PCA is instant and drawn in a basis fixed across the epochs of a run: the plane of the two principal
  axes of the run's frame (for a learnable head: of its classifier at the latest snapshot), so a
  point moves only because its feature moved, and collapse onto the frame reads as points gathering
  at their class vectors.
* UMAP runs in ONE separate worker process (:mod:`app.umap_worker`) at the lowest CPU priority (nice 19)
  with one numba/BLAS thread: it gets only the cycles the training leaves idle, never holds the server's GIL, and its
  numba compilation happens there too. Only the epoch a page asks for is queued; an older epoch of
  the same run still waiting is dropped when a newer one is asked for. Each epoch starts from the
  previous epoch's embedding (same snapshot samples), so layouts move smoothly instead of jumping;
  pages therefore ask for a run's epochs in order and show each layout as soon as it lands. A page that
  follows a live run has its chain extended by :meth:`Projector.extend` the moment a snapshot is written
  (the server's follower calls it), so the newest epoch's layout is computed while the page waits to redraw.
* Results live in an LRU cache bounded in bytes; :meth:`Projector.version` counts finished jobs, so a
  page waiting for a layout can tell that one landed even when the cache is full.

No Streamlit here: the app holds one :class:`Projector` in ``st.cache_resource``.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# Optimisation epochs for a first embedding (umap's own default for n ≤ 10k is 500). A run's first layout is what a
# viewer waits for, at nice 19 beside the training; each later epoch starts from it and refines it further. 5,000
# snapshot points of a trained synthetic run, one thread, idle core: 100 → 50 epochs take 0.95 → 0.55 s, for
# trustworthiness 0.986 → 0.984 and 10-NN label agreement 0.954 → 0.948 (the features' own: 0.961).
UMAP_EPOCHS_FRESH = 50
# Each later epoch: the previous epoch's layout, refined. The same 5,000 points, epochs 1–4 laid out in a chain, one
# thread: 60 → 30 epochs take 0.61 → 0.40 s, trustworthiness 0.990–0.993 → 0.989–0.992, 10-NN label agreement within
# 0.008 of 60's; points move as much from epoch to epoch (2.6–7.5 % of the layout's width after epoch 1).
UMAP_EPOCHS_FROM_PREVIOUS = 30
# From this many points umap finds neighbours by NN-descent (its own threshold); below it exact neighbours are given.
UMAP_APPROXIMATE_FROM = 4096
# The warm-up's two compiles, by snapshot size: the exact-neighbour path, then NN-descent's (see warm_up).
WARM_UP_POINTS = (1000, UMAP_APPROXIMATE_FROM + 104)
# UMAP layouts kept, by size: a count holds too few of small snapshots (two runs followed in UMAP, 40 animated epochs
# each, need 80 layouts) and too much of large ones. 40 kB per 5,000 points: 800 such layouts, and well within the
# 10 % a server's memory may grow by while followed (it starts near 900 MiB).
MAX_CACHED_BYTES = 32 * 2**20
MAX_FAILED = 64  # failure messages kept


# --------------------------------------------------------------------------------------------- PCA
def principal_axes(vectors: np.ndarray) -> np.ndarray:
    """(m, d) → (2, d): the two leading principal axes of ``vectors`` (rows), signs fixed so the
    largest-magnitude coordinate of each axis is positive (deterministic across calls)."""
    vectors = np.asarray(vectors, np.float64)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if len(axes) < 2:  # one direction only (d = 1 or a single vector): the second coordinate is 0
        axes = np.vstack([axes, np.zeros((2 - len(axes), vectors.shape[1]))])
    pivot = np.abs(axes).argmax(axis=1)
    return axes * np.sign(axes[np.arange(len(axes)), pivot])[:, None]


def project(features: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(n, d) features onto (2, d) axes → (n, 2), padded with zeros when d < 2."""
    points = np.asarray(features, np.float64) @ axes[:, : features.shape[1]].T
    return points if points.shape[1] == 2 else np.pad(points, ((0, 0), (0, 2 - points.shape[1])))


def pca_2d(features: np.ndarray) -> np.ndarray:
    """(n, d) → (n, 2) on the features' own principal axes (one snapshot on its own)."""
    features = np.asarray(features, np.float64)
    return project(features - features.mean(axis=0), principal_axes(features))


def basis_vectors(frame: dict[str, np.ndarray], snapshot: dict[str, np.ndarray]) -> np.ndarray:
    """The (K, d) vectors whose principal plane is a run's fixed PCA basis: the fixed frame's weights,
    else the snapshot's classifier (learnable head), else its class means."""
    for source, key in ((frame, "weights"), (snapshot, "classifier"), (snapshot, "class_means")):
        vectors = source.get(key)
        if vectors is not None and np.isfinite(vectors).all() and vectors.ndim == 2:
            return vectors
    return snapshot["features"]


# --------------------------------------------------------------------------------------------- UMAP
@functools.cache
def _umap():
    """umap, imported lazily (and only in the worker process: numba compilation is slow), its compiles kept on disk.

    umap declares its numba functions without ``cache=True``, and pynndescent some of its own, so every fresh worker
    compiled them again: 34 s of a core. With numba's on-disk cache turned on for them (numba's own locations:
    ``__pycache__`` beside the packages' sources, or the user's cache folder where those are read-only) a fresh
    worker's warm-up takes 14 s (4,200 points; the first on a machine 48 s: it compiles and saves everything).
    What is left is pynndescent's ``nn_descent``, which numba cannot cache (it uses dynamic globals) and compiles for
    snapshots past 4,096 points. A function that cannot be cached is compiled as before (numba warns)."""
    import umap
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in ("umap", "pynndescent"):
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None), NullCache):
                    try:
                        value.enable_caching()
                    except RuntimeError:  # numba found no writable cache folder: compile each time
                        return umap
    return umap


def cosine_neighbours(features: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of each row of ``features`` (n, d) by cosine distance, itself included:
    (indices (n, k) int64, distances (n, k) float32), nearest first. Rows are compared ``block`` at a time, so
    memory stays at ``block`` × n floats."""
    unit = np.asarray(features, np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), np.float32(1e-12))
    indices = np.empty((len(unit), k), np.int64)
    distances = np.empty((len(unit), k), np.float32)
    for start in range(0, len(unit), block):
        similarity = unit[start:start + block] @ unit.T
        nearest = np.argpartition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        nearest_similarity = np.take_along_axis(similarity, nearest, axis=1)
        order = np.argsort(-nearest_similarity, axis=1)
        indices[start:start + block] = np.take_along_axis(nearest, order, axis=1)
        distances[start:start + block] = np.maximum(1 - np.take_along_axis(nearest_similarity, order, axis=1), 0)
    return indices, distances


def umap_2d(features: np.ndarray, init: np.ndarray | None = None, seed: int = 0,
            exact_below: int = UMAP_APPROXIMATE_FROM) -> np.ndarray:
    """(n, d) → (n, 2) UMAP (cosine metric); ``init`` (n, 2) starts from a previous layout. Under ``exact_below``
    points umap is given exact neighbours (:func:`cosine_neighbours`); 0 leaves the search to umap (the benchmark's
    baseline)."""
    umap = _umap()
    features = np.asarray(features, np.float32)
    neighbours = int(min(15, max(2, len(features) - 1)))
    # Below umap's NN-descent threshold, umap computes all pairwise distances through sklearn with its numba metric
    # called once per pair from Python: 2.8 s for 2,000 points, 11.4 s for 4,000. The same exact neighbours from one
    # matrix product take 0.2 s at 4,000 points.
    exact = cosine_neighbours(features, neighbours) if len(features) < exact_below else (None, None, None)
    start = "spectral" if init is None or len(features) < 4 else np.asarray(init, np.float64)
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=0.1, metric="cosine", random_state=seed,
                        init=start, n_epochs=UMAP_EPOCHS_FRESH if init is None else UMAP_EPOCHS_FROM_PREVIOUS,
                        precomputed_knn=exact)
    return reducer.fit_transform(features).astype(np.float32)


def warm_up(points: int | None = None) -> None:
    """Compile UMAP's numba code for snapshots of ``points`` points (None: every size) in the worker: a first layout
    and one started from it (another code path). Below ``UMAP_APPROXIMATE_FROM`` points, the exact-neighbour path
    (2.3 s of a core with numba's disk cache, see :func:`_umap`); from it, NN-descent's too (11 s more, which numba
    cannot keep). 48 s for both on a machine's first start."""
    for size in WARM_UP_POINTS if points is None else (points,):
        features = np.random.default_rng(0).random((size, 8))
        umap_2d(features, init=umap_2d(features))


class _Worker:
    """The UMAP worker subprocess (see :mod:`app.umap_worker`); restarted when it dies."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        atexit.register(self.close)  # a worker held stopped would not see a closed pipe: kill it when the server exits

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        return subprocess.Popen([sys.executable, "-m", "app.umap_worker"], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def call(self, **arrays: np.ndarray) -> np.ndarray:
        """Send one request, wait for its reply: (n, 2) points. Raises RuntimeError on failure."""
        from app.umap_worker import read_message, write_message

        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        try:
            write_message(self._proc.stdin, arrays)
            reply = read_message(self._proc.stdout)
        except (OSError, ValueError) as err:
            reply = None
            self.close()
            raise RuntimeError(f"the UMAP worker stopped ({err})") from None
        if reply is None:
            self.close()
            raise RuntimeError("the UMAP worker stopped (killed, e.g. for memory?)")
        if "error" in reply:
            raise RuntimeError(str(reply["error"]))
        return reply["points"]

    def suspend(self, pause: bool) -> bool:
        """Stop (True) or continue (False) the worker process; False when there is none or the OS cannot."""
        sig = getattr(signal, "SIGSTOP" if pause else "SIGCONT", None)
        proc = self._proc
        if sig is None or proc is None or proc.poll() is not None:
            return False
        try:
            os.kill(proc.pid, sig)
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """Kill the worker (even a stopped one) from any thread: the call waiting on it fails; the next call starts
        a new worker."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None


class _JobThread:
    """Runs submitted calls one after another on one *daemon* thread, each behind a Future.

    Not a ThreadPoolExecutor: its threads are joined when the interpreter exits, i.e. a server or test
    process that ends while UMAP is still compiling in a starved nice-19 worker would wait minutes for it.
    """

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._running: Future | None = None  # the job being run, changed under _switch
        self._switch = threading.Lock()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, fn, **kwargs) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, kwargs))
        return future

    def shutdown(self) -> None:
        """Cancel the jobs not started yet; the thread ends after the current one."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        self._jobs.put(None)

    def while_running(self, future: Future, action: Callable[[], None]) -> bool:
        """Call ``action()`` if ``future``'s job is the one being run, before the next can start; whether it was."""
        with self._switch:
            if self._running is not future:
                return False
            action()
            return True

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, kwargs = job
            with self._switch:
                if not future.set_running_or_notify_cancel():  # cancelled while queued
                    continue
                self._running = future
            try:
                future.set_result(fn(**kwargs))
            except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(err)
            with self._switch:
                self._running = None


@dataclass(frozen=True)
class Projection:
    """What a page draws: ``points`` (n, 2), the ``method`` that made them ("UMAP" or "PCA") and a
    ``note`` saying why UMAP is not shown yet (empty when it is)."""

    points: np.ndarray
    method: str
    note: str = ""


class Projector:
    """UMAP projections keyed by (run, epoch), computed off the server's process; thread-safe."""

    def __init__(self, max_bytes: int = MAX_CACHED_BYTES):
        # Re-entrant: Future.cancel() runs the done callback (_finished, which takes the lock) at once,
        # inside _drop_older_locked, which holds it.
        self._lock = threading.RLock()
        self._max_bytes = max_bytes
        self._bytes = 0  # of the layouts in ``_done``
        self._worker = _Worker()
        self._pool = _JobThread("umap")  # waits on the worker's pipe
        self._done: OrderedDict[tuple, np.ndarray] = OrderedDict()  # LRU: (run, epoch) → (n, 2)
        self._pending: dict[tuple, Future] = {}
        self._pending_large: set[tuple] = set()  # of those, the layouts of UMAP_APPROXIMATE_FROM points or more
        self._failed: dict[tuple, str] = {}
        self._version = 0
        self._warm: Future | None = None  # the exact-neighbour path's compile: warm_up(), or the first layout
        self._warm_approximate: Future | None = None  # NN-descent's compile

    @property
    def warm(self) -> bool:
        """True once UMAP's exact-neighbour path (snapshots under 4,096 points) has been compiled in the worker."""
        return self._warm is not None and self._warm.done()

    def warm_up(self, approximate: bool = True) -> None:
        """Compile UMAP in the worker now, unless that is under way: the exact-neighbour path, then (``approximate``)
        NN-descent's, as two jobs."""
        with self._lock:
            if self._warm is None:
                self._warm = self._pool.submit(self._worker.call, warm=np.array(WARM_UP_POINTS[0]))
            if approximate and self._warm_approximate is None:
                self._warm_approximate = self._pool.submit(self._worker.call, warm=np.array(WARM_UP_POINTS[1]))

    def warm_up_when(self, idle: Callable[[], bool], check_s: float = 0.5) -> None:
        """Compile UMAP on idle cycles (``idle()``, checked every ``check_s`` on a daemon thread): a compile costs a
        core (2.3 s for the exact-neighbour path, 11 s for NN-descent's, 48 s for both on a machine's first start),
        so each starts only when no training needs the CPU, and the worker is suspended (SIGSTOP) whenever one
        starts before it is done. A page asking for a layout meanwhile resumes it: that layout needs the compile.
        NN-descent's waits for idle cycles again: a page following a training with the default snapshots (600
        points) never needs it, and the first layout of a larger snapshot would make it anyway."""
        def supervise() -> None:
            while self._warm is None and not idle():  # a page's first layout sets _warm: it is the compile
                time.sleep(check_s)
            self.warm_up(approximate=False)
            self._suspend_while_busy(self._warm, idle, check_s)
            while True:
                while not idle():
                    time.sleep(check_s)
                self.warm_up()
                if self._suspend_while_busy(self._warm_approximate, idle, check_s, abort_for_small=True):
                    return
                with self._lock:
                    self._warm_approximate = None  # again on idle cycles

        threading.Thread(target=supervise, name="umap-warm-up", daemon=True).start()

    def _suspend_while_busy(self, compile_job: Future, idle: Callable[[], bool], check_s: float,
                            abort_for_small: bool = False) -> bool:
        """Until ``compile_job`` ends, keep the worker stopped while a training needs the CPU and no layout waits.
        With ``abort_for_small`` (NN-descent's compile), a training needing the CPU while a page waits for layouts
        that all take the exact-neighbour path kills the compile instead: at nice 19 beside the training it would
        hold those layouts back for half a minute, and the restarted worker loads the exact path from numba's disk
        cache in 2 s. Returns False when it was killed so (to be made again)."""
        paused = False
        while not compile_job.done():
            with self._lock:
                waiting, large = bool(self._pending), bool(self._pending_large)
            # Only while the compile itself runs: a layout queued before it must not be killed instead.
            if abort_for_small and waiting and not large and not idle() and \
                    self._pool.while_running(compile_job, self._worker.kill):
                wait((compile_job,))
                return False
            pause = not waiting and not idle()
            if pause != paused and self._worker.suspend(pause):
                paused = pause
            time.sleep(check_s)
        if paused:
            self._worker.suspend(False)
        return True

    # ---------------------------------------------------------------- queries
    def layout(self, run: str, epoch: int) -> np.ndarray | None:
        """The finished (n, 2) UMAP layout of ``run``'s epoch, or None (nothing is queued).
        Raises RuntimeError if it failed."""
        key = (run, epoch)
        with self._lock:
            if key in self._failed:
                raise RuntimeError(f"UMAP failed: {self._failed[key]}")
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
        return None

    def umap(self, run: str, epoch: int, features: np.ndarray) -> np.ndarray | None:
        """The UMAP layout of ``run``'s snapshot ``epoch`` if ready, else None (and it is queued, replacing
        any older epoch of the same run that is still waiting). Raises RuntimeError if it failed."""
        key = (run, epoch)
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            if key in self._failed:
                raise RuntimeError(f"UMAP failed: {self._failed[key]}")
            if key not in self._pending:
                self._submit_locked(key, features)
        return None

    def extend(self, run: str, previous: int, epoch: int, features: Callable[[], np.ndarray]) -> bool:
        """Queue the layout of ``run``'s ``epoch`` (its (n, d) ``features()``, read only then) when the one of the
        ``previous`` epoch is ready and this one is not yet asked for: the chain of a page following a live run,
        extended as soon as a snapshot is written. Returns whether it was queued. Raises what ``features`` raises."""
        key = (run, epoch)
        with self._lock:
            if (run, previous) not in self._done or key in self._done or key in self._pending or key in self._failed:
                return False
        points = features()  # outside the lock: a file read
        with self._lock:
            if key in self._done or key in self._pending:
                return False
            self._submit_locked(key, points)
        return True

    def pending(self, run: str, epoch: int) -> bool:
        with self._lock:
            return (run, epoch) in self._pending

    def pending_run(self, run: str) -> bool:
        """Whether a layout of any epoch of ``run`` is queued or being computed."""
        with self._lock:
            return any(r == run for r, _ in self._pending)

    def cached(self) -> int:
        with self._lock:
            return len(self._done)

    def version(self) -> int:
        """How many jobs have ended (done, failed or dropped): changes whenever a layout lands."""
        with self._lock:
            return self._version

    def close(self) -> None:
        self._pool.shutdown()
        self._worker.close()

    # ---------------------------------------------------------------- internals
    def _previous_layout_locked(self, run: str, epoch: int, n: int) -> np.ndarray | None:
        earlier = [e for (r, e), pts in self._done.items() if r == run and e < epoch and len(pts) == n]
        return self._done[(run, max(earlier))] if earlier else None

    def _drop_older_locked(self, run: str, epoch: int) -> None:
        for key, future in list(self._pending.items()):
            if key[0] == run and key[1] < epoch and future.cancel():  # cancel() is False once it runs
                self._forget_pending_locked(key)  # _finished may have done so already

    def _submit_locked(self, key: tuple, features: np.ndarray) -> None:
        """Queue ``key``'s layout, started from the run's latest earlier one; older epochs of the run still waiting
        are dropped (a page shows the newest)."""
        self._drop_older_locked(*key)
        init = self._previous_layout_locked(key[0], key[1], len(features))
        arrays = {"features": np.asarray(features, np.float32), **({} if init is None else {"init": init})}
        future = self._pool.submit(self._worker.call, **arrays)
        self._pending[key] = future
        if len(features) >= UMAP_APPROXIMATE_FROM:
            self._pending_large.add(key)
        if self._warm is None:  # the first layout compiles UMAP: no separate warm-up after it
            self._warm = future
        future.add_done_callback(lambda f, key=key: self._finished(key, f))

    def _forget_pending_locked(self, key: tuple) -> None:
        self._pending.pop(key, None)
        self._pending_large.discard(key)

    def _finished(self, key: tuple, future: Future) -> None:
        with self._lock:
            self._version += 1
            if self._pending.get(key) is not future:
                return
            self._forget_pending_locked(key)
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                self._failed[key] = f"{type(error).__name__}: {error}"
                while len(self._failed) > MAX_FAILED:
                    self._failed.pop(next(iter(self._failed)))
                return
            replaced = self._done.pop(key, None)
            self._bytes += future.result().nbytes - (0 if replaced is None else replaced.nbytes)
            self._done[key] = future.result()
            while self._bytes > self._max_bytes and len(self._done) > 1:  # the newest is kept, whatever its size
                self._bytes -= self._done.popitem(last=False)[1].nbytes
