"""Analyze spikes: rates, CV of ISI, spike-count correlations, distances (KS, EMD), plots."""

from brainmac.analysis.distances import compare, emd, ks_distance
from brainmac.analysis.plots import distributions_png, raster_png, rates_png
from brainmac.analysis.stats import (
    cv_isi,
    firing_rates,
    population_distributions,
    population_summary,
    spike_count_correlations,
)

__all__ = [
    "compare", "cv_isi", "distributions_png", "emd", "firing_rates", "ks_distance",
    "population_distributions", "population_summary", "raster_png", "rates_png",
    "spike_count_correlations",
]  # fmt: skip
