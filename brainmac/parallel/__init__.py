"""Distributed runs over MPI: ``mpiexec -n R brainmac run ...``.

Each rank owns a contiguous range of whole partitions (:mod:`~brainmac.parallel.assign`),
compiles only those (:mod:`~brainmac.parallel.partial`), steps them, and exchanges spikes
with the other ranks once per chunk of the minimum delay
(:mod:`~brainmac.parallel.exchange`); rank 0 writes one SONATA file and one report
(:mod:`~brainmac.parallel.record`, :mod:`~brainmac.parallel.job`). A store is opened
partially instead of compiled (:func:`brainmac.store.reader.open_partitions`); checkpoints
are gathered into one file in the one-process format (:mod:`~brainmac.parallel.state`).
Spikes are bit-identical to one process for any number of ranks and threads. mpi4py is
imported only when an MPI launcher started the process
(:mod:`~brainmac.parallel.context`). See ``docs/distributed.md``.
"""

from brainmac.parallel.assign import assign_partitions, partition_costs
from brainmac.parallel.context import MPIContext, is_root_process, mpi_context

__all__ = ["MPIContext", "assign_partitions", "is_root_process", "mpi_context",
           "partition_costs"]
