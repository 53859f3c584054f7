"""Pack one partition's synapses into the event-driven layout.

Within a partition, the synapses of one presynaptic neuron (a *row*) are contiguous and
split into *groups* that share (delay, gain index): per synapse only the weight and a
partition-local target index are stored. Order within a group is generation order, so
every target receives its inputs in the same order whatever the partitioning (which makes
float profiles partition-independent too).

Layout of one partition (``n`` synapses, ``g`` groups, ``N`` neurons in the network)::

    row_syn  (N+1,) uint32   first synapse of each presynaptic row (partition-relative)
    row_grp  (N+1,) uint32   first group of each row
    g_delay  (g,)   uint16   delay in steps
    g_gain   (g,)   uint16   gain index: 2 * projection + receptor
    g_count  (g,)   uint32   synapses in the group
    s_index  (n,)   uint16   target neuron, relative to the partition's first neuron
    s_value  (n,)   weight   mantissa (int8 / int16) or float weight
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from brainmac.errors import CapacityError

MAX_PARTITION_SIZE = 1 << 16  # the local target index is a uint16
MAX_DELAY_STEPS = (1 << 16) - 1


@dataclass
class PartitionSynapses:
    """The packed synapses of one partition (see module doc)."""

    row_syn: np.ndarray
    row_grp: np.ndarray
    g_delay: np.ndarray
    g_gain: np.ndarray
    g_count: np.ndarray
    s_index: np.ndarray
    s_value: np.ndarray


@njit(cache=True, nogil=True)
def _row_order(pre, n_neurons):
    """Stable counting sort by presynaptic neuron: (permutation, row starts)."""
    starts = np.zeros(n_neurons + 1, np.int64)
    for s in range(pre.size):
        starts[pre[s] + 1] += 1
    for i in range(n_neurons):
        starts[i + 1] += starts[i]
    fill = starts[:-1].copy()
    perm = np.empty(pre.size, np.int64)
    for s in range(pre.size):
        perm[fill[pre[s]]] = s
        fill[pre[s]] += 1
    return perm, starts


@njit(cache=True, nogil=True)
def _sort_rows(perm, starts, subkey):
    """Stable sort of each row's synapses by subkey (delay, gain), in place in ``perm``."""
    for i in range(starts.size - 1):
        a, b = starts[i], starts[i + 1]
        if b - a < 2:
            continue
        keys = subkey[perm[a:b]]
        first = keys[0]
        uniform = True
        for x in keys:
            if x != first:
                uniform = False
                break
        if not uniform:
            order = np.argsort(keys, kind="mergesort")
            perm[a:b] = perm[a:b][order]


@njit(cache=True, nogil=True)
def _count_groups(perm, starts, subkey, row_grp):
    n_groups = 0
    for i in range(starts.size - 1):
        row_grp[i] = n_groups
        last = -1
        for s in range(starts[i], starts[i + 1]):
            key = subkey[perm[s]]
            if key != last:
                n_groups += 1
                last = key
    row_grp[starts.size - 1] = n_groups
    return n_groups


@njit(cache=True, nogil=True)
def _fill_groups(perm, starts, delay, gain, g_delay, g_gain, g_count):
    g = -1
    for i in range(starts.size - 1):
        last_d, last_g = -1, -1
        for s in range(starts[i], starts[i + 1]):
            d, gi = delay[perm[s]], gain[perm[s]]
            if d != last_d or gi != last_g:
                g += 1
                g_delay[g], g_gain[g], g_count[g] = d, gi, 0
                last_d, last_g = d, gi
            g_count[g] += 1


def pack_partition(pre: np.ndarray, post_local: np.ndarray, value: np.ndarray,
                   delay: np.ndarray, gain_index: np.ndarray, n_neurons: int,
                   n_gains: int) -> PartitionSynapses:
    """Pack synapses given in generation order (arrays of equal length) into groups.

    ``pre`` holds global ids, ``post_local`` partition-relative ids (uint16), ``delay``
    steps and ``gain_index`` (uint16 each); ``value`` the stored weights.
    """
    if pre.size >= 1 << 32:
        raise CapacityError(f"a partition holds {pre.size} synapses, more than 2**32; "
                            "use a smaller partition size")
    if delay.size and delay.max() > MAX_DELAY_STEPS:
        raise CapacityError(f"a delay of {delay.max()} steps exceeds {MAX_DELAY_STEPS}; "
                            "use a larger dt")
    perm, starts = _row_order(pre, n_neurons)
    subkey = delay.astype(np.int32) * np.int32(n_gains) + gain_index.astype(np.int32)
    _sort_rows(perm, starts, subkey)
    row_grp = np.empty(n_neurons + 1, np.int64)
    n_groups = _count_groups(perm, starts, subkey, row_grp)
    g_delay = np.empty(n_groups, np.uint16)
    g_gain = np.empty(n_groups, np.uint16)
    g_count = np.empty(n_groups, np.uint32)
    _fill_groups(perm, starts, delay, gain_index, g_delay, g_gain, g_count)
    return PartitionSynapses(
        row_syn=starts.astype(np.uint32), row_grp=row_grp.astype(np.uint32),
        g_delay=g_delay, g_gain=g_gain, g_count=g_count,
        s_index=post_local[perm].astype(np.uint16, copy=False), s_value=value[perm],
    )
