"""Benchmark: the UMAP worker's layouts against umap's own neighbour search, and the worker's compile.

    python bench/bench_umap.py            # 600, 2,000 and 4,000 points; the compile on a first and a later start
    python bench/bench_umap.py --quick    # 300 points; no compile part

layout   Clustered features shaped like a trained run's snapshot (--classes class centres in --dims dimensions plus
         noise), one thread as in the worker, best of --repeats after one untimed call (the compile):
         "baseline" = ``umap_2d(..., exact_below=0)``: the worker's UMAP with umap's own neighbour search (below
                      4,096 points: every pairwise distance through sklearn, umap's numba cosine called from Python
                      once per pair);
         "ours"     = ``app.projector.umap_2d``: the same, given exact cosine neighbours from one matrix product.
         Each makes a first layout (50 optimisation epochs) and the next epoch's from it (30), the worker's two
         kinds of job; ``trust`` is sklearn's trustworthiness (10 neighbours) of each layout of the features.
compile  A fresh process like the worker runs ``app.projector.warm_up`` (the compile a server does once) with
         ``NUMBA_CACHE_DIR`` set to an empty folder (a machine's first start: numba compiles and saves), then again
         with the same folder (every later start). The ratio is first / later.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# One thread, as the worker runs (app.projector._Worker sets the same in its environment).
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from app import projector  # noqa: E402
from bench.common import Column, best_of, render_table  # noqa: E402


def clustered_features(points: int, classes: int, dims: int, seed: int = 0) -> np.ndarray:
    """(points, dims) float32: ``classes`` Gaussian clusters of equal size around random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dims)) * 3
    return (centres[np.arange(points) % classes] + rng.normal(size=(points, dims))).astype(np.float32)


def umap_own(features: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
    """The baseline: the worker's UMAP, umap finding the neighbours itself."""
    return projector.umap_2d(features, init, exact_below=0)


def measure_layouts(points: int, classes: int, dims: int, repeats: int) -> list[dict]:
    from sklearn.manifold import trustworthiness

    features = clustered_features(points, classes, dims)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    rows = []
    for job in ("first", "next"):
        row = {"points": points, "job": job}
        for name, layout in (("baseline", umap_own), ("ours", projector.umap_2d)):
            init = None if job == "first" else layout(features)
            layout(features, init)  # compiles what this path needs
            row[f"{name}_s"], points_2d = best_of(lambda: layout(features, init), repeats)
            row[f"{name}_trust"] = trustworthiness(unit, points_2d, n_neighbors=10)
        row["speedup"] = row["baseline_s"] / row["ours_s"]
        rows.append(row)
        print(f"  {points} points, {job} layout: baseline {row['baseline_s']:.2f} s, ours {row['ours_s']:.2f} s",
              flush=True)
    return rows


def measure_compile() -> dict:
    """Seconds of a fresh process's warm-up with an empty numba cache folder, then with the one it filled."""
    code = "from app.projector import warm_up; warm_up()"
    seconds = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, **ONE_THREAD, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        for _ in ("first", "later"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds.append(time.perf_counter() - start)
            print(f"  warm-up in a fresh process: {seconds[-1]:.1f} s", flush=True)
    return {"first_s": seconds[0], "later_s": seconds[1], "ratio": seconds[0] / seconds[1]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[600, 2000, 4000])
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--dims", type=int, default=12, help="feature dimensions (a HAFrame head's: K)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 points, one repeat, no compile part")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.repeats = [300], 1
    with warnings.catch_warnings(), threadpool_limits(1):  # BLAS on one thread; umap's numba is (it has a seed)
        warnings.simplefilter("ignore")  # umap's notes (n_jobs with a seed, no NNDescent index) are not results
        rows = [row for points in args.points
                for row in measure_layouts(points, args.classes, args.dims, args.repeats)]
    print(render_table([Column("points", ">6", "points"), Column("layout", "<6", "job"),
                        Column("baseline s", ">10", "baseline_s", ".3f"), Column("ours s", ">7", "ours_s", ".3f"),
                        Column("baseline/ours", ">13", "speedup", ".1f"),
                        Column("trust base", ">10", "baseline_trust", ".3f"),
                        Column("trust ours", ">10", "ours_trust", ".3f")], rows))
    compile_row = None if args.quick else measure_compile()
    if compile_row:
        print(f"compile (warm-up of a fresh worker process): first start {compile_row['first_s']:.1f} s, "
              f"later starts {compile_row['later_s']:.1f} s, first/later {compile_row['ratio']:.1f}")
    return {"layouts": rows, "compile": compile_row}


if __name__ == "__main__":
    main()
