"""Compile only this rank's partitions; keep the global array layout.

Connectivity is a pure function of (seed, projection, post neuron), so a rank builds its
own partitions exactly as one process would. The other partitions get empty synapse rows,
which keeps every array in its global layout (partition p is at index p, neuron i at i):
the kernels and the exchange then need no translation. Whatever spans partitions (the
quantization report, the delay range, synapse totals) is reduced over the ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.compiler import Compiler, concatenate_partitions
from brainmac.compile.pack import PartitionSynapses

PER_SYNAPSE_ARRAYS = ("s_index", "s_value", "g_delay", "g_gain", "g_count")
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


def empty_like(part: PartitionSynapses) -> PartitionSynapses:
    """A partition with no synapses, in the types and row length of ``part``."""
    return PartitionSynapses(row_syn=np.zeros_like(part.row_syn),
                             row_grp=np.zeros_like(part.row_grp), g_delay=part.g_delay[:0],
                             g_gain=part.g_gain[:0], g_count=part.g_count[:0],
                             s_index=part.s_index[:0], s_value=part.s_value[:0])


def _build_owned(compiler: Compiler, owned: tuple[int, int], threads: int,
                 progress: Callable[[int, int], None] | None) -> list[PartitionSynapses]:
    first, stop = owned
    built = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for done, part in enumerate(pool.map(compiler.build_partition, range(first, stop)),
                                    start=1):
            built.append(part)
            if progress is not None:
                progress(done, stop - first)
    empty = empty_like(built[0])
    return [empty] * first + built + [empty] * (compiler.n_partitions - stop)


def _reduce_tally(comm, tally) -> None:
    """Sum (or max) the quantization tallies of all ranks, in place."""
    from mpi4py import MPI

    for name, op in (("count", MPI.SUM), ("sum_rel", MPI.SUM), ("clipped", MPI.SUM),
                     ("max_rel", MPI.MAX)):
        array = getattr(tally, name)
        comm.Allreduce(MPI.IN_PLACE, array, op=op)


def _global_delays(comm, g_delay: np.ndarray) -> tuple[int, int]:
    from mpi4py import MPI

    big = np.iinfo(np.int64).max
    low = comm.allreduce(int(g_delay.min()) if g_delay.size else big, op=MPI.MIN)
    high = comm.allreduce(int(g_delay.max()) if g_delay.size else 0, op=MPI.MAX)
    return (1, 1) if low == big else (low, high)


def compile_owned(compiler: Compiler, owned: tuple[int, int], context, threads: int = 1,
                  progress: Callable[[int, int], None] | None = None) -> RankNetwork:
    """Build the partitions ``owned`` = (first, stop) of ``compiler``'s network on this rank.

    Collective: every rank of ``context`` must call it (with its own range).

    Parameters
    ----------
    compiler : Compiler
        The same network, profile, dt, seed and partition size on every rank.
    owned : (int, int)
        This rank's partitions, ``first <= p < stop``.
    context : MPIContext
    threads : int
        Partitions built at once.
    progress : callable(done, total), optional
        Called after each of this rank's partitions.
    """
    parts = _build_owned(compiler, owned, threads, progress)
    arrays = concatenate_partitions(parts)
    neuron_arrays, drive_report = compiler.neuron_arrays()
    arrays.update(neuron_arrays)
    comm = context.comm
    _reduce_tally(comm, compiler.tally)
    net = RankNetwork(compiler.profile, compiler.dt_ms, compiler.seed, arrays,
                      compiler.manifest(drive_report), owned=tuple(int(x) for x in owned),
                      global_delays=_global_delays(comm, arrays["g_delay"]))
    net.global_synapses = comm.allreduce(int(arrays["s_index"].size))
    net.global_synapse_bytes = comm.allreduce(net.local_synapse_bytes())
    return net
