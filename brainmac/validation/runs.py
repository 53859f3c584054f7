"""One validation run per simulator and seed: the network, the run, its distributions.

Both simulators see the same `brainmac.network.Network`: brainmac compiles it, NEST builds it
with brainmac's own translator (`brainmac.reference.nest`). Spike times are aligned to the
same convention before analysis: ms since the end of the warm-up, in ``[0, duration)``, a
spike of update step ``s`` at ``s * dt - warmup``. (NEST stamps that spike ``(s + 1) * dt``,
so its times are shifted by one step.)
"""

from __future__ import annotations

import copyreg
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainmac.analysis import population_distributions
from brainmac.errors import ConfigError
from brainmac.network import Network

__all__ = ["RunResult", "ValidationConfig", "build_network", "run_brainmac", "run_reference"]

MODELS = ("microcircuit", "brunel")
PROFILES = ("seed", "wide", "float32", "float64")
ROUNDINGS = ("stochastic", "nearest")  # the first is the default
REFERENCES = ("nest", "published")
#: The directory holding this brainmac package, put first on the NEST child's path.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class ValidationConfig:
    """Everything a validation needs; times in ms.

    Attributes
    ----------
    model : {"microcircuit", "brunel"}
    reference : {"nest", "published"}
    scale : float
        Fraction of neurons, in (0, 1]; Brunel's order is ``round(2500 * scale)``.
    k_scale : float
        Fraction of in-degree (microcircuit), in (0, 1].
    drive : {"poisson", "dc"}
        External input of the microcircuit.
    duration_ms, warmup_ms : float
        Analysed time after an unanalysed warm-up, ms; multiples of ``dt_ms``.
    dt_ms : float
        Time step of both simulators, ms.
    profile : str
        brainmac's precision profile.
    rounding : {"stochastic", "nearest"}
        brainmac's weight rounding (`brainmac.compile.profiles.with_rounding`).
    seeds : int
        Runs per simulator, with seeds 1 .. seeds.
    threads : int
        brainmac's numba threads and NEST's ``local_num_threads``.
    tolerance : float or None
        Largest distance / spread ratio called inside (None: by the number of seeds).
    """

    model: str = "microcircuit"
    reference: str = "nest"
    scale: float = 0.1
    k_scale: float = 1.0
    drive: str = "poisson"
    duration_ms: float = 1000.0
    warmup_ms: float = 200.0
    dt_ms: float = 0.1
    profile: str = "seed"
    rounding: str = ROUNDINGS[0]
    seeds: int = 2
    threads: int = 2
    tolerance: float | None = None
    substep_bits: int = 0  # brainmac's k-bit spike offsets (brainmac.compile.substep)
    nest_precise: bool = False  # NEST's precise-timing models (run_nest(precise=True))

    @property
    def seed_list(self) -> list[int]:
        return list(range(1, self.seeds + 1))

    @property
    def label(self) -> str:
        """brainmac's numerics in one word: the profile, with the rounding if not the
        default."""
        return self.profile if self.rounding == ROUNDINGS[0] else f"{self.profile}+{self.rounding}"

    def check(self) -> None:
        """Refuse bad input with a one-line ConfigError, before any work."""
        for name, value, known in (("model", self.model, MODELS),
                                   ("reference", self.reference, REFERENCES),
                                   ("precision", self.profile, PROFILES),
                                   ("rounding", self.rounding, ROUNDINGS)):
            if value not in known:
                raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(known)}")
        self._check_times()
        if not 0 < self.scale <= 1 or not 0 < self.k_scale <= 1:
            raise ConfigError(f"--scale and --k-scale must be in (0, 1], got {self.scale}, "
                              f"{self.k_scale}")
        minimum = 2 if self.reference == "nest" else 1
        if self.seeds < minimum:
            raise ConfigError(f"--seeds must be >= {minimum} with --reference {self.reference} "
                              "(NEST's spread needs two NEST seeds)")
        if self.tolerance is not None and not (math.isfinite(self.tolerance)
                                               and self.tolerance > 0):
            raise ConfigError(f"--tolerance must be > 0, got {self.tolerance}")
        if self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")


    def _check_times(self) -> None:
        if not (math.isfinite(self.dt_ms) and self.dt_ms > 0):
            raise ConfigError(f"--dt must be > 0 ms, got {self.dt_ms}")
        for name, value in (("--duration", self.duration_ms), ("--warmup", self.warmup_ms)):
            steps = value / self.dt_ms
            if not math.isfinite(value) or value < 0 or abs(steps - round(steps)) > 1e-6 * max(
                    1.0, steps):
                raise ConfigError(f"{name} {value:g} ms must be >= 0 and a multiple of "
                                  f"dt={self.dt_ms:g} ms")
        if self.duration_ms <= 0:
            raise ConfigError("--duration must be > 0")


def build_network(cfg: ValidationConfig) -> Network:
    """The model's network for ``cfg`` (the same description for both simulators)."""
    from brainmac import models

    if cfg.model == "brunel":
        return models.build("brunel", order=max(1, round(2500 * cfg.scale)))
    return models.build("microcircuit", scale=cfg.scale, k_scale=cfg.k_scale, drive=cfg.drive,
                        dt_ms=cfg.dt_ms)


@dataclass
class RunResult:
    """One simulator's run with one seed.

    Attributes
    ----------
    simulator : str
        "brainmac" or "NEST".
    seed : int
    distributions : dict
        Population -> {"rate": Hz, "cv", "corr"} samples (`population_distributions`).
    summary : dict
        Population -> {"rate_mean_hz", "cv_mean", "corr_mean", "n_spikes"}.
    wall_s : dict
        Wall times of the stages, s.
    info : dict
        Simulator-specific facts (saturations, versions).
    """

    simulator: str
    seed: int
    distributions: dict
    summary: dict
    wall_s: dict
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"simulator": self.simulator, "seed": self.seed, "summary": self.summary,
                "wall_s": self.wall_s, "info": self.info}


def analyze(spikes: dict, sizes: dict[str, int], duration_ms: float) -> tuple[dict, dict]:
    """Distributions and summary numbers of aligned spikes in ``[0, duration_ms)``."""
    dists = population_distributions(spikes, sizes, 0.0, duration_ms)
    summary = {}
    for name, d in dists.items():
        times = spikes.get(name, (np.empty(0),))[0]
        summary[name] = {
            "rate_mean_hz": _mean(d["rate"]), "cv_mean": _mean(d["cv"]),
            "corr_mean": _mean(d["corr"]),
            "n_spikes": int(np.count_nonzero((times >= 0) & (times < duration_ms))),
        }
    return dists, summary


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def _sizes(net: Network) -> dict[str, int]:
    return {p.name: p.size for p in net.populations}


def run_brainmac(net: Network, cfg: ValidationConfig, seed: int) -> RunResult:
    """Compile and simulate ``net`` with brainmac (profile, dt and threads of ``cfg``)."""
    from brainmac.compile import compile_network
    from brainmac.engine import Simulator

    t0 = time.perf_counter()
    from brainmac.compile.profiles import with_rounding

    profile = with_rounding(cfg.profile, cfg.rounding)
    compiled = compile_network(net, profile, cfg.dt_ms, seed, threads=cfg.threads,
                               substep_bits=cfg.substep_bits)
    t1 = time.perf_counter()
    sim = Simulator(compiled, threads=cfg.threads, record="all")
    jit_s = sim.compile_kernels()
    t2 = time.perf_counter()
    sim.run(cfg.warmup_ms + cfg.duration_ms)
    t3 = time.perf_counter()
    spikes = {name: (times - cfg.warmup_ms, ids) for name, (times, ids) in sim.spikes().items()}
    dists, summary = analyze(spikes, _sizes(net), cfg.duration_ms)
    wall = {"build": t1 - t0, "kernel_compile": jit_s, "simulate": t3 - t2,
            "analyze": time.perf_counter() - t3}
    info = {"profile": compiled.profile.name, "rounding": profile.rounding,
            "saturation": sim.saturation_counts(),
            "synapses": int(compiled.n_synapses)}
    return RunResult("brainmac", seed, dists, summary, wall, info)


def run_reference(net: Network, cfg: ValidationConfig, seed: int) -> RunResult:
    """Build and simulate ``net`` in NEST with brainmac's translator, in a child process.

    A fresh Python process per run: NEST's kernel memory is returned after each seed, and
    NEST never shares a process with numba's OpenMP threads (NEST 3.10 imported before
    numba's threading layer started crashes this machine's Python in ``nest.ResetKernel``).
    """
    payload = _in_child(net, cfg, seed)
    t0 = time.perf_counter()
    shift = 0.0 if cfg.nest_precise else cfg.dt_ms  # precise times are the crossings
    spikes = {name: (times - shift, ids) for name, (times, ids) in payload["spikes"].items()}
    dists, summary = analyze(spikes, _sizes(net), cfg.duration_ms)
    wall = dict(payload["wall_s"], analyze=time.perf_counter() - t0)
    return RunResult("NEST", seed, dists, summary, wall, payload["info"])


class _Pickler(pickle.Pickler):
    """Pickles a Network: its neuron parameters are read-only mappings (mappingproxy)."""

    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[types.MappingProxyType] = lambda m: (_mappingproxy, (dict(m),))


def _mappingproxy(values: dict) -> types.MappingProxyType:
    return types.MappingProxyType(values)


def _in_child(net: Network, cfg: ValidationConfig, seed: int) -> dict:
    """Run `_nest_payload` in a fresh interpreter; job and answer travel as pickle files."""
    with tempfile.TemporaryDirectory(prefix="brainmac-nest-") as tmp:
        job, answer = Path(tmp) / "job.pkl", Path(tmp) / "answer.pkl"
        with job.open("wb") as fh:
            _Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL).dump((net, cfg, seed))
        code = f"from brainmac.validation.runs import _child_main; _child_main({str(tmp)!r})"
        env = dict(os.environ, PYNEST_QUIET="1", PYTHONPATH=os.pathsep.join(
            [_PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, check=False)
        if proc.returncode != 0 or not answer.exists():
            tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            if "ConfigError" in tail:
                raise ConfigError(tail.split("ConfigError:", 1)[-1].strip())
            raise RuntimeError(f"the NEST run (seed {seed}) failed with status "
                               f"{proc.returncode}: {tail}")
        with answer.open("rb") as fh:
            return pickle.load(fh)


def _child_main(tmp: str) -> None:
    """Entry point of the child process of `_in_child`."""
    with (Path(tmp) / "job.pkl").open("rb") as fh:
        net, cfg, seed = pickle.load(fh)
    payload = _nest_payload(net, cfg, seed)
    with (Path(tmp) / "answer.pkl").open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _nest_payload(net: Network, cfg: ValidationConfig, seed: int) -> dict:
    from brainmac.reference.nest import run_nest

    result = run_nest(net, cfg.duration_ms, cfg.dt_ms, threads=cfg.threads, seed=seed,
                      warmup_ms=cfg.warmup_ms, precise=cfg.nest_precise)
    return {"spikes": result.spikes,
            "wall_s": {"build": result.build_s, "warmup": result.warmup_s,
                       "simulate": result.simulate_s},
            "info": {"nest_version": result.nest_version, "synapses": result.n_synapses,
                     "peak_rss_bytes": result.peak_rss_bytes}}


def pooled(runs: list[RunResult]) -> dict:
    """Every run's samples concatenated, per population and statistic (for figures)."""
    out: dict = {}
    for run in runs:
        for pop, stats in run.distributions.items():
            for stat, sample in stats.items():
                out.setdefault(pop, {}).setdefault(stat, []).append(np.asarray(sample))
    return {pop: {stat: np.concatenate(parts) for stat, parts in stats.items()}
            for pop, stats in out.items()}
