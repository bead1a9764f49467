"""core.seeds: the hand-written Student-t quantile against published table values, and the one
mean ± 95 % CI rule (sample std, ddof = 1) that the Compare page and bench/replicate.py share."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import seeds

# Two-sided 95 % (p = 0.975) and other quantiles of Student's t, from standard tables (R's qt).
KNOWN = {(0.975, 1): 12.706204736, (0.975, 2): 4.302652730, (0.975, 3): 3.182446305, (0.975, 4): 2.776445105,
         (0.975, 9): 2.262157163, (0.975, 29): 2.045229642, (0.975, 100): 1.983971519,
         (0.95, 1): 6.313751515, (0.95, 10): 1.812461123, (0.995, 4): 4.604094871, (0.9995, 1): 636.6192488}


@pytest.mark.parametrize(("p", "df"), sorted(KNOWN))
def test_t_quantile_matches_tables(p, df):
    assert seeds.t_quantile(p, df) == pytest.approx(KNOWN[(p, df)], rel=1e-5)


def test_t_quantile_tends_to_the_normal_quantile():
    assert seeds.t_quantile(0.975, 100_000) == pytest.approx(1.959963985, rel=1e-4)


def test_mean_ci_uses_the_sample_std():
    values = [1.0, 2.0, 4.0, 7.0]
    mean, half, n = seeds.mean_ci(values)
    expected = KNOWN[(0.975, 3)] * np.std(values, ddof=1) / math.sqrt(4)
    assert (mean, n) == (3.5, 4) and half == pytest.approx(expected, rel=1e-6)


def test_mean_ci_skips_missing_values_and_needs_two():
    assert seeds.mean_ci([None, float("nan"), 2.0, 4.0])[::2] == (3.0, 2)
    mean, half, n = seeds.mean_ci([5.0, None])
    assert (mean, n) == (5.0, 1) and math.isnan(half)
    assert seeds.mean_ci([])[2] == 0


def test_curve_band_counts_the_runs_that_reached_each_epoch():
    histories = [[{"epoch": 0, "top1": 10.0}, {"epoch": 1, "top1": 20.0}],
                 [{"epoch": 0, "top1": 12.0}, {"epoch": 1, "top1": 22.0}, {"epoch": 2, "top1": 30.0}],
                 [{"epoch": 0, "top1": 14.0}, {"epoch": 1, "top1": None}]]
    band = seeds.curve_band(histories, "top1")
    assert band["epochs"].tolist() == [0, 1, 2] and band["n"].tolist() == [3, 2, 1]
    half0 = seeds.mean_ci([10.0, 12.0, 14.0])[1]
    assert band["mean"][0] == 12.0 and band["high"][0] - band["mean"][0] == pytest.approx(half0)
    assert band["low"][2] == band["high"][2] == 30.0, "one run: no band, not NaN"
