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
def _row_starts(pre, subkey, n_neurons):
    """Row starts (N+1,) of a counting sort by presynaptic neuron; each row's first
    subkey (-1 for an empty row); and whether every row holds that one subkey only."""
    starts = np.zeros(n_neurons + 1, np.int64)
    first_key = np.full(n_neurons, -1, np.int64)
    uniform = True
    for s in range(pre.size):
        i = pre[s]
        starts[i + 1] += 1
        if first_key[i] < 0:
            first_key[i] = subkey[s]
        elif first_key[i] != subkey[s]:
            uniform = False
    for i in range(n_neurons):
        starts[i + 1] += starts[i]
    return starts, first_key, uniform


@njit(cache=True, nogil=True)
def _by_key(pre, post_local, value, subkey, lo, n_keys):
    """The synapses stably sorted by ``subkey`` (values lo .. lo + n_keys - 1): a counting
    sort that moves the columns themselves."""
    fill = np.zeros(n_keys + 1, np.int64)
    for s in range(subkey.size):
        fill[subkey[s] - lo + 1] += 1
    for k in range(n_keys):
        fill[k + 1] += fill[k]
    out_pre, out_post = np.empty_like(pre), np.empty_like(post_local)
    out_value, out_key = np.empty_like(value), np.empty_like(subkey)
    for s in range(subkey.size):
        t = fill[subkey[s] - lo]
        fill[subkey[s] - lo] += 1
        out_pre[t], out_post[t] = pre[s], post_local[s]
        out_value[t], out_key[t] = value[s], subkey[s]
    return out_pre, out_post, out_value, out_key


BUCKET_SYNAPSES = 1 << 15  # synapses per first-pass bucket of the row sort (cache-sized)
MAX_BUCKETS = 1 << 10


@njit(cache=True, nogil=True)
def _bucket_shift(n_synapses, n_rows):
    """log2 of the rows per bucket of the two-pass row sort (0: one pass is enough)."""
    n_buckets = min(max(n_synapses // BUCKET_SYNAPSES, 1), MAX_BUCKETS)
    shift = 0
    while (n_rows >> shift) > n_buckets:
        shift += 1
    return shift


@njit(cache=True, nogil=True)
def _to_buckets(pre, post_local, value, subkey, starts, shift):
    """First pass of the row sort: stable by ``pre >> shift``. A bucket is a run of whole
    rows, so its synapses land in their rows' final range, and the second pass writes into
    one cache-sized range at a time."""
    n_rows = starts.size - 1
    fill = np.empty((n_rows >> shift) + 1, np.int64)
    for b in range(fill.size):
        fill[b] = starts[min(b << shift, n_rows)]
    out_pre, out_post = np.empty_like(pre), np.empty_like(post_local)
    out_value, out_key = np.empty_like(value), np.empty_like(subkey)
    for s in range(pre.size):
        b = pre[s] >> shift
        t = fill[b]
        fill[b] += 1
        out_pre[t], out_post[t], out_value[t] = pre[s], post_local[s], value[s]
        if subkey.size:
            out_key[t] = subkey[s]
    return out_pre, out_post, out_value, out_key


@njit(cache=True, nogil=True)
def _scatter_rows(pre, post_local, value, subkey, starts):
    """Stable counting sort by presynaptic neuron (rows begin at ``starts``), moving the
    target index, the value and the subkey (an empty ``subkey`` is not moved). Second pass
    of the row sort when the synapses are in buckets (:func:`_to_buckets`)."""
    fill = starts[:-1].copy()
    s_index = np.empty(pre.size, np.uint16)
    s_value = np.empty_like(value)
    sorted_key = np.empty_like(subkey)
    for s in range(pre.size):
        t = fill[pre[s]]
        fill[pre[s]] += 1
        s_index[t], s_value[t] = post_local[s], value[s]
        if subkey.size:
            sorted_key[t] = subkey[s]
    return s_index, s_value, sorted_key


@njit(cache=True, nogil=True)
def _run_groups(sorted_key, starts, n_gains, row_grp):
    """Groups = runs of one subkey within a row. Fills ``row_grp`` (N+1,) and returns
    (g_delay, g_gain, g_count)."""
    n_groups = 0
    for i in range(starts.size - 1):
        row_grp[i] = n_groups
        for s in range(starts[i], starts[i + 1]):
            if s == starts[i] or sorted_key[s] != sorted_key[s - 1]:
                n_groups += 1
    row_grp[starts.size - 1] = n_groups
    g_delay = np.empty(n_groups, np.uint16)
    g_gain = np.empty(n_groups, np.uint16)
    g_count = np.zeros(n_groups, np.uint32)
    g = -1
    for i in range(starts.size - 1):
        for s in range(starts[i], starts[i + 1]):
            if s == starts[i] or sorted_key[s] != sorted_key[s - 1]:
                g += 1
                g_delay[g] = sorted_key[s] // n_gains
                g_gain[g] = sorted_key[s] % n_gains
            g_count[g] += 1
    return g_delay, g_gain, g_count


@njit(cache=True, nogil=True)
def _row_groups(first_key, starts, n_gains, row_grp):
    """One group per non-empty row (every row holds one subkey). As :func:`_run_groups`."""
    n_groups = 0
    for i in range(first_key.size):
        row_grp[i] = n_groups
        n_groups += starts[i + 1] > starts[i]
    row_grp[first_key.size] = n_groups
    g_delay = np.empty(n_groups, np.uint16)
    g_gain = np.empty(n_groups, np.uint16)
    g_count = np.empty(n_groups, np.uint32)
    for i in range(first_key.size):
        if starts[i + 1] > starts[i]:
            g = row_grp[i]
            g_delay[g] = first_key[i] // n_gains
            g_gain[g] = first_key[i] % n_gains
            g_count[g] = starts[i + 1] - starts[i]
    return g_delay, g_gain, g_count


MAX_KEY_BUCKETS = 1 << 24  # beyond this many (delay, gain) values, a comparison sort


def pack_partition(columns: list[np.ndarray], n_neurons: int,
                   n_gains: int) -> PartitionSynapses:
    """Pack synapses given in generation order into groups.

    ``columns`` = [pre, post_local, value, delay, gain_index], arrays of equal length:
    ``pre`` global ids, ``post_local`` partition-relative ids (uint16), ``value`` the stored
    weights, ``delay`` steps and ``gain_index`` (uint16 each). The list is emptied: each
    column is dropped as soon as it has been used, so that the sort holds at most about
    two copies of the synapses (~22 bytes each) instead of four. The order is a stable sort
    by (pre, delay, gain): counting sorts, one pass per key plus a cache-sized bucket pass,
    O(n + N) time.
    """
    pre, post_local, value, delay, gain_index = columns
    columns.clear()
    if pre.size >= 1 << 32:
        raise CapacityError(f"a partition holds {pre.size} synapses, more than 2**32; "
                            "use a smaller partition size")
    if delay.size and delay.max() > MAX_DELAY_STEPS:
        raise CapacityError(f"a delay of {delay.max()} steps exceeds {MAX_DELAY_STEPS}; "
                            "use a larger dt")
    post_local = post_local.astype(np.uint16, copy=False)
    key_type = np.int32 if (MAX_DELAY_STEPS + 1) * n_gains < 1 << 31 else np.int64
    subkey = delay.astype(key_type) * key_type(n_gains) + gain_index
    del delay, gain_index
    starts, first_key, uniform = _row_starts(pre, subkey, n_neurons)
    row_grp = np.empty(n_neurons + 1, np.int64)
    if uniform:  # the rows need no key order, and no key is moved
        subkey = np.empty(0, key_type)
    else:
        lo, hi = int(subkey.min()), int(subkey.max())
        if hi - lo < MAX_KEY_BUCKETS:
            pre, post_local, value, subkey = _by_key(pre, post_local, value, subkey, lo,
                                                     hi - lo + 1)
        else:
            order = np.argsort(subkey, kind="stable")
            pre, post_local, value, subkey = (pre[order], post_local[order], value[order],
                                              subkey[order])
            del order
    shift = _bucket_shift(pre.size, n_neurons)
    if shift > 0:
        pre, post_local, value, subkey = _to_buckets(pre, post_local, value, subkey, starts,
                                                     shift)
    s_index, s_value, sorted_key = _scatter_rows(pre, post_local, value, subkey, starts)
    del pre, post_local, value, subkey
    if uniform:
        g_delay, g_gain, g_count = _row_groups(first_key, starts, n_gains, row_grp)
    else:
        g_delay, g_gain, g_count = _run_groups(sorted_key, starts, n_gains, row_grp)
    return PartitionSynapses(row_syn=starts.astype(np.uint32), row_grp=row_grp.astype(np.uint32),
                             g_delay=g_delay, g_gain=g_gain, g_count=g_count,
                             s_index=s_index, s_value=s_value)
