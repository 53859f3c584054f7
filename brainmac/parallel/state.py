"""The dynamic state of a distributed run: one checkpoint for the whole job, in the format
of a one-process run.

Every rank holds the state arrays in their global shapes but steps only its own
partitions: its neurons' V, currents and refractory counters, their columns of the ring
buffer (slot, receptor, neuron), and its partitions' counters. At a checkpoint the ranks
send these pieces to rank 0 (one ``MPI_Gather``), which assembles exactly the state one
process would have at that step and writes it with :func:`brainmac.store.checkpoint.
save_checkpoint`. The state is O(neurons x delay slots), never O(synapses): 38 MB for the
full-scale microcircuit. One file in the one-process format means that a run may resume
on any number of ranks, or in one process, with the same partitions.

On resume every rank restores the whole state (:meth:`Simulator.restore`) and keeps the
run counters of the job on rank 0 only, so that the report's sums stay right.
"""

from __future__ import annotations

import numpy as np

NEURON_STATE = ("v", "i_ex", "i_in", "refr")
PARTITION_STATE = ("sat", "events")


def _piece(state: dict[str, np.ndarray], neurons: tuple[int, int], parts: tuple[int, int],
           n_neurons: int) -> dict[str, np.ndarray]:
    """This rank's part of ``state`` (``Simulator.state()``)."""
    a, b = neurons
    piece = {name: state[name][a:b] for name in NEURON_STATE}
    piece["ring"] = state["ring"].reshape(-1, n_neurons)[:, a:b].copy()
    piece.update({name: state[name][parts[0]:parts[1]] for name in PARTITION_STATE})
    return piece


def _place(state: dict[str, np.ndarray], piece: dict[str, np.ndarray],
           neurons: tuple[int, int], parts: tuple[int, int], n_neurons: int) -> None:
    a, b = neurons
    for name in NEURON_STATE:
        state[name][a:b] = piece[name]
    state["ring"].reshape(-1, n_neurons)[:, a:b] = piece["ring"]
    for name in PARTITION_STATE:
        state[name][parts[0]:parts[1]] = piece[name]


def _job_stats(rows: list[np.ndarray]) -> np.ndarray:
    """Run counters (steps, wall s, spikes, events) of the job from those of its ranks: the
    steps of any, the slowest wall time, summed spikes and events."""
    rows = np.asarray(rows, np.float64)
    return np.array([rows[0, 0], rows[:, 1].max(), rows[:, 2].sum(), rows[:, 3].sum()])


def gather_state(sim, context) -> dict[str, np.ndarray] | None:
    """The job's dynamic state, on rank 0 (None elsewhere); collective.

    Parameters
    ----------
    sim : Simulator
        This rank's simulator (``sim.owned`` its partitions); every rank at the same step.
    context : MPIContext
    """
    state = sim.state()
    n = sim.net.n_neurons
    starts = sim.net.part_start
    parts = tuple(int(x) for x in sim.owned)
    neurons = (int(starts[parts[0]]), int(starts[parts[1]]))
    mine = (neurons, parts, _piece(state, neurons, parts, n), state["stats"])
    gathered = context.comm.gather(mine, root=0)
    if not context.is_root:
        return None
    for neurons, parts, piece, _ in gathered[1:]:
        _place(state, piece, neurons, parts, n)
    state["stats"] = _job_stats([row[3] for row in gathered])
    return state


def restore_share(sim, state: dict[str, np.ndarray], is_root: bool) -> None:
    """Continue from a job's state (:func:`gather_state`, or a one-process checkpoint) on
    one rank: all of it is restored, the run counters are kept on rank 0 only."""
    sim.restore(state)
    if not is_root:
        sim.stats.spikes = 0
        sim.stats.events = 0
