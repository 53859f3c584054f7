"""One job over MPI ranks: what ``mpiexec -n R brainmac run ...`` does.

Every rank reads the job (a model, or a store from ``brainmac compile``), assigns
partitions (the same answer on every rank: no communication), builds or opens only its
own partitions, and steps them, exchanging spikes once per chunk of the minimum delay.
Rank 0 gathers the recording per block into one SONATA file, reduces the counters, and
writes one report and the plots; at checkpoints it gathers the state into one checkpoint
(:mod:`~brainmac.parallel.state`), from which a run resumes on any number of ranks.

Phases. Setup (checks, output directory, checkpoint, network description or the store's
partitions, assignment) has no collectives: its errors are agreed on and end the job with
one message from rank 0. From the compile on, ranks wait on each other, so any failure
aborts the whole job.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from brainmac import runner
from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.compiler import (
    Compiler,
    default_partition_size,
    partition_bounds,
    release_free_heap,
)
from brainmac.engine import Simulator
from brainmac.errors import ConfigError
from brainmac.io import SpikeWriter
from brainmac.parallel.assign import assign_partitions, balance_costs
from brainmac.parallel.context import (
    MPIContext,
    abort_on_error,
    agree_on_errors,
    injected_failure,
)
from brainmac.parallel.exchange import DEFAULT_METHOD, make_exchange
from brainmac.parallel.partial import as_rank_network, compile_owned
from brainmac.parallel.record import SpikeGatherer, population_writer
from brainmac.parallel.state import gather_state, restore_share
from brainmac.parallel.stats import job_statistics
from brainmac.store import is_store_dir
from brainmac.store.checkpoint import (
    Checkpoint,
    kept_spikes,
    load_checkpoint,
    merge_spikes,
    resumed_writer,
    save_checkpoint,
    segments,
)
from brainmac.store.reader import open_partitions, store_partitions

#: Tunables of MPI runs, read from the environment (declared once here).
EXCHANGE_VARIABLE = "BRAINMAC_MPI_EXCHANGE"  # allgatherv | fixed | alltoallv
BALANCE_VARIABLE = "BRAINMAC_MPI_BALANCE"  # synapses | neurons


@dataclass
class Setup:
    """What the setup phase decided, identically on every rank (but ``local``, ``kept``).

    ``cfg`` is the job as run: a store's profile, dt and seed, and the partition size
    used, so that a checkpoint records what a resume needs to find the same partitions.
    """

    cfg: runner.JobConfig
    out: Path
    part_start: np.ndarray
    synapses: np.ndarray  # (P,) synapses per partition
    edges: np.ndarray
    costs: np.ndarray
    threads: int
    identity: dict
    compiler: Compiler | None = None  # a model: each rank compiles its partitions
    local: CompiledNetwork | None = None  # a store: this rank's partitions, opened
    resumed: Checkpoint | None = None
    kept: dict = field(default_factory=dict)  # rank 0, resuming: spikes before the checkpoint
    checkpoints: list[float] = field(default_factory=list)  # seconds of each one, this rank

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
    size = min(default_partition_size(net), max(1, net.n_neurons // n_workers))
    while size > 1 and partition_bounds(net, size)[1].size < n_workers:
        size = max(1, size // 2)
    return size


def _model_source(cfg: runner.JobConfig, context: MPIContext, threads: int, resume: bool):
    """(cfg with its partition size, Compiler, synapses per partition) of a model job. A
    resumed one-process checkpoint (no partition size recorded) had the default size."""
    net = runner.build_network(cfg)
    if resume and not cfg.partition_size:
        size = default_partition_size(net)
    else:
        size = partition_size_for(net, cfg, context.size * threads)
    cfg = replace(cfg, partition_size=size)
    compiler = Compiler(net, cfg.numerics(), cfg.dt_ms, cfg.seed, size)
    return cfg, compiler, compiler.synapse_counts()


def _identity(cfg: runner.JobConfig, part_start: np.ndarray, synapses: np.ndarray) -> dict:
    """What a checkpoint of this job records and a resume must find (as one process)."""
    sizes = SimpleNamespace(n_neurons=int(part_start[-1]), n_synapses=int(synapses.sum()))
    return runner._network_identity(cfg, sizes)  # noqa: SLF001


def _check_resumed(resumed: Checkpoint, identity: dict, out: Path) -> None:
    if resumed.index["network"] != identity:
        raise ConfigError(f"the checkpoint in {out} was written for another network "
                          f"({resumed.index['network']}); this one is {identity}")


def _setup(cfg: runner.JobConfig, context: MPIContext, resume: bool) -> Setup:
    cfg = runner.store_config(cfg)
    runner.check_times(cfg)
    out = runner.prepare_output(cfg.out) if context.is_root else Path(cfg.out)
    resumed = load_checkpoint(out) if resume else None
    threads = rank_threads(cfg, context)
    compiler = None
    if is_store_dir(cfg.model):
        part_start, synapses = store_partitions(cfg.model)
    else:
        cfg, compiler, synapses = _model_source(cfg, context, threads, resume)
        part_start = compiler.part_start
    if context.is_root:
        runner.check_disk(out, int(part_start[-1]), (cfg.warmup_ms + cfg.duration_ms) / 1000)
    costs = balance_costs(part_start, synapses, os.environ.get(BALANCE_VARIABLE, "synapses"))
    edges = assign_partitions(costs, context.size)
    setup = Setup(cfg, out, part_start, synapses, edges, costs, threads,
                  _identity(cfg, part_start, synapses), compiler=compiler, resumed=resumed)
    if resumed is not None:
        _check_resumed(resumed, setup.identity, out)
        if context.is_root:
            setup.kept = kept_spikes(out / "spikes.h5", resumed.index["spikes_written"])
    if compiler is None:
        setup.local = open_partitions(cfg.model, setup.owned(context.rank))
    return setup


def execute_distributed(cfg: runner.JobConfig, hooks: runner.Hooks | None,
                        context: MPIContext, resume: bool = False) -> dict:
    """Run one job on every rank of ``context``; collective. Returns the report on every
    rank (rank 0 writes it, with ``spikes.h5`` and the plots). ``resume`` continues from
    the checkpoint in ``cfg.out`` (written by a run on any number of ranks). Every rank
    calls ``hooks.stage``; only rank 0 calls the progress hooks."""
    setup = agree_on_errors(context, lambda: _setup(cfg, context, resume))
    if not context.is_root:  # stages are noted on every rank, progress shown by rank 0
        hooks = runner.Hooks(stage=hooks.stage) if hooks is not None else runner.Hooks()
    hooks = hooks or runner.Hooks()
    with abort_on_error(context):
        return _run(setup, hooks, context)


def _rank_network(setup: Setup, context: MPIContext, hooks: runner.Hooks):
    """This rank's share of the network: compiled, or the store's partitions opened."""
    owned = setup.owned(context.rank)
    if setup.compiler is not None:
        hooks.stage(f"compiling on {context.size} ranks")
        net = compile_owned(setup.compiler, owned, context, setup.synapses, setup.threads,
                            hooks.compile_progress)
    else:
        hooks.stage(f"opening the store on {context.size} ranks")
        net = as_rank_network(setup.local, owned, context.comm, int(setup.synapses.sum()))
    release_free_heap()
    return net


def _spike_writer(setup: Setup, sizes: dict[str, int], context: MPIContext):
    """Rank 0's SpikeWriter (holding the spikes before the checkpoint when resuming)."""
    if not context.is_root:
        return None
    path = setup.out / "spikes.h5"
    if setup.resumed is not None:
        return resumed_writer(path, sizes, setup.kept)
    return SpikeWriter(path, sizes)


def _run(setup: Setup, hooks: runner.Hooks, context: MPIContext) -> dict:
    cfg, owned = setup.cfg, setup.owned(context.rank)
    start = time.perf_counter()
    compiled = _rank_network(setup, context, hooks)
    build_s = time.perf_counter() - start
    sizes = {p["name"]: p["size"] for p in compiled.populations}
    writer = _spike_writer(setup, sizes, context)
    try:
        write = None if writer is None else population_writer(
            writer, compiled.populations, cfg.dt_ms, flush=not cfg.checkpoint_every_ms)
        gatherer = SpikeGatherer(context, write)
        exchange = make_exchange(os.environ.get(EXCHANGE_VARIABLE, DEFAULT_METHOD), context,
                                 compiled.arrays, owned, max(1, compiled.min_delay),
                                 compiled.layout)
        sim = Simulator(compiled, threads=setup.threads, record=cfg.record,
                        spike_sink=gatherer, owned=owned, exchange=exchange)
        hooks.stage("compiling kernels")
        jit_s = warm_kernels(compiled, setup.threads, owned)
        if setup.resumed is not None:
            restore_share(sim, setup.resumed.state, context.is_root)
            setup.resumed = None  # the state may be large; it is in the simulator now
        hooks.stage("simulating")
        simulate(sim, exchange, setup, context, hooks, writer)
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


def run_blocks(sim: Simulator, exchange, n_steps: int, block: int, context: MPIContext,
               progress=None) -> None:
    """Advance every rank by ``n_steps`` in blocks of at most ``block`` steps; collective.
    ``progress(simulator)`` is called after each block."""
    stop = sim.step + n_steps
    while sim.step < stop:
        n = min(block, stop - sim.step)
        exchange.begin_block(sim.step, n)
        sim.run(n * sim.net.dt_ms)
        injected_failure(context, f"after step {sim.step}")
        if progress is not None:
            progress(sim)


def simulate(sim: Simulator, exchange, setup: Setup, context: MPIContext,
             hooks: runner.Hooks, writer: SpikeWriter | None) -> None:
    """Run the job to its end from the simulator's step, in segments that end on
    checkpoints if the job asks for them; progress on rank 0."""
    cfg = setup.cfg
    total = sim.steps_for(cfg.warmup_ms + cfg.duration_ms)
    every = sim.steps_for(cfg.checkpoint_every_ms) if cfg.checkpoint_every_ms else total
    block = block_steps(sim, context)
    progress = None if hooks.run_progress is None else (
        lambda s: hooks.run_progress(s.step, total, s))
    for n in segments(sim.step, total, max(every, 1)):
        run_blocks(sim, exchange, n, block, context, progress)
        if cfg.checkpoint_every_ms and sim.step < total:
            write_checkpoint(sim, setup, context, writer)


def write_checkpoint(sim: Simulator, setup: Setup, context: MPIContext,
                     writer: SpikeWriter | None) -> None:
    """Gather the job's state on rank 0 and write it as one checkpoint; collective. Its
    seconds on this rank are appended to ``setup.checkpoints``."""
    start = time.perf_counter()
    state = gather_state(sim, context)
    if writer is not None:
        writer.flush()
        save_checkpoint(setup.out, state, asdict(setup.cfg),
                        {name: writer.n_spikes(name) for name in writer.sizes},
                        setup.identity, writer.path)
    setup.checkpoints.append(time.perf_counter() - start)


def _write_outputs(setup, compiled, summary, mpi, gatherer, build_s, jit_s, hooks) -> dict:
    cfg = setup.cfg
    hooks.stage("analyzing")
    spikes = merge_spikes(setup.kept, gatherer.spikes(compiled.populations, cfg.dt_ms))
    t0, t1 = cfg.warmup_ms, cfg.warmup_ms + cfg.duration_ms
    report = runner._report(cfg, compiled.manifest, compiled, summary, spikes,  # noqa: SLF001
                            build_s, jit_s, t0, t1)
    report["mpi"] = mpi
    report["peak_rss_bytes"] = max(mpi["peak_rss_bytes_per_rank"])
    sizes = {p["name"]: p["size"] for p in compiled.populations}
    runner._plots(setup.out, spikes, sizes, t0, t1)  # noqa: SLF001
    runner.write_json(setup.out / "report.json", report)
    return report
