"""Benchmark: closed-form HAFrame construction vs the reference's 100-eigendecomposition grid search.

    python bench/bench_frames.py            # K = 100, 608, 1010 (reference hierarchies when
                                            # ../shared is present) and a synthetic K = 5000
    python bench/bench_frames.py --quick    # K = 100 and a synthetic K = 300, one repeat
    python bench/bench_frames.py --full     # also run the (minutes-long) baseline at K = 5000

"ours"     = ``haframe(D, gamma, min_similarity="exact")``: m* by one Cholesky solve plus the frame
             W itself (Cholesky-based factorisation and a random rotation), best of --repeats.
"m* only"  = ``critical_min_similarity`` alone, the part that replaces the grid search.
"baseline" = ``reference_grid_search(D, gamma)``: the reference's rule, 100 eigendecompositions of
             K×K matrices (it only chooses m; building W then costs the reference another eigh).
exactness  = max |W Wᵀ − S| of our frame (must be < 1e-6).

iNaturalist-21 scale (``--inat21``, part of the default run): a generated 10,000-leaf tree with
iNat-21's 7 levels. "tree" = ``haframe(TreeDistances, exact, seed=None)`` — the exact frame from the
tree's block structure (core/ultrametric.py) — plus ``tree_spectrum`` (the diagnostics); "dense" =
``Hierarchy.distance_matrix()`` + ``haframe(D, exact, seed=None)``, the K×K route (skipped unless
--full). Each runs in a fresh process so its peak memory (max RSS) is its own; exactness is checked
on 256 random rows of W Wᵀ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import Column, balanced_tree, best_of, inat21_like_tree, load_case, render_table  # noqa: E402
from core.frames import critical_min_similarity, grid_min_similarity, haframe, reference_grid_search  # noqa: E402
from core.ultrametric import TreeDistances, random_pairs_error, tree_spectrum  # noqa: E402

EXACTNESS_TOL = 1e-6


def run_case(name: str, dist: np.ndarray, gamma: float, repeats: int, baseline: bool) -> dict:
    k = len(dist)
    t_frame, frame = best_of(lambda: haframe(dist, gamma=gamma, min_similarity="exact"), repeats)
    t_mstar, m_star = best_of(lambda: critical_min_similarity(dist, gamma), repeats)
    error = float(np.abs(frame.weights @ frame.weights.T - frame.target).max())
    row = {"name": name, "K": k, "H": int(dist.max()), "gamma": gamma, "m_star": float(m_star),
           "ours_s": t_frame, "mstar_s": t_mstar, "baseline_s": None, "speedup": None,
           "grid_agrees": None, "max_abs_err": error, "exact": error < EXACTNESS_TOL}
    if baseline:
        t_base, m_ref = best_of(lambda: reference_grid_search(dist, gamma), 1)
        row.update(baseline_s=t_base, speedup=t_base / t_frame,
                   grid_agrees=bool(m_ref == grid_min_similarity(dist, gamma)))
    return row


COLUMNS = [
    Column("hierarchy", "<20", "name"),
    Column("K", ">5", "K"),
    Column("H", ">3", "H"),
    Column("m*", ">10", "m_star", ".6f"),
    Column("ours (s)", ">10", "ours_s", ".4f"),
    Column("m* only (s)", ">12", "mstar_s", ".4f"),
    Column("baseline (s)", ">13", lambda r: "skipped" if r["baseline_s"] is None else f"{r['baseline_s']:.4f}"),
    Column("baseline/ours", ">14", lambda r: f"{r['speedup']:.1f}x" if r["speedup"] is not None else "—"),
    Column("grid=ref", ">9", lambda r: {None: "—", True: "yes", False: "NO"}[r["grid_agrees"]]),
    Column("max|WWᵀ−S|", ">11", "max_abs_err", ".1e"),
]


def format_table(rows: list[dict]) -> str:
    return render_table(COLUMNS, rows)


def _inat21_case(route: str, num_classes: int, gamma: float, queue) -> None:
    """One iNat-21-scale construction in this (fresh) process; puts a result row on ``queue``."""
    import resource
    import time

    hierarchy = inat21_like_tree(num_classes)
    start = time.perf_counter()
    if route == "tree":
        tree = TreeDistances.from_hierarchy(hierarchy)
        frame = haframe(tree, gamma=gamma, min_similarity="exact", seed=None)
        built = time.perf_counter() - start
        eig = tree_spectrum(tree, gamma, "exponential", frame.min_similarity)
        diagnostics = time.perf_counter() - start - built
    else:
        frame = haframe(hierarchy.distance_matrix(), gamma=gamma, min_similarity="exact", seed=None)
        built = time.perf_counter() - start
        eig, diagnostics = None, None
    error = random_pairs_error(frame.weights, lambda idx: frame.target[idx])
    queue.put({"route": route, "K": num_classes, "H": hierarchy.height, "m_star": frame.min_similarity,
               "frame_s": built, "spectrum_s": diagnostics, "lambda_min": None if eig is None else float(eig[0]),
               "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "max_abs_err": error,
               "exact": error < EXACTNESS_TOL})


def run_inat21(num_classes: int, gamma: float, dense: bool) -> list[dict]:
    """Tree route (and the dense one when ``dense``), each in a fresh process."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    rows = []
    for route in ("tree", "dense") if dense else ("tree",):
        queue = context.Queue()
        process = context.Process(target=_inat21_case, args=(route, num_classes, gamma, queue))
        process.start()
        rows.append(queue.get())
        process.join()
        print(f"  done {route} route (K = {num_classes})", flush=True)
    return rows


INAT_COLUMNS = [
    Column("route", "<6", "route"),
    Column("K", ">6", "K"),
    Column("H", ">3", "H"),
    Column("m*", ">10", "m_star", ".6f"),
    Column("exact frame (s)", ">16", "frame_s", ".2f"),
    Column("spectrum (s)", ">13", lambda r: "—" if r["spectrum_s"] is None else f"{r['spectrum_s']:.2f}"),
    Column("peak RSS (GiB)", ">15", "peak_gib", ".2f"),
    Column("max|WWᵀ−S| (256 rows)", ">22", "max_abs_err", ".1e"),
]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="K = 100 and a synthetic K = 300, one repeat")
    parser.add_argument("--full", action="store_true", help="also run the baseline at K = 5000 (minutes)")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic balanced trees even if ../shared exists")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (best of; default 3, quick 1)")
    parser.add_argument("--gamma", type=float, default=5.0)
    parser.add_argument("--inat21", type=int, default=None, metavar="K",
                        help="only the iNaturalist-21-scale case with K leaves (default run: K = 10000)")
    args = parser.parse_args(argv)
    if args.inat21 is not None or not args.quick:
        k = args.inat21 or 10000
        print(f"iNaturalist-21-like tree, K = {k}, gamma = {args.gamma:g}: the exact frame from the tree", flush=True)
        inat = run_inat21(k, args.gamma, dense=args.full)
        print(render_table(INAT_COLUMNS, inat))
        if len(inat) == 2:
            print(f"dense/tree: {inat[1]['frame_s'] / inat[0]['frame_s']:.1f}x time, "
                  f"{inat[1]['peak_gib'] / inat[0]['peak_gib']:.1f}x peak memory")
        if args.inat21 is not None:
            return inat
    repeats = args.repeats or (1 if args.quick else 3)

    if args.quick:
        small = balanced_tree(300)
        cases = [(*load_case(100, args.synthetic)[:2], True), (small.name, small.distance_matrix(), True)]
    else:
        cases = [(*load_case(k, args.synthetic)[:2], True) for k in (100, 608, 1010)]
        big = balanced_tree(5000)
        cases.append((big.name, big.distance_matrix(), args.full))

    warm = balanced_tree(50).distance_matrix()  # first LAPACK calls carry one-off overhead
    haframe(warm, gamma=args.gamma)
    reference_grid_search(warm, args.gamma)

    rows = []
    print(f"HAFrame construction, gamma = {args.gamma:g}, best of {repeats} (baseline: 1 run)", flush=True)
    for name, dist, with_baseline in cases:
        rows.append(run_case(name, dist, args.gamma, repeats, with_baseline))
        print(f"  done {name} (K = {len(dist)})", flush=True)
    print(format_table(rows))
    bad = [r["name"] for r in rows if not r["exact"] or r["grid_agrees"] is False]
    if bad:
        print(f"FAILED checks for: {', '.join(bad)}")
    return rows


if __name__ == "__main__":
    rows = main()
    sys.exit(0 if all(r["exact"] and r.get("grid_agrees") is not False for r in rows) else 1)
