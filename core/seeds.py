"""Runs that differ only by their seeds, summarised as mean ± a Student-t confidence interval.

:func:`mean_ci` is the one interval of the project: the Compare page and ``bench/replicate.py`` both
use it. It is the textbook interval, mean ± t₍₁₊ₗ₎/₂,ₙ₋₁ · s / √n with the *sample* standard deviation
s (ddof = 1). The reference's ``multiple_runs_eval.py`` divides by n instead (ddof = 0, METHOD.md §7),
which makes its intervals narrower by √((n − 1)/n) (0.89 for its 5 seeds); published intervals are
therefore slightly optimistic next to ours.

Pure numpy (the t quantile is computed here rather than taken from SciPy, which core does not need).
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["t_quantile", "mean_ci", "curve_band"]


def _t_cdf(x: float, df: int) -> float:
    """P(T ≤ x) for Student's t with ``df`` degrees of freedom (x ≥ 0), by Simpson's rule on the density."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    grid = np.linspace(0.0, x, 4001)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(grid ** 2 / df))
    h = grid[1] - grid[0]
    integral = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
    return 0.5 + integral


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` ≥ 1 degrees of freedom, by bisection.

    About 3 ms a call (60 bisections of a 4,001-point integral), and a band over a run's epochs asks for the same
    few (p, df) at every epoch: remembered (it was 60 % of a live Compare page's run over 7 runs of 60 epochs)."""
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def mean_ci(values, level: float = 0.95) -> tuple[float, float, int]:
    """(mean, half-width of the two-sided ``level`` t-interval, n) over the finite ``values`` (None and
    NaN are left out): half-width = t_quantile(0.5 + level/2, n − 1) · std(ddof=1) / √n; NaN for n < 2."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    if v.size == 1:
        return float(v[0]), float("nan"), 1
    half = t_quantile(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean()), float(half), int(v.size)


def curve_band(histories: list[list[dict]], key: str, level: float = 0.95) -> dict[str, np.ndarray]:
    """Mean and CI band of metric ``key`` over seeds, per epoch: ``epochs``, ``mean``, ``low``, ``high``, ``n``.

    ``histories`` are the runs' metrics rows; an epoch counts the runs that reached it.
    """
    per_epoch: dict[int, list[float]] = {}
    for rows in histories:
        for row in rows:
            if row.get(key) is not None:
                per_epoch.setdefault(int(row["epoch"]), []).append(float(row[key]))
    epochs = sorted(per_epoch)
    stats = np.array([mean_ci(per_epoch[e], level) for e in epochs]).reshape(-1, 3)
    mean, half = stats[:, 0], np.nan_to_num(stats[:, 1])
    return {"epochs": np.array(epochs), "mean": mean, "low": mean - half, "high": mean + half,
            "n": stats[:, 2].astype(int)}
