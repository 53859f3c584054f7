"""Compile only this rank's partitions; keep the global array layout.

Connectivity is a pure function of (seed, projection, post neuron), so a rank builds its
own partitions exactly as one process would. The other partitions get empty synapse rows,
which keeps every array in its global layout (partition p is at index p, neuron i at i):
the kernels and the exchange then need no translation. Whatever spans partitions (the
quantization report, the delay range, synapse totals) is reduced over the ranks. A rank
running a store holds the same layout (:func:`brainmac.store.reader.open_partitions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.compiler import Compiler, assemble_partitions

PER_SYNAPSE_ARRAYS = ("s_index", "s_value", "g_code")
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
    has_groups = local.arrays["g_code"].size > 0
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
        Synapses of every partition (:meth:`Compiler.synapse_counts`).
    threads : int
        Partitions built at once.
    progress : callable(done, total), optional
        Called after each of this rank's partitions.
    """
    arrays = assemble_partitions(compiler, owned, synapses, threads, progress)
    neuron_arrays, drive_report = compiler.neuron_arrays()
    arrays.update(neuron_arrays)
    _reduce_tally(context.comm, compiler.tally)
    local = CompiledNetwork(compiler.profile, compiler.dt_ms, compiler.seed, arrays,
                            compiler.manifest(drive_report))
    return as_rank_network(local, owned, context.comm, int(np.sum(synapses)))
