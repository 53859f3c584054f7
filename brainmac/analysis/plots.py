"""PNG figures of a run: raster, rate and CV distributions, two simulators side by side.

Figures are built as `matplotlib.figure.Figure` objects and written with ``fig.savefig``
(Agg), never through ``pyplot``: no global figure state, no GUI backend, safe in threads and
in tests. Populations are colored by their position, with the same colors in every figure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["distributions_png", "raster_png", "rates_png"]

STAT_LABELS = {"rate": "rate (Hz)", "cv": "CV of ISI", "corr": "correlation coefficient"}
_DPI = 120


def _colors(n: int) -> list:
    """``n`` distinct colors, cycling through matplotlib's tab10."""
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _save(fig: Figure, path: str | os.PathLike) -> None:
    fig.savefig(os.fspath(path), dpi=_DPI, format="png")


def raster_png(
    path: str | os.PathLike,
    spikes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    sizes: Mapping[str, int],
    t_window: tuple[float, float],
    max_neurons_per_pop: int = 100,
    seed: int = 0,
) -> None:
    """Raster plot of a random sample of neurons of every population.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    spikes : dict of str to (times_ms, node_ids)
        Per population, ``times_ms`` (ms) and ``node_ids`` (0-based), shape (n_spikes,).
    sizes : dict of str to int
        Per population, its number of neurons. Populations are stacked top to bottom in the
        order of ``sizes``; one missing from ``spikes`` shows as silent.
    t_window : (float, float)
        Time range ``[t0, t1)`` to show, ms.
    max_neurons_per_pop : int, optional
        Neurons drawn per population (all if fewer), without replacement.
    seed : int, optional
        Seed of the ``numpy.random.Generator`` that draws the neurons.
    """
    t0, t1 = t_window
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.add_subplot()
    empty = (np.empty(0), np.empty(0, dtype=np.int64))
    top, centers = 0, []
    for (name, n), color in zip(sizes.items(), _colors(len(sizes)), strict=True):
        times, ids = (np.asarray(a) for a in spikes.get(name, empty))
        shown = np.sort(rng.choice(n, size=min(max_neurons_per_pop, n), replace=False))
        row_of = np.full(n, -1, dtype=np.int64)
        row_of[shown] = np.arange(shown.size)
        rows = row_of[ids.astype(np.int64)] if ids.size else np.empty(0, dtype=np.int64)
        keep = (rows >= 0) & (times >= t0) & (times < t1)
        ax.scatter(times[keep], top - rows[keep], s=6, color=color, marker="|", linewidths=0.8)
        centers.append(top - (shown.size - 1) / 2)
        top -= shown.size + max(1, max_neurons_per_pop // 10)
    ax.set_yticks(centers, list(sizes))
    ax.set_xlim(t0, t1)
    ax.set_ylim(top, 1)
    ax.set_xlabel("time (ms)")
    ax.set_title(f"spike raster, up to {max_neurons_per_pop} neurons per population")
    _save(fig, path)


def _box_panel(ax, samples: Mapping[str, np.ndarray], ylabel: str) -> None:
    """Box plot of one statistic, one box per population, population colors."""
    names = list(samples)
    data = [np.asarray(samples[n], dtype=float) for n in names]
    positions = np.arange(1, len(names) + 1)
    boxes = ax.boxplot(
        [d[np.isfinite(d)] for d in data],
        positions=positions,
        showfliers=False,
        showmeans=True,
        patch_artist=True,
        widths=0.6,
    )
    for patch, color in zip(boxes["boxes"], _colors(len(names)), strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    ax.set_xticks(positions, names)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def rates_png(
    path: str | os.PathLike,
    rates: Mapping[str, np.ndarray],
    cvs: Mapping[str, np.ndarray],
) -> None:
    """Per-population distributions of firing rate and CV of ISI, as two box-plot panels.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    rates : dict of str to ndarray, shape (n_neurons,)
        Per population, firing rates, Hz (silent neurons included).
    cvs : dict of str to ndarray, shape (n_defined,)
        Per population, CVs of ISI.

    Notes
    -----
    Boxes span the quartiles, whiskers 1.5 IQR, a triangle marks the mean; outliers are not
    drawn (a population has thousands of neurons).
    """
    fig = Figure(figsize=(10, 7), layout="constrained")
    ax_rate, ax_cv = fig.subplots(2, 1)
    _box_panel(ax_rate, rates, STAT_LABELS["rate"])
    ax_rate.set_title("firing rates")
    _box_panel(ax_cv, cvs, STAT_LABELS["cv"])
    ax_cv.set_title("irregularity")
    _save(fig, path)


def distributions_png(
    path: str | os.PathLike,
    a: Mapping[str, Mapping[str, np.ndarray]],
    b: Mapping[str, Mapping[str, np.ndarray]],
    labels: tuple[str, str] = ("brainmac", "NEST"),
) -> None:
    """Grid of histograms: per population (rows) and statistic (columns), ``a`` over ``b``.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    a, b : dict of str to dict of str to ndarray
        Population -> statistic ("rate", "cv", "corr", ...) -> sample, as returned by
        `brainmac.analysis.population_distributions`. Rows follow the populations of ``a``,
        columns the statistics of its first population; a sample missing in ``b`` draws
        only ``a``.
    labels : (str, str), optional
        Legend names of ``a`` and ``b``.
    """
    pops = list(a)
    stats = list(a[pops[0]]) if pops else []
    n_rows, n_cols = max(len(pops), 1), max(len(stats), 1)
    fig = Figure(figsize=(3.6 * n_cols, 1.6 * n_rows + 0.8))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.6 / fig.get_figheight(), top=0.98,
                        hspace=0.35, wspace=0.25)  # fmt: skip
    for r, pop in enumerate(pops):
        for c, stat in enumerate(stats):
            sample_b = b.get(pop, {}).get(stat, np.empty(0))
            _overlaid_hist(axes[r, c], a[pop].get(stat, np.empty(0)), sample_b, labels)
            if c == 0:
                axes[r, c].set_ylabel(pop)
            if r == len(pops) - 1:
                axes[r, c].set_xlabel(STAT_LABELS.get(stat, stat))
    if pops and stats:
        axes[0, 0].legend(fontsize="small")
    _save(fig, path)


def _overlaid_hist(ax, sample_a: np.ndarray, sample_b: np.ndarray, labels) -> None:
    """Density histograms of two samples on common bins (a filled, b as an outline).

    The bins span the central 99% of both samples together; values beyond are counted in
    the end bins, so that a few outliers do not squash the picture.
    """
    xa, xb = (np.asarray(s, dtype=float).ravel() for s in (sample_a, sample_b))
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    both = np.concatenate([xa, xb])
    ax.tick_params(labelsize="small")
    if both.size == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = (float(q) for q in np.quantile(both, [0.005, 0.995]))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    xa, xb = np.clip(xa, edges[0], edges[-1]), np.clip(xb, edges[0], edges[-1])
    if xa.size:
        style_a = {"histtype": "stepfilled", "alpha": 0.5, "color": "C0"}
        ax.hist(xa, bins=edges, density=True, label=labels[0], **style_a)
    if xb.size:
        ax.hist(xb, bins=edges, density=True, histtype="step", color="C3", label=labels[1])
