"""Which partitions each rank owns: contiguous ranges, balanced by synapses or neurons.

Ranks own contiguous, ascending ranges of partitions, so that concatenating the ranks'
spikes in rank order keeps neuron-id order within a step (the exchange relies on it). The
ranges minimize the largest per-rank cost (exact: bisection on the bound, greedy fill).
"""

from __future__ import annotations

import numpy as np

from brainmac.errors import ConfigError

BALANCE_MODES = ("synapses", "neurons")


def balance_costs(part_start: np.ndarray, synapses: np.ndarray,
                  balance: str = "synapses") -> np.ndarray:
    """Work per partition from its neurons and synapses.

    Parameters
    ----------
    part_start : ndarray, shape (P+1,)
        First neuron of each partition.
    synapses : ndarray, shape (P,)
        Synapses ending on each partition.
    balance : {"synapses", "neurons"}
        ``synapses``: synapses plus neurons (delivery dominates a step). ``neurons``: neurons.

    Returns
    -------
    ndarray, shape (P,), int64
    """
    if balance not in BALANCE_MODES:
        raise ConfigError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
    neurons = np.diff(np.asarray(part_start, np.int64))
    return neurons if balance == "neurons" else neurons + np.asarray(synapses, np.int64)


def partition_costs(compiler, balance: str = "synapses") -> np.ndarray:
    """Work per partition of a :class:`~brainmac.compile.compiler.Compiler`, before building
    (:func:`balance_costs` of its exact ``synapse_counts()``); shape (P,), int64."""
    if balance not in BALANCE_MODES:
        raise ConfigError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
    synapses = compiler.synapse_counts() if balance == "synapses" else 0
    return balance_costs(compiler.part_start, synapses, balance)


def _greedy_ranges(costs: np.ndarray, bound: int) -> list[int] | None:
    """Range starts of a greedy fill up to ``bound`` per range (None if one cost exceeds it)."""
    if costs.max() > bound:
        return None
    starts, load = [0], 0
    for p, c in enumerate(costs.tolist()):
        if load + c > bound:
            starts.append(p)
            load = 0
        load += c
    return starts


def assign_partitions(costs: np.ndarray, n_ranks: int) -> np.ndarray:
    """Contiguous partition ranges for ``n_ranks`` ranks, minimizing the largest total cost.

    Parameters
    ----------
    costs : ndarray, shape (P,)
        Non-negative work per partition (see :func:`partition_costs`).
    n_ranks : int

    Returns
    -------
    ndarray, shape (n_ranks + 1,), int64
        Rank r owns partitions ``edges[r] <= p < edges[r + 1]``; every range is non-empty.
    """
    costs = np.asarray(costs, np.int64)
    n_parts = costs.size
    if n_ranks < 1:
        raise ConfigError(f"the rank count must be >= 1, got {n_ranks}")
    if n_ranks > n_parts:
        raise ConfigError(
            f"{n_ranks} MPI ranks but the network has only {n_parts} partitions: every rank "
            f"owns whole partitions, so run with at most {n_parts} ranks, or use a smaller "
            "partition size")
    low, high = int(costs.max(initial=0)), int(costs.sum())
    while low < high:
        mid = (low + high) // 2
        starts = _greedy_ranges(costs, mid)
        if starts is not None and len(starts) <= n_ranks:
            high = mid
        else:
            low = mid + 1
    starts = _greedy_ranges(costs, low) or [0]
    return _split_to(starts + [n_parts], n_ranks)


def _split_to(edges: list[int], n_ranks: int) -> np.ndarray:
    """Halve the widest ranges until there are ``n_ranks`` (splitting never adds cost)."""
    edges = list(edges)
    while len(edges) - 1 < n_ranks:
        widths = np.diff(edges)
        r = int(np.argmax(widths))
        edges.insert(r + 1, edges[r] + int(widths[r]) // 2)
    return np.array(edges, np.int64)


def rank_loads(costs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Total cost of each rank's range, shape (R,)."""
    cum = np.concatenate([[0], np.cumsum(np.asarray(costs, np.int64))])
    return cum[edges[1:]] - cum[edges[:-1]]
