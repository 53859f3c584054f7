"""One simulation job, end to end: build, compile, run, record, analyze, report.

This is what ``brainmac run`` does; the CLI only parses arguments and prints. Everything the
job measures goes into ``report.json`` in the output directory, next to ``spikes.h5``
(SONATA), ``raster.png`` and ``rates.png``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from brainmac import models
from brainmac.analysis import (
    cv_isi,
    firing_rates,
    population_summary,
    raster_png,
    rates_png,
)
from brainmac.analysis.stats import CORRELATION_BIN_MS
from brainmac.compile import compile_network
from brainmac.engine import Simulator
from brainmac.errors import ConfigError, StoreError
from brainmac.io import SpikeWriter
from brainmac.store import is_store_dir, open_store, read_manifest
from brainmac.store.checkpoint import (
    kept_spikes,
    load_checkpoint,
    merge_spikes,
    resumed_writer,
    save_checkpoint,
    segments,
)

OUTPUT_MARKER = ".brainmac-output"  # a directory holding this file is ours to overwrite
BYTES_PER_SPIKE_ON_DISK = 16  # SONATA: float64 time + uint64 id
DISK_MARGIN_BYTES = 50 * 2**20  # plots, report and HDF5 overhead


@dataclass
class JobConfig:
    """Everything a run needs; times in ms."""

    model: str = "microcircuit"
    scale: float = 1.0
    k_scale: float = 1.0
    drive: str = "poisson"
    profile: str = "seed"
    dt_ms: float = 0.1
    warmup_ms: float = 500.0
    duration_ms: float = 1000.0
    seed: int = 1
    threads: int | None = None
    record: str | float | list[str] = "all"
    out: str = "brainmac-out"
    partition_size: int | None = None
    row_layout: str = "neuron"  # the synapse rows' order (brainmac.compile.rows)
    checkpoint_every_ms: float | None = None
    substep_bits: int = 0  # k-bit spike offsets within the step (brainmac.compile.substep)
    rounding: str = "stochastic"  # weight rounding of the fixed-point profiles

    def numerics(self):
        """The precision profile with this job's weight rounding."""
        from brainmac.compile.profiles import with_rounding

        return with_rounding(self.profile, self.rounding)


@dataclass
class Hooks:
    """Callbacks a front end uses to show progress; all optional."""

    stage: Callable[[str], None] = lambda name: None
    compile_progress: Callable[[int, int], None] | None = None
    run_progress: Callable[[int, int, Simulator], None] | None = None
    extra: dict = field(default_factory=dict)


def check_times(cfg: JobConfig) -> None:
    """Refuse durations that are negative or not whole multiples of dt, before any work."""
    if not (math.isfinite(cfg.dt_ms) and cfg.dt_ms > 0):
        raise ConfigError(f"--dt must be > 0 ms, got {cfg.dt_ms}")
    checks = [("--duration", cfg.duration_ms), ("--warmup", cfg.warmup_ms)]
    if cfg.checkpoint_every_ms is not None:
        checks.append(("--checkpoint-every", cfg.checkpoint_every_ms))
    for name, value in checks:
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value} ms")
        steps = value / cfg.dt_ms
        if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
            raise ConfigError(f"{name} {value:g} ms is not a multiple of dt={cfg.dt_ms:g} ms; "
                              "change one of them")
    if cfg.duration_ms <= 0:
        raise ConfigError("--duration must be > 0")
    if cfg.checkpoint_every_ms is not None and cfg.checkpoint_every_ms <= 0:
        raise ConfigError("--checkpoint-every must be > 0")


def prepare_output(out: str | Path) -> Path:
    """Create ``out``, or reuse it if an earlier brainmac run made it; refuse anything else."""
    path = Path(out)
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"output path {path} exists and is not a directory; "
                              "choose another --out")
        if any(path.iterdir()) and not (path / OUTPUT_MARKER).exists():
            raise ConfigError(f"output directory {path} exists and was not made by brainmac; "
                              "choose another --out or empty it")
    path.mkdir(parents=True, exist_ok=True)
    (path / OUTPUT_MARKER).write_text("written by brainmac run\n")
    return path


def check_disk(path: Path, n_neurons: int, seconds: float, rate_hz: float = 50.0) -> None:
    """Refuse a run whose spike file would not fit on the disk (a generous estimate)."""
    need = int(n_neurons * rate_hz * seconds * BYTES_PER_SPIKE_ON_DISK) + DISK_MARGIN_BYTES
    free = shutil.disk_usage(path).free
    if free < need:
        raise ConfigError(f"the disk holding {path} has {free / 2**20:.0f} MiB free; this run "
                          f"may need {need / 2**20:.0f} MiB: free space or choose another --out")


def build_network(cfg: JobConfig):
    """The model's network for this job's scale, drive and dt."""
    if not (0 < cfg.scale <= 1):
        raise ConfigError(f"--scale must be in (0, 1], got {cfg.scale}")
    if cfg.model == "microcircuit":
        return models.build("microcircuit", scale=cfg.scale, k_scale=cfg.k_scale,
                            drive=cfg.drive, dt_ms=cfg.dt_ms)
    if cfg.model == "brunel":
        return models.build("brunel", order=max(1, round(2500 * cfg.scale)))
    return models.build(cfg.model)  # unknown: raises with the list of models


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def versions() -> dict:
    import numba

    from brainmac import __version__

    return {"brainmac": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__,
            "machine": platform.machine(), "cpu_count": _cpu_count()}


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def quantization_summary(manifest: dict) -> dict:
    """Worst and synapse-weighted mean relative weight error over all projections."""
    rows = manifest["quantization"]
    if not rows:
        return {"projections": 0, "mean_rel_error": 0.0, "max_rel_error": 0.0, "clipped": 0}
    n = np.array([r["synapses"] for r in rows], float)
    mean = float(np.sum(n * [r["mean_rel_error"] for r in rows]) / n.sum())
    return {"projections": len(rows), "mean_rel_error": mean,
            "max_rel_error": max(r["max_rel_error"] for r in rows),
            "clipped": int(sum(r["clipped"] for r in rows))}


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict) -> None:
    """Write strict JSON (NaN and inf become null) atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=2, allow_nan=False))
    tmp.replace(path)


def job_config_dict(cfg: JobConfig) -> dict:
    return asdict(cfg)


def population_table(net_pops: list[dict], spikes: dict, t0: float, t1: float,
                     reference: dict) -> dict:
    """Per population: neurons, spikes, rate, CV ISI, correlation, and the reference rate."""
    sizes = {p["name"]: p["size"] for p in net_pops}
    summary = population_summary(spikes, sizes, t0, t1)
    for name, row in summary.items():
        row["reference_rate_hz"] = reference.get(name)
    return summary


def execute(cfg: JobConfig, hooks: Hooks | None = None, resume: bool = False) -> dict:
    """Run one job and write its output directory; returns the report (also report.json).

    ``cfg.model`` may be a store directory (``brainmac compile``): the run then uses its
    memory-mapped arrays, profile, dt and seed. ``cfg.checkpoint_every_ms`` writes
    checkpoints into ``OUT/checkpoint``; ``resume`` continues from the last one.
    Started by ``mpiexec`` with several ranks, the job runs distributed over them.
    """
    distributed = _execute_distributed(cfg, hooks, resume)
    if distributed is not None:
        return distributed
    hooks = hooks or Hooks()
    cfg = store_config(cfg)
    check_times(cfg)
    out = prepare_output(cfg.out)
    resumed = load_checkpoint(out) if resume else None
    start = time.perf_counter()
    compiled = _compiled(cfg, out, hooks)
    build_s = time.perf_counter() - start
    identity = _network_identity(cfg, compiled)
    if resumed is not None and resumed.index["network"] != identity:
        raise ConfigError(f"the checkpoint in {out} was written for another network "
                          f"({resumed.index['network']}); this one is {identity}")
    sizes = {p["name"]: p["size"] for p in compiled.populations}
    kept = kept_spikes(out / "spikes.h5", resumed.index["spikes_written"]) if resumed else {}
    opened = resumed_writer(out / "spikes.h5", sizes, kept) if resumed else \
        SpikeWriter(out / "spikes.h5", sizes)
    with opened as writer:
        starts = {p["name"]: p["start"] for p in compiled.populations}
        bounds = np.array([p["start"] for p in compiled.populations] + [compiled.n_neurons])
        names = [p["name"] for p in compiled.populations]

        def sink(gid: np.ndarray, step: np.ndarray) -> None:
            owner = np.searchsorted(bounds, gid, side="right") - 1
            for k, name in enumerate(names):
                sel = owner == k
                if sel.any():
                    writer.append(name, sim.ticks_to_ms(step[sel]), gid[sel] - starts[name])
            if not cfg.checkpoint_every_ms:  # else flushed at checkpoints only, so that a
                writer.flush()               # kill rarely lands inside an HDF5 flush

        sim = Simulator(compiled, threads=cfg.threads, record=cfg.record, spike_sink=sink)
        hooks.stage("compiling kernels")
        jit_s = sim.compile_kernels()
        if resumed is not None:
            sim.restore(resumed.state)
        hooks.stage("simulating")
        _simulate(cfg, sim, out, writer, identity, hooks)
    spikes = merge_spikes(kept, sim.spikes())
    t0, t1 = cfg.warmup_ms, cfg.warmup_ms + cfg.duration_ms
    hooks.stage("analyzing")
    report = _report(cfg, compiled.manifest, compiled, sim, spikes, build_s, jit_s, t0, t1)
    _plots(out, spikes, sizes, t0, t1)
    write_json(out / "report.json", report)
    return report


def _execute_distributed(cfg: JobConfig, hooks: Hooks | None, resume: bool) -> dict | None:
    """The job over MPI ranks (:mod:`brainmac.parallel`) when an MPI launcher started
    several; None in a plain process."""
    from brainmac.parallel import mpi_context

    context = mpi_context()
    if context is None:
        return None
    if store_config(cfg).substep_bits:
        raise ConfigError("sub-step spike times (--substep-bits > 0) do not run over MPI yet; "
                          "run in one process")
    from brainmac.parallel.job import execute_distributed

    return execute_distributed(cfg, hooks, context, resume)


def store_config(cfg: JobConfig) -> JobConfig:
    """For a job on a store, the config with the store's profile, dt and seed."""
    if not is_store_dir(cfg.model):
        return cfg
    manifest = read_manifest(cfg.model)
    return replace(cfg, profile=manifest["profile"], dt_ms=manifest["dt_ms"],
                   seed=manifest["seed"],
                   substep_bits=int(manifest["model"].get("substep_bits", 0)),
                   rounding=manifest["model"].get("weight_rounding", "nearest"))


def job_config_from_dict(data: dict, where: str) -> JobConfig:
    """The JobConfig a checkpoint recorded; StoreError naming ``where`` if it is not one."""
    known = {f.name for f in fields(JobConfig)}
    if set(data) - known:
        raise StoreError(f"{where}: unknown job options {sorted(set(data) - known)}")
    return JobConfig(**data)


def _compiled(cfg: JobConfig, out: Path, hooks: Hooks):
    """The job's compiled network: opened from a store, or built and compiled in memory."""
    seconds = (cfg.warmup_ms + cfg.duration_ms) / 1000.0
    if is_store_dir(cfg.model):
        hooks.stage("opening the store")
        compiled = open_store(cfg.model)
        check_disk(out, compiled.n_neurons, seconds)
        return compiled
    hooks.stage("building the network")
    net = build_network(cfg)
    check_disk(out, net.n_neurons, seconds)
    hooks.stage("compiling")
    return compile_network(net, cfg.numerics(), cfg.dt_ms, cfg.seed,
                           partition_size=cfg.partition_size,
                           threads=cfg.threads or _cpu_count(),
                           progress=hooks.compile_progress, substep_bits=cfg.substep_bits,
                           layout=cfg.row_layout)


def _network_identity(cfg: JobConfig, compiled) -> dict:
    """What a checkpoint must find again on resume: sizes, and a store's manifest digest."""
    out = {"neurons": compiled.n_neurons, "synapses": compiled.n_synapses}
    if is_store_dir(cfg.model):
        digest = hashlib.blake2b((Path(cfg.model) / "manifest.json").read_bytes())
        out["manifest_blake2b"] = digest.hexdigest()[:32]
    return out


def _simulate(cfg: JobConfig, sim: Simulator, out: Path, writer, identity: dict,
              hooks: Hooks) -> None:
    """Run to the job's end, in segments that end on checkpoints if asked for."""
    total = sim.steps_for(cfg.warmup_ms + cfg.duration_ms)
    every = sim.steps_for(cfg.checkpoint_every_ms) if cfg.checkpoint_every_ms else total
    for n in segments(sim.step, total, max(every, 1)):
        first = sim.step
        progress = None if hooks.run_progress is None else (
            lambda done, _n, s, first=first: hooks.run_progress(first + done, total, s))
        sim.run(n * cfg.dt_ms, progress=progress)
        if cfg.checkpoint_every_ms and sim.step < total:
            writer.flush()
            save_checkpoint(out, sim.state(), asdict(cfg),
                            {name: writer.n_spikes(name) for name in writer.sizes},
                            identity, writer.path)


def _report(cfg, manifest, compiled, sim, spikes, build_s, jit_s, t0, t1) -> dict:
    bio_s = sim.time_ms / 1000.0
    wall = sim.stats.wall_s
    metadata = manifest["metadata"]
    pops = population_table(compiled.populations, spikes, t0, t1,
                            metadata.get("reference_rates_hz", {}))
    return {
        "model": cfg.model, "network": manifest["network"], "config": asdict(cfg),
        "profile": compiled.profile.name, "dt_ms": cfg.dt_ms, "seed": cfg.seed,
        "substep_bits": compiled.substep_bits,
        "threads": sim.threads, "versions": versions(),
        "neurons": compiled.n_neurons, "synapses": compiled.n_synapses,
        "partitions": compiled.n_partitions,
        "wall_s": {"build": build_s, "kernel_compile": jit_s, "simulate": wall},
        "biological_s": bio_s, "real_time_factor": wall / bio_s if bio_s else None,
        "synaptic_events": sim.stats.events,
        "synaptic_events_per_wall_s": sim.stats.events / wall if wall else None,
        "synaptic_events_per_bio_s": sim.stats.events / bio_s if bio_s else None,
        "spikes": sim.stats.spikes,
        "bytes_per_synapse": compiled.bytes_per_synapse(),
        "synapse_bytes": compiled.synapse_bytes(),
        "peak_rss_bytes": peak_rss_bytes(),
        "saturation": sim.saturation_counts(),
        "quantization_summary": quantization_summary(compiled.manifest),
        "quantization": compiled.manifest["quantization"],
        "drives": compiled.manifest["drives"],
        "scales": {p["name"]: {"v_lsb_mv": p["v_lsb_mv"], "i_lsb_pa": p["i_lsb_pa"]}
                   for p in compiled.populations},
        "analysis_window_ms": [t0, t1],
        "correlation_bin_ms": CORRELATION_BIN_MS,
        "populations": pops,
        "reference_rates_source": metadata.get("reference_rates_source"),
        "parameters": metadata.get("parameters", {}),
    }


def _plots(out: Path, spikes: dict, sizes: dict, t0: float, t1: float) -> None:
    raster_png(out / "raster.png", spikes, sizes, (t0, min(t1, t0 + 200.0)))
    rates = {n: firing_rates(*spikes[n], sizes[n], t0, t1) for n in sizes}
    cvs = {n: cv_isi(*spikes[n], sizes[n], t0, t1) for n in sizes}
    rates_png(out / "rates.png", rates, cvs)
