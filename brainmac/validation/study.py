"""A whole validation: S seeds per simulator, the distances, the verdicts.

Example::

    cfg = ValidationConfig(model="microcircuit", scale=0.1, seeds=2)
    result = validate_nest(cfg)                 # NEST's spread as the yardstick
    result.summary["passed"]
    published = validate_published(dataclasses.replace(cfg, reference="published"))
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from brainmac.errors import ConfigError
from brainmac.network import Network
from brainmac.validation.runs import (
    RunResult,
    ValidationConfig,
    build_network,
    pooled,
    run_brainmac,
    run_reference,
)
from brainmac.validation.spread import cell_verdicts, default_tolerance, summarize

__all__ = [
    "NestValidation", "PublishedValidation", "validate_nest", "validate_nest_profiles",
    "validate_published",
]

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def network_info(net: Network) -> dict:
    """Name, neuron count and population sizes of ``net`` (for reports)."""
    return {"name": net.name, "neurons": net.n_neurons,
            "populations": {p.name: p.size for p in net.populations}}


@dataclass
class NestValidation:
    """brainmac against NEST's seed-to-seed spread (see `brainmac.validation.spread`).

    Attributes
    ----------
    config : ValidationConfig
    network : dict
        Name, neuron count and population sizes of the network NEST simulated.
    tolerance : float
        Largest distance / spread ratio called inside.
    reference_runs, candidate_runs : list of RunResult
        NEST's and brainmac's runs, by seed.
    cells : dict
        Population -> statistic -> cell, as `brainmac.validation.spread.cell_verdicts`.
    summary : dict
        Counts and overall verdict, as `brainmac.validation.spread.summarize`.
    wall_s : float
        Wall time of the whole validation, s.
    candidate_network : str
        Name of the network brainmac simulated (differs in tests of a broken copy).
    """

    config: ValidationConfig
    network: dict
    tolerance: float
    reference_runs: list[RunResult]
    candidate_runs: list[RunResult]
    cells: dict
    summary: dict
    wall_s: float = 0.0
    candidate_network: str = ""

    def to_dict(self) -> dict:
        return {"kind": "brainmac-validation/1", "reference": "nest",
                "config": vars(self.config) | {"seed_list": self.config.seed_list},
                "network": self.network, "candidate_network": self.candidate_network,
                "tolerance": self.tolerance, "summary": self.summary, "cells": self.cells,
                "runs": [r.to_dict() for r in self.reference_runs + self.candidate_runs],
                "wall_s": self.wall_s}

    def pooled(self) -> tuple[dict, dict]:
        """(brainmac, NEST) samples of every seed concatenated, per population and stat."""
        return pooled(self.candidate_runs), pooled(self.reference_runs)


def validate_nest(cfg: ValidationConfig, network: Network | None = None,
                  candidate: Network | None = None,
                  progress: Progress = _quiet) -> NestValidation:
    """Run ``cfg.seeds`` seeds in NEST and in brainmac and judge every cell.

    Parameters
    ----------
    cfg : ValidationConfig
    network : Network, optional
        The description NEST simulates (default: built from ``cfg``).
    candidate : Network, optional
        The description brainmac simulates (default: ``network``). Tests pass a broken
        copy here to check that the verdict catches it.
    progress : callable(str), optional
        Receives one line per finished run.

    Raises
    ------
    ConfigError
        Bad configuration, or NEST not installed (``pip install brainmac[reference]``).
    """
    return validate_nest_profiles(cfg, [cfg.profile], network, candidate, progress)[0]


def validate_nest_profiles(cfg: ValidationConfig, profiles: list[str],
                           network: Network | None = None, candidate: Network | None = None,
                           progress: Progress = _quiet,
                           reference_runs: list[RunResult] | None = None,
                           ) -> list[NestValidation]:
    """`validate_nest` for several brainmac profiles against the same NEST runs.

    The NEST runs do not depend on brainmac's profile, so they are made once; each profile
    gets its own `NestValidation` (its ``wall_s`` counts the NEST runs and its own).
    ``reference_runs`` reuses the NEST runs of an earlier validation of ``network`` with
    the same configuration (its ``reference_runs``).
    """
    cfgs = [dataclasses.replace(cfg, profile=p) for p in profiles]
    for c in cfgs:
        c.check()
    require_nest()
    start = time.perf_counter()
    net = network if network is not None else build_network(cfg)
    cand = candidate if candidate is not None else net
    ref_runs = list(reference_runs or [])
    if ref_runs and [r.seed for r in ref_runs] != cfg.seed_list:
        raise ConfigError(f"reference_runs have seeds {[r.seed for r in ref_runs]}, the "
                          f"configuration {cfg.seed_list}")
    for seed in cfg.seed_list[len(ref_runs):]:
        ref_runs.append(run_reference(net, cfg, seed))
        progress(_run_line(ref_runs[-1], cfg.seeds))
    nest_s = time.perf_counter() - start
    tolerance = default_tolerance(cfg.seeds) if cfg.tolerance is None else cfg.tolerance
    results = []
    for c in cfgs:
        t0 = time.perf_counter()
        cand_runs = []
        for seed in c.seed_list:
            cand_runs.append(run_brainmac(cand, c, seed))
            progress(f"{c.label}: " + _run_line(cand_runs[-1], c.seeds))
        cells = cell_verdicts([r.distributions for r in ref_runs],
                              [r.distributions for r in cand_runs], tolerance)
        results.append(NestValidation(c, network_info(net), tolerance, ref_runs, cand_runs,
                                      cells, summarize(cells),
                                      nest_s + time.perf_counter() - t0, cand.name))
    return results


def require_nest() -> None:
    """A ConfigError unless NEST can be imported (checked without importing it)."""
    if importlib.util.find_spec("nest") is None:
        raise ConfigError("NEST is not installed: pip install brainmac[reference]")


def _run_line(run: RunResult, n_seeds: int) -> str:
    rates = ", ".join(f"{s['rate_mean_hz']:.2f}" for s in run.summary.values())
    wall = sum(run.wall_s.values())
    return f"{run.simulator} seed {run.seed}/{n_seeds}: {wall:.0f} s; rates (Hz) {rates}"


@dataclass
class PublishedValidation:
    """brainmac's mean rates (and Brunel's CV) against the model's published values.

    Attributes
    ----------
    config : ValidationConfig
    network : dict
        Name, neuron count and population sizes.
    runs : list of RunResult
        brainmac's runs, by seed.
    rows : dict
        Row (population, or "all") -> statistic -> {"reference", "per_seed", "mean",
        "rel_deviation"}; rates in Hz.
    source : str
        Where the reference values come from.
    note : str
        A caveat, e.g. full-scale values compared with a scaled network.
    wall_s : float
        Wall time, s.
    """

    config: ValidationConfig
    network: dict
    runs: list[RunResult]
    rows: dict
    source: str
    note: str = ""
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return {"kind": "brainmac-validation/1", "reference": "published",
                "config": vars(self.config) | {"seed_list": self.config.seed_list},
                "network": self.network, "source": self.source, "note": self.note,
                "rows": self.rows, "runs": [r.to_dict() for r in self.runs],
                "wall_s": self.wall_s}


def published_values(net: Network) -> tuple[dict[str, dict[str, float]], str, str]:
    """Reference values per row ({"rate_hz": ..., "cv": ...}), their source, and a caveat.

    Raises
    ------
    ConfigError
        When the network carries no published values (e.g. Brunel at another order).
    """
    meta = net.metadata
    rows = {pop: {"rate_hz": float(hz)} for pop, hz in (meta.get("reference_rates_hz")
                                                         or {}).items()}
    ref = meta.get("reference")
    if ref:  # one value for the whole network, with its CV ISI (Brunel)
        rows["all"] = {"rate_hz": float(ref["rate_hz"]), "cv": float(ref["cv_isi"])}
    if rows:
        scale = meta.get("parameters", {}).get("scale", 1.0)
        k_scale = meta.get("parameters", {}).get("k_scale", 1.0)
        note = ("" if (scale, k_scale) == (1.0, 1.0) else
                f"the reference values are for the full-scale network; this one has scale "
                f"{scale:g}, k_scale {k_scale:g}, whose rates differ even in NEST")
        source = meta.get("reference_rates_source") or (ref or {}).get("source", "")
        return rows, str(source), note
    raise ConfigError(f"network {net.name!r} has no published values to compare with "
                      "(Brunel has them at order 2500 only: use --scale 1); "
                      "use --reference nest")


def _measured_row(run: RunResult, row: str, sizes: dict[str, int]) -> dict[str, float]:
    """Mean rate (Hz) and mean CV of one population, or of all neurons for row "all"."""
    pops = list(sizes) if row == "all" else [row]
    rates = np.concatenate([run.distributions[p]["rate"] for p in pops])
    cvs = np.concatenate([run.distributions[p]["cv"] for p in pops])
    return {"rate_hz": float(rates.mean()) if rates.size else float("nan"),
            "cv": float(cvs.mean()) if cvs.size else float("nan")}


def validate_published(cfg: ValidationConfig, network: Network | None = None,
                       progress: Progress = _quiet) -> PublishedValidation:
    """Run brainmac with ``cfg.seeds`` seeds and compare mean rates with published values.

    Returns
    -------
    PublishedValidation
        ``rows``: row -> statistic ("rate_hz", and "cv" for Brunel) -> {"reference",
        "per_seed": [...], "mean": mean over seeds, "rel_deviation": (mean - reference) /
        reference}.
    """
    cfg.check()
    start = time.perf_counter()
    net = network if network is not None else build_network(cfg)
    reference, source, note = published_values(net)
    sizes = {p.name: p.size for p in net.populations}
    runs = []
    for seed in cfg.seed_list:
        runs.append(run_brainmac(net, cfg, seed))
        progress(_run_line(runs[-1], cfg.seeds))
    rows = {}
    for row, values in reference.items():
        measured = [_measured_row(run, row, sizes) for run in runs]
        rows[row] = {}
        for stat, ref in values.items():
            per_seed = [m[stat] for m in measured]
            mean = float(np.mean(per_seed))
            rows[row][stat] = {"reference": ref, "per_seed": per_seed, "mean": mean,
                               "rel_deviation": (mean - ref) / ref if ref else float("nan")}
    return PublishedValidation(cfg, network_info(net), runs, rows, source, note,
                               time.perf_counter() - start)
