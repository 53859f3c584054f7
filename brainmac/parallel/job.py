"""One job over MPI ranks: what ``mpiexec -n R brainmac run ...`` does.

Every rank builds the network description, assigns partitions (the same answer on every
rank: no communication), compiles only its own partitions, and steps them, exchanging
spikes once per chunk of the minimum delay. Rank 0 gathers the recording per block into
one SONATA file, reduces the counters, and writes one report and the plots.

Phases. Setup (checks, output directory, network description, assignment) has no
collectives: its errors are agreed on and end the job with one message from rank 0. From
the compile on, ranks wait on each other, so any failure aborts the whole job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainmac import runner
from brainmac.compile.compiler import DEFAULT_PARTITION_SIZE, Compiler, partition_bounds
from brainmac.engine import Simulator
from brainmac.errors import ConfigError
from brainmac.io import SpikeWriter
from brainmac.parallel.assign import assign_partitions, partition_costs
from brainmac.parallel.context import (
    MPIContext,
    abort_on_error,
    agree_on_errors,
    injected_failure,
)
from brainmac.parallel.exchange import DEFAULT_METHOD, make_exchange
from brainmac.parallel.partial import compile_owned
from brainmac.parallel.record import SpikeGatherer, population_writer
from brainmac.parallel.stats import job_statistics

#: Tunables of MPI runs, read from the environment (declared once here).
EXCHANGE_VARIABLE = "BRAINMAC_MPI_EXCHANGE"  # allgatherv | fixed | alltoallv
BALANCE_VARIABLE = "BRAINMAC_MPI_BALANCE"  # synapses | neurons


@dataclass
class Setup:
    """What the setup phase decided, identically on every rank."""

    cfg: runner.JobConfig
    out: Path
    net: object
    compiler: Compiler
    edges: np.ndarray
    costs: np.ndarray
    threads: int

    def owned(self, rank: int) -> tuple[int, int]:
        return int(self.edges[rank]), int(self.edges[rank + 1])


def rank_threads(cfg: runner.JobConfig, context: MPIContext) -> int:
    """Threads per rank: as given, else this node's cores shared among its ranks."""
    if cfg.threads:
        return int(cfg.threads)
    return max(1, runner._cpu_count() // context.local_size)


def partition_size_for(net, cfg: runner.JobConfig, n_workers: int) -> int:
    """The given partition size, or the default shrunk until every worker (rank x thread)
    can own a partition. Results do not depend on the partitioning."""
    if cfg.partition_size:
        return int(cfg.partition_size)
    size = min(DEFAULT_PARTITION_SIZE, max(1, net.n_neurons // n_workers))
    while size > 1 and partition_bounds(net, size)[1].size < n_workers:
        size = max(1, size // 2)
    return size


def _setup(cfg: runner.JobConfig, context: MPIContext) -> Setup:
    if runner.is_store_dir(cfg.model):
        raise ConfigError("MPI runs compile the model on the ranks; running a store over MPI "
                          "is not supported yet: run the model by name")
    if cfg.checkpoint_every_ms is not None:
        raise ConfigError("checkpoints are not supported in MPI runs yet; "
                          "drop --checkpoint-every")
    runner.check_times(cfg)
    out = runner.prepare_output(cfg.out) if context.is_root else Path(cfg.out)
    net = runner.build_network(cfg)
    if context.is_root:
        runner.check_disk(out, net.n_neurons, (cfg.warmup_ms + cfg.duration_ms) / 1000.0)
    threads = rank_threads(cfg, context)
    size = partition_size_for(net, cfg, context.size * threads)
    compiler = Compiler(net, cfg.profile, cfg.dt_ms, cfg.seed, size)
    costs = partition_costs(compiler, os.environ.get(BALANCE_VARIABLE, "synapses"))
    edges = assign_partitions(costs, context.size)
    return Setup(cfg, out, net, compiler, edges, costs, threads)


def execute_distributed(cfg: runner.JobConfig, hooks: runner.Hooks | None,
                        context: MPIContext, resume: bool = False) -> dict:
    """Run one job on every rank of ``context``; collective. Returns the report on every
    rank (rank 0 writes it, with ``spikes.h5`` and the plots)."""
    if resume:
        raise ConfigError("--resume is not supported in MPI runs yet")
    setup = agree_on_errors(context, lambda: _setup(cfg, context))
    hooks = hooks if (hooks is not None and context.is_root) else runner.Hooks()
    with abort_on_error(context):
        return _run(setup, hooks, context)


def _run(setup: Setup, hooks: runner.Hooks, context: MPIContext) -> dict:
    cfg, owned = setup.cfg, setup.owned(context.rank)
    start = time.perf_counter()
    hooks.stage(f"compiling on {context.size} ranks")
    compiled = compile_owned(setup.compiler, owned, context, setup.threads,
                             hooks.compile_progress)
    build_s = time.perf_counter() - start
    sizes = {p["name"]: p["size"] for p in compiled.populations}
    writer = SpikeWriter(setup.out / "spikes.h5", sizes) if context.is_root else None
    try:
        write = population_writer(writer, compiled.populations, cfg.dt_ms) if writer else None
        gatherer = SpikeGatherer(context, write)
        exchange = make_exchange(os.environ.get(EXCHANGE_VARIABLE, DEFAULT_METHOD), context,
                                 compiled.arrays, owned, max(1, compiled.min_delay))
        sim = Simulator(compiled, threads=setup.threads, record=cfg.record,
                        spike_sink=gatherer, owned=owned, exchange=exchange)
        hooks.stage("compiling kernels")
        jit_s = warm_kernels(compiled, setup.threads, owned)
        hooks.stage("simulating")
        simulate(sim, exchange, cfg.warmup_ms + cfg.duration_ms, context, hooks)
    finally:
        if writer is not None:
            writer.close()
    summary, mpi = job_statistics(context, sim, exchange, gatherer, setup)
    report = None
    if context.is_root:
        report = _write_outputs(setup, compiled, summary, mpi, gatherer, build_s, jit_s, hooks)
    return context.comm.bcast(report, root=0)


def warm_kernels(compiled, threads: int, owned: tuple[int, int]) -> float:
    """Compile (or load from cache) the exchanging step loop's kernels on a throwaway
    simulator, so the run's wall time is simulation only. Returns the seconds it took."""
    start = time.perf_counter()
    scratch = Simulator(compiled, threads=threads, record=None, owned=owned,
                        exchange=lambda gid, step: (gid, step))
    scratch.run(max(1, compiled.min_delay) * compiled.dt_ms)
    return time.perf_counter() - start


def block_steps(sim: Simulator, context: MPIContext) -> int:
    """Steps per block, the same on every rank: the smallest any rank's simulator wants
    (each then runs a block in one piece, so all gather and exchange in step)."""
    from mpi4py import MPI

    return int(context.comm.allreduce(sim._block_steps(), op=MPI.MIN))  # noqa: SLF001


def simulate(sim: Simulator, exchange, duration_ms: float, context: MPIContext,
             hooks: runner.Hooks) -> None:
    """Advance every rank by ``duration_ms`` in equal blocks; progress on rank 0."""
    total = sim.steps_for(duration_ms)
    block = block_steps(sim, context)
    done = 0
    while done < total:
        n = min(block, total - done)
        exchange.begin_block(sim.step, n)
        sim.run(n * sim.net.dt_ms)
        done += n
        injected_failure(context, f"after step {sim.step}")
        if hooks.run_progress is not None:
            hooks.run_progress(done, total, sim)


def _write_outputs(setup, compiled, summary, mpi, gatherer, build_s, jit_s, hooks) -> dict:
    cfg = setup.cfg
    hooks.stage("analyzing")
    spikes = gatherer.spikes(compiled.populations, cfg.dt_ms)
    t0, t1 = cfg.warmup_ms, cfg.warmup_ms + cfg.duration_ms
    report = runner._report(cfg, compiled.manifest, compiled, summary, spikes,  # noqa: SLF001
                            build_s, jit_s, t0, t1)
    report["mpi"] = mpi
    report["peak_rss_bytes"] = max(mpi["peak_rss_bytes_per_rank"])
    sizes = {p["name"]: p["size"] for p in compiled.populations}
    runner._plots(setup.out, spikes, sizes, t0, t1)  # noqa: SLF001
    runner.write_json(setup.out / "report.json", report)
    return report


