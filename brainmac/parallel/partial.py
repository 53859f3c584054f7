"""Compile only this rank's partitions; keep the global array layout.

Connectivity is a pure function of (seed, projection, post neuron), so a rank builds its
own partitions exactly as one process would. The other partitions get empty synapse rows,
which keeps every array in its global layout (partition p is at index p, neuron i at i):
the kernels and the exchange then need no translation. Whatever spans partitions (the
quantization report, the delay range, synapse totals) is reduced over the ranks. A rank
running a store holds the same layout (:func:`brainmac.store.reader.open_partitions`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.compiler import Compiler
from brainmac.compile.pack import PartitionSynapses

PER_SYNAPSE_ARRAYS = ("s_index", "s_value", "g_delay", "g_gain", "g_count")
SYNAPSE_ARRAYS = ("s_index", "s_value")
ROW_ARRAYS = ("row_syn", "row_grp")


@dataclass
class RankNetwork(CompiledNetwork):
    """A compiled network as one rank holds it: synapses only on ``owned`` partitions.

    The delay range and the synapse totals are those of the whole network, so that every
    rank steps the same chunks and the report counts every synapse once.
    """

    owned: tuple[int, int] = (0, 0)
    global_delays: tuple[int, int] = (1, 1)
    global_synapses: int = 0
    global_synapse_bytes: int = 0

    @property
    def min_delay(self) -> int:
        return self.global_delays[0]

    @property
    def max_delay(self) -> int:
        return self.global_delays[1]

    @property
    def n_synapses(self) -> int:
        return self.global_synapses

    def synapse_bytes(self) -> int:
        return self.global_synapse_bytes

    def local_synapse_bytes(self) -> int:
        """Bytes of this rank's synapse data (its partitions' rows included)."""
        first, stop = self.owned
        rows = sum(self.arrays[n][first:stop].nbytes for n in ROW_ARRAYS)
        return int(rows + sum(self.arrays[n].nbytes for n in PER_SYNAPSE_ARRAYS))


def _group_fields(part: PartitionSynapses) -> list[str]:
    """The arrays of ``part`` with one entry per group (all but rows and synapses)."""
    return [f.name for f in fields(part) if f.name not in ROW_ARRAYS + SYNAPSE_ARRAYS]


def _place(arrays: dict, part: PartitionSynapses, p: int, at: int) -> None:
    """Copy partition ``p``'s rows and synapses into ``arrays`` (synapses from ``at``)."""
    n = part.s_index.size
    arrays["s_index"][at:at + n] = part.s_index
    arrays["s_value"][at:at + n] = part.s_value
    arrays["row_syn"][p] = part.row_syn
    arrays["row_grp"][p] = part.row_grp


def _assemble_owned(compiler: Compiler, owned: tuple[int, int], synapses: np.ndarray,
                    threads: int, progress: Callable[[int, int], None] | None
                    ) -> dict[str, np.ndarray]:
    """Build partitions ``owned`` and copy each into arrays of the global layout as it
    arrives, so that a built partition is held only until it is copied (no second copy of
    the rank's synapses, as concatenating all of them at the end would need). The synapse
    arrays are allocated from the exact counts ``synapses`` (P,); row pointers of the other
    partitions stay zero (empty partitions) and are never written, so they take no memory."""
    first, stop = owned
    n_parts, n_local = compiler.n_partitions, int(synapses[first:stop].sum())
    arrays: dict[str, np.ndarray] = {}
    groups, n_groups, at = [], np.zeros(n_parts, np.int64), 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        built = pool.map(compiler.build_partition, range(first, stop))
        for p, part in enumerate(built, start=first):
            if not arrays:
                arrays = {"s_index": np.empty(n_local, part.s_index.dtype),
                          "s_value": np.empty(n_local, part.s_value.dtype),
                          **{name: np.zeros((n_parts, getattr(part, name).size),
                                            getattr(part, name).dtype) for name in ROW_ARRAYS}}
            if part.s_index.size != synapses[p]:
                raise RuntimeError(f"partition {p} holds {part.s_index.size} synapses, "
                                   f"{synapses[p]} were counted")
            _place(arrays, part, p, at)
            at += part.s_index.size
            groups.append({name: getattr(part, name) for name in _group_fields(part)})
            n_groups[p] = part.g_delay.size
            del part
            if progress is not None:
                progress(p + 1 - first, stop - first)
    for name in groups[0]:
        arrays[name] = np.concatenate([g[name] for g in groups])
    owned_synapses = np.where((np.arange(n_parts) >= first) & (np.arange(n_parts) < stop),
                              synapses, 0)
    arrays["syn_base"] = _running_sum(owned_synapses)
    arrays["grp_base"] = _running_sum(n_groups)
    return arrays


def _running_sum(counts: np.ndarray) -> np.ndarray:
    """Bases (P,) int64: the sum of the counts before each entry."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _reduce_tally(comm, tally) -> None:
    """Sum (or max) the quantization tallies of all ranks, in place."""
    from mpi4py import MPI

    for name, op in (("count", MPI.SUM), ("sum_rel", MPI.SUM), ("clipped", MPI.SUM),
                     ("max_rel", MPI.MAX)):
        array = getattr(tally, name)
        comm.Allreduce(MPI.IN_PLACE, array, op=op)


def _global_delays(comm, local: CompiledNetwork) -> tuple[int, int]:
    """The (min, max) delay in steps over every rank's groups (a rank may have none)."""
    from mpi4py import MPI

    big = np.iinfo(np.int64).max
    has_groups = local.arrays["g_delay"].size > 0
    low = comm.allreduce(local.min_delay if has_groups else big, op=MPI.MIN)
    high = comm.allreduce(local.max_delay if has_groups else 0, op=MPI.MAX)
    return (1, 1) if low == big else (low, high)


def as_rank_network(local: CompiledNetwork, owned: tuple[int, int], comm,
                    global_synapses: int) -> RankNetwork:
    """``local`` (synapses on ``owned`` only) with the whole network's delay range and
    synapse totals; collective over ``comm``."""
    net = RankNetwork(local.profile, local.dt_ms, local.seed, local.arrays, local.manifest,
                      owned=tuple(int(x) for x in owned),
                      global_delays=_global_delays(comm, local),
                      global_synapses=int(global_synapses))
    net.global_synapse_bytes = comm.allreduce(net.local_synapse_bytes())
    return net


def compile_owned(compiler: Compiler, owned: tuple[int, int], context, synapses: np.ndarray,
                  threads: int = 1, progress: Callable[[int, int], None] | None = None
                  ) -> RankNetwork:
    """Build the partitions ``owned`` = (first, stop) of ``compiler``'s network on this rank.

    Collective: every rank of ``context`` must call it (with its own range).

    Parameters
    ----------
    compiler : Compiler
        The same network, profile, dt, seed and partition size on every rank.
    owned : (int, int)
        This rank's partitions, ``first <= p < stop``.
    context : MPIContext
    synapses : ndarray, shape (P,)
        Synapses of every partition (:func:`~brainmac.parallel.assign.synapse_counts`).
    threads : int
        Partitions built at once.
    progress : callable(done, total), optional
        Called after each of this rank's partitions.
    """
    arrays = _assemble_owned(compiler, owned, synapses, threads, progress)
    neuron_arrays, drive_report = compiler.neuron_arrays()
    arrays.update(neuron_arrays)
    _reduce_tally(context.comm, compiler.tally)
    local = CompiledNetwork(compiler.profile, compiler.dt_ms, compiler.seed, arrays,
                            compiler.manifest(drive_report))
    return as_rank_network(local, owned, context.comm, int(np.sum(synapses)))


def release_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Building partitions frees several times its result in small pieces, which
    the heap otherwise keeps: 200 MB of resident memory after the compile of PD14 at scale
    0.1 (docs/distributed.md)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
