"""Per-population drives: Poisson input as an inversion table, DC as a constant current."""

from __future__ import annotations

import math

import numpy as np

POISSON_TAIL = 2.0**-40  # probability mass left out of the inversion table
GUIDE_SIZE = 64  # entries of the guide table that starts the inversion search


def poisson_cdf(mean: float) -> np.ndarray:
    """CDF of Poisson(mean) at 0, 1, ..., up to where the tail is below POISSON_TAIL.

    The last entry is set to exactly 1.0, so that every uniform in [0, 1) inverts.
    """
    if mean <= 0.0:
        return np.ones(1)
    k_max = int(mean + 12.0 * math.sqrt(mean) + 30)
    k = np.arange(k_max + 1)
    log_pmf = k * math.log(mean) - mean - np.array([math.lgamma(x + 1.0) for x in k])
    cdf = np.cumsum(np.exp(log_pmf))
    n = int(np.searchsorted(cdf, 1.0 - POISSON_TAIL)) + 1
    cdf = cdf[: min(n, cdf.size)].copy()
    cdf[-1] = 1.0
    return cdf


def guide_table(cdf: np.ndarray) -> np.ndarray:
    """``guide[m]`` = first k with cdf[k] > m / GUIDE_SIZE (a start for the search)."""
    marks = np.arange(GUIDE_SIZE) / GUIDE_SIZE
    return np.searchsorted(cdf, marks, side="right").astype(np.int64)
