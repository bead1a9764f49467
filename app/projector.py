"""2-D projections of feature snapshots: PCA at once, UMAP in the background.

Kept behind one small cached object with a lock (as LIT does): UMAP's first call compiles numba
code for 30+ s, so a warm-up starts with the app, each (run, epoch) is projected once on a single
worker thread, and pages show PCA until the UMAP result is ready.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np


def pca_2d(features: np.ndarray) -> np.ndarray:
    """(n, d) → (n, 2) principal components, signs fixed so epochs do not flip."""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2].sum(axis=1, keepdims=True) + 1e-12)
    points = centred @ axes.T
    return points if points.shape[1] == 2 else np.pad(points, ((0, 0), (0, 2 - points.shape[1])))


def _umap_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    import umap  # imported lazily: numba compilation is slow

    neighbours = int(min(15, max(2, len(features) - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=0.1, metric="cosine", random_state=seed)
    return reducer.fit_transform(features.astype(np.float32))


class Projector:
    """Thread-safe cache of UMAP projections keyed by the caller (e.g. (run, epoch))."""

    def __init__(self, warm: bool = True):
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap")
        self._results: dict[object, Future] = {}
        self._warm = self._pool.submit(_umap_2d, np.random.default_rng(0).random((40, 8))) if warm else None

    @property
    def warm(self) -> bool:
        """True once UMAP has been compiled (the first projection will be quick)."""
        return self._warm is not None and self._warm.done()

    def umap(self, key, features: np.ndarray) -> np.ndarray | None:
        """The UMAP projection for ``key`` if ready, else None (and it is queued)."""
        with self._lock:
            future = self._results.get(key)
            if future is None:
                future = self._results[key] = self._pool.submit(_umap_2d, features)
        if not future.done():
            return None
        if future.exception() is not None:
            raise RuntimeError(f"UMAP failed: {future.exception()}")
        return future.result()
