"""The yardstick: NEST's own seed-to-seed spread, and a verdict per (population, statistic).

The method of van Albada et al. 2018 (Front. Neurosci. 12:291) and Senk et al.: run the
reference simulator (NEST) with S seeds and the candidate (brainmac) with S seeds, compute
per population the distributions of firing rate, CV of ISI and spike-count correlation, and
measure the distance between two runs' distributions with the two-sample Kolmogorov-Smirnov
statistic D_KS (and the Earth Mover's Distance). Two simulators of the same model are
equivalent when the distance *between* them is no larger than the distance between two runs of
the reference that differ only in the seed.

The rule, per (population, statistic) cell and per metric (KS, EMD):

* the **spread** is the largest distance over the S (S - 1) / 2 NEST-NEST pairs;
* the **distance** is the median over the S**2 brainmac-NEST pairs (every brainmac run
  against every NEST run: the seeds of two different simulators are unrelated, so each pair
  is an independent draw);
* ``ratio = distance / spread``; the cell is **inside** when the ratio is <= the tolerance
  for both metrics. Both are needed: D_KS does not depend on the statistic's unit but
  saturates at 1 (two NEST seeds with disjoint rate distributions make any distance look
  inside), EMD keeps growing with the size of a shift.

The tolerance depends on S: with few seeds the spread is one or three numbers and a simulator
that is statistically identical to NEST exceeds it often. `default_tolerance` gives the
95th percentile of max(KS ratio, EMD ratio) for such a simulator (Monte-Carlo, samples of
1000 values, 3000 repetitions; docs/fidelity.md gives the script), so that about 5% of the
cells of a perfect simulator come out "outside" by chance; from 5 seeds on, the tolerance is
1 (the literal "within the envelope of NEST's spread").

With 5% of a perfect simulator's cells outside by chance, a table of 24 cells (the
microcircuit: 8 populations x 3 statistics) would rarely be clean. The overall verdict
therefore passes when no more cells are outside than chance allows (`allowed_outside`: a
binomial bound at 5%, 3 of 24 cells, 1 of Brunel's 6).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

from brainmac.analysis import compare

__all__ = [
    "METRICS", "STATISTICS", "allowed_outside", "cell_verdicts", "default_tolerance",
    "summarize",
]

STATISTICS = ("rate", "cv", "corr")
METRICS = ("ks", "emd")
#: 95th percentile of max over KS and EMD of median(cross) / max(reference) for a simulator
#: identical to the reference, by seeds S (1.0 from 5 seeds on).
_TOLERANCE_BY_SEEDS = {2: 1.9, 3: 1.3, 4: 1.1}
#: Probability that one cell of a simulator identical to NEST falls outside (the tolerance's
#: quantile), and the accepted probability of failing such a simulator as a whole.
CELL_FALSE_OUTSIDE = 0.05
OVERALL_FALSE_FAIL = 0.05

Distributions = Mapping[str, Mapping[str, np.ndarray]]


def default_tolerance(n_seeds: int) -> float:
    """Largest ``distance / spread`` ratio still called inside, for ``n_seeds`` seeds a side.

    Parameters
    ----------
    n_seeds : int
        Seeds per simulator, >= 2.

    Returns
    -------
    float
        1.9 for 2 seeds, 1.3 for 3, 1.1 for 4, 1.0 from 5 on (dimensionless).
    """
    if n_seeds < 2:
        raise ValueError(f"the spread needs at least 2 seeds, got {n_seeds}")
    return _TOLERANCE_BY_SEEDS.get(int(n_seeds), 1.0)


def _pairs(runs_a: Sequence[Distributions], runs_b: Sequence[Distributions] | None) -> list:
    """Distances of every pair: i < j within ``runs_a``, or every (i, j) of a x b."""
    if runs_b is None:
        return [compare(a, b) for a, b in itertools.combinations(runs_a, 2)]
    return [compare(a, b) for a in runs_a for b in runs_b]


def _finite(values: list[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def _judge(reference: list[float], cross: list[float], tolerance: float) -> dict:
    """Spread, distance, ratio and inside (None when undefined) of one metric of one cell."""
    ref, crs = _finite(reference), _finite(cross)
    spread = float(ref.max()) if ref.size else math.nan
    distance = float(np.median(crs)) if crs.size else math.nan
    if math.isnan(spread) or math.isnan(distance):
        ratio, inside = math.nan, None
    elif spread == 0.0:
        ratio, inside = (1.0 if distance == 0.0 else math.inf), distance == 0.0
    else:
        ratio = distance / spread
        inside = bool(ratio <= tolerance)
    return {"reference": list(reference), "cross": list(cross), "spread": spread,
            "distance": distance, "ratio": ratio, "inside": inside}


def _verdict(*inside: bool | None) -> str:
    """"outside" if a metric is outside, "inside" if all defined ones are, else "n/a"."""
    defined = [v for v in inside if v is not None]
    if not defined:
        return "n/a"
    return "inside" if all(defined) else "outside"


def cell_verdicts(
    reference_runs: Sequence[Distributions],
    candidate_runs: Sequence[Distributions],
    tolerance: float | None = None,
) -> dict[str, dict[str, dict]]:
    """Judge every (population, statistic) cell of a candidate against the reference spread.

    Parameters
    ----------
    reference_runs : sequence of dict
        One entry per reference (NEST) seed, at least two: population -> statistic ->
        sample, as `brainmac.analysis.population_distributions` returns.
    candidate_runs : sequence of dict
        The same for the candidate (brainmac), at least one.
    tolerance : float, optional
        Largest ``distance / spread`` called inside (default: `default_tolerance` of the
        number of reference seeds).

    Returns
    -------
    dict
        Population -> statistic -> {"ks": metric, "emd": metric, "candidate_spread":
        {"ks": float, "emd": float}, "verdict": "inside" | "outside" | "n/a"} (inside when
        every defined metric is inside), where a
        metric is {"reference": NEST-NEST distances, "cross": brainmac-NEST distances,
        "spread", "distance", "ratio", "inside": bool or None}. KS distances are in [0, 1],
        EMDs in the statistic's unit (Hz for rates). ``candidate_spread`` is the largest
        brainmac-brainmac distance (NaN with one candidate run). "n/a" marks a cell whose
        distances are undefined (a statistic empty in every run, e.g. the CV of a silent
        population).
    """
    if len(reference_runs) < 2 or not candidate_runs:
        raise ValueError("need at least 2 reference runs and 1 candidate run")
    tol = default_tolerance(len(reference_runs)) if tolerance is None else float(tolerance)
    ref_pairs = _pairs(reference_runs, None)
    cross_pairs = _pairs(candidate_runs, reference_runs)
    own_pairs = _pairs(candidate_runs, None)
    out: dict[str, dict[str, dict]] = {}
    for pop, stats in ref_pairs[0].items():
        out[pop] = {}
        for stat in stats:
            cell = {}
            for metric in METRICS:
                ref = [p[pop][stat][metric] for p in ref_pairs]
                crs = [p[pop][stat][metric] for p in cross_pairs]
                cell[metric] = _judge(ref, crs, tol)
            own = {m: _finite([p[pop][stat][m] for p in own_pairs]) for m in METRICS}
            cell["candidate_spread"] = {m: float(v.max()) if v.size else math.nan
                                        for m, v in own.items()}
            cell["verdict"] = _verdict(cell["ks"]["inside"], cell["emd"]["inside"])
            out[pop][stat] = cell
    return out


def allowed_outside(n_cells: int, p_cell: float = CELL_FALSE_OUTSIDE,
                    alpha: float = OVERALL_FALSE_FAIL) -> int:
    """Outside cells that chance allows a simulator statistically identical to NEST.

    Each cell of such a simulator falls outside with probability ``p_cell`` (the tolerance
    is that quantile), so the count of outside cells among ``n_cells`` is about
    Binomial(n_cells, p_cell); this is the smallest k with P(count > k) <= ``alpha``.
    The cells of one population are correlated, so the bound is approximate.

    Returns
    -------
    int
        0 for up to 1 cell, 1 for Brunel's 6 cells, 3 for the microcircuit's 24.
    """
    if n_cells <= 0:
        return 0
    k = 0
    while scipy.stats.binom.sf(k, n_cells, p_cell) > alpha:
        k += 1
    return k


def summarize(cells: Mapping[str, Mapping[str, Mapping]]) -> dict:
    """Counts of inside, outside and undefined cells, and the overall verdict.

    Returns
    -------
    dict
        {"inside": int, "outside": int, "n/a": int, "outside_cells": ["L23E/rate", ...],
        "allowed_outside": `allowed_outside` of the defined cells, "passed": bool (outside
        <= allowed_outside)}.
    """
    counts = {"inside": 0, "outside": 0, "n/a": 0}
    outside = []
    for pop, stats in cells.items():
        for stat, cell in stats.items():
            counts[cell["verdict"]] += 1
            if cell["verdict"] == "outside":
                outside.append(f"{pop}/{stat}")
    allowed = allowed_outside(counts["inside"] + counts["outside"])
    return {**counts, "outside_cells": outside, "allowed_outside": allowed,
            "passed": counts["outside"] <= allowed}
