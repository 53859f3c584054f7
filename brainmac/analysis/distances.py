"""Distances between two samples of a statistic: Kolmogorov-Smirnov D and Earth Mover's Distance.

The validation method of van Albada et al. 2018 and Senk et al.: compute a statistic's
distribution per population in two simulations (say brainmac and NEST), measure the distance
between them, and compare it with the distance between two NEST runs that differ only in the
seed. Both distances come from scipy; empty samples give NaN, never an exception, so one
silent population does not stop a whole comparison.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.stats

__all__ = ["compare", "emd", "ks_distance"]


def _finite(values: np.ndarray) -> np.ndarray:
    """The finite values of ``values`` as a flat float64 array."""
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D = max |F_a - F_b|.

    Parameters
    ----------
    a, b : ndarray, shape (n_a,) and (n_b,)
        Samples of one statistic, any unit (the same for both). Non-finite values are
        ignored.

    Returns
    -------
    float
        D in [0, 1], from `scipy.stats.ks_2samp`; NaN if either sample is empty.
    """
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(scipy.stats.ks_2samp(a, b).statistic)


def emd(a: np.ndarray, b: np.ndarray) -> float:
    """Earth Mover's (first Wasserstein) distance between two samples.

    Parameters
    ----------
    a, b : ndarray, shape (n_a,) and (n_b,)
        Samples of one statistic. Non-finite values are ignored.

    Returns
    -------
    float
        The distance in the samples' unit (Hz for rates), from
        `scipy.stats.wasserstein_distance`: for ``b = a + c`` it is ``|c|``. NaN if either
        sample is empty.
    """
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(scipy.stats.wasserstein_distance(a, b))


def compare(
    dists_a: Mapping[str, Mapping[str, np.ndarray]],
    dists_b: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, dict[str, dict[str, float]]]:
    """KS distance and EMD for every population and statistic of two sets of distributions.

    Parameters
    ----------
    dists_a, dists_b : dict of str to dict of str to ndarray
        Population -> statistic (e.g. "rate", "cv", "corr") -> sample, as returned by
        `brainmac.analysis.population_distributions`. Both must hold the same populations and,
        per population, the same statistics.

    Returns
    -------
    dict
        Population -> statistic -> {"ks": D, "emd": E}, in the order of ``dists_a``.

    Raises
    ------
    ValueError
        A population or statistic present in one set and not in the other.
    """
    _check_same_keys(dists_a.keys(), dists_b.keys(), "populations")
    out = {}
    for pop, stats_a in dists_a.items():
        stats_b = dists_b[pop]
        _check_same_keys(stats_a.keys(), stats_b.keys(), f"statistics of {pop!r}")
        out[pop] = {
            stat: {"ks": ks_distance(a, stats_b[stat]), "emd": emd(a, stats_b[stat])}
            for stat, a in stats_a.items()
        }
    return out


def _check_same_keys(keys_a, keys_b, what: str) -> None:
    only_a, only_b = set(keys_a) - set(keys_b), set(keys_b) - set(keys_a)
    if only_a or only_b:
        raise ValueError(
            f"compare: the two sets differ in {what}: only in the first {sorted(only_a)}, "
            f"only in the second {sorted(only_b)}"
        )
