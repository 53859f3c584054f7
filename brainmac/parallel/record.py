"""One recording for the whole job: every block's spikes gathered on rank 0, in order.

Each rank records only its own neurons. After every block (the simulator's ``spike_sink``)
the ranks send their block's spikes to rank 0 (``MPI_Gatherv``); rank 0 merges them in
(step, neuron id) order (rank order is id order within a step, so a stable sort by step
suffices), writes them to the SONATA file as the run goes, and keeps them for the analysis,
exactly as one process does. Memory on rank 0 is that of a one-process run; the others hold
only their own spikes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from brainmac.io import SpikeWriter


class SpikeGatherer:
    """A ``spike_sink`` for every rank's Simulator; collective (each rank calls it per block).

    Parameters
    ----------
    context : MPIContext
    write : callable(gid, step), optional
        On rank 0: receives each block's merged spikes (global ids, steps; int64).
    """

    def __init__(self, context, write: Callable[[np.ndarray, np.ndarray], None] | None = None
                 ) -> None:
        self.comm, self.is_root = context.comm, context.is_root
        self.write = write
        self.seconds = 0.0  # gathering and merging, on this rank
        self._gid: list[np.ndarray] = []
        self._step: list[np.ndarray] = []

    def __call__(self, gid: np.ndarray, step: np.ndarray) -> None:
        start = time.perf_counter()
        counts = self.comm.gather(int(gid.size), root=0)
        if self.is_root:
            counts = np.array(counts, np.int64)
            all_gid = np.empty(int(counts.sum()), np.int64)
            all_step = np.empty_like(all_gid)
            self.comm.Gatherv(gid.astype(np.int64), [all_gid, counts], root=0)
            self.comm.Gatherv(step.astype(np.int64), [all_step, counts], root=0)
            order = np.argsort(all_step, kind="stable")
            all_gid, all_step = all_gid[order], all_step[order]
            self._gid.append(all_gid)
            self._step.append(all_step)
            if self.write is not None:
                self.write(all_gid, all_step)
        else:
            self.comm.Gatherv(gid.astype(np.int64), None, root=0)
            self.comm.Gatherv(step.astype(np.int64), None, root=0)
        self.seconds += time.perf_counter() - start

    def spike_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every recorded spike of the job (rank 0; empty elsewhere), in (step, id) order."""
        if not self._gid:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(self._gid), np.concatenate(self._step)

    def spikes(self, populations: list[dict], dt_ms: float
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per population: (times in ms, ids within the population), as Simulator.spikes."""
        gid, step = self.spike_arrays()
        out = {}
        for pop in populations:
            sel = (gid >= pop["start"]) & (gid < pop["start"] + pop["size"])
            out[pop["name"]] = (step[sel] * dt_ms, gid[sel] - pop["start"])
        return out


def population_writer(writer: SpikeWriter, populations: list[dict], dt_ms: float,
                      flush: bool = True) -> Callable[[np.ndarray, np.ndarray], None]:
    """A ``write(gid, step)`` that splits spikes by population into ``writer`` and, if
    ``flush``, flushes the file. A run with checkpoints flushes at checkpoints only, so
    that a kill rarely lands inside an HDF5 flush (as one process does)."""
    bounds = np.array([p["start"] for p in populations]
                      + [populations[-1]["start"] + populations[-1]["size"]])

    def write(gid: np.ndarray, step: np.ndarray) -> None:
        owner = np.searchsorted(bounds, gid, side="right") - 1
        for k, pop in enumerate(populations):
            sel = owner == k
            if sel.any():
                writer.append(pop["name"], step[sel] * dt_ms, gid[sel] - pop["start"])
        if flush:
            writer.flush()

    return write
