"""Pack one partition's synapses into the compact event-driven layout.

Within a partition, the synapses of one presynaptic neuron (a *row*) are contiguous,
sorted by (gain index, delay), and coded as groups that share both: per synapse only the
weight and a 14-bit partition-local target are stored, per group one code byte
(``brainmac.compile.codes`` has the layout). Order within a group is generation order, so
every target receives its inputs in the same order whatever the partitioning (which makes
float profiles partition-independent too).

Arrays of one partition (``n`` synapses, ``N`` neurons in the network)::

    row_syn  (N+1,)        uint32  first synapse of each presynaptic row
    row_grp  (N+1,)        uint32  first code byte of each row
    g_code   (g,)          uint8   group codes
    s_index  (7 padded(n)/4,) uint8  14-bit targets, relative to the partition's first neuron
    s_value  (padded(n),)  weight  mantissa (int8 / int16) or float weight; padding slots
                                   (weight 0) make the count a multiple of 4
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from brainmac.compile.codes import (
    MAX_TARGETS,
    encode_rows,
    encode_uniform_rows,
    merge_rows,
    pack_targets,
    padded,
    target_bytes,
)
from brainmac.errors import CapacityError

MAX_PARTITION_SIZE = MAX_TARGETS  # the local target index has 14 bits
MAX_DELAY_STEPS = (1 << 16) - 1


@dataclass
class _Rows:
    """Row pointers and codes of one partition (see module doc)."""

    row_syn: np.ndarray
    row_grp: np.ndarray
    g_code: np.ndarray

    @property
    def n_synapses(self) -> int:
        return int(self.row_syn[-1])


@dataclass
class PartitionSynapses(_Rows):
    """The packed synapses of one partition (see module doc)."""

    s_index: np.ndarray
    s_value: np.ndarray


@dataclass
class SortedRows(_Rows):
    """:class:`PartitionSynapses` before its targets are packed: ``targets`` (n,) uint16,
    partition-relative, where the layout has ``s_index``."""

    targets: np.ndarray
    s_value: np.ndarray

    def packed(self) -> PartitionSynapses:
        """The partition with its targets packed into ``s_index`` (module doc)."""
        s_index = np.empty(target_bytes(padded(self.targets.size)), np.uint8)
        pack_targets(self.targets, s_index)
        return PartitionSynapses(self.row_syn, self.row_grp, self.g_code, s_index,
                                 self.s_value)


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
def _scatter_rows(pre, post_local, value, subkey, starts, n_slots):
    """Stable counting sort by presynaptic neuron (rows begin at ``starts``), moving the
    target index, the value and the subkey (an empty ``subkey`` is not moved). Second pass
    of the row sort when the synapses are in buckets (:func:`_to_buckets`). The values get
    ``n_slots`` entries, those past the synapses 0 (padding)."""
    fill = starts[:-1].copy()
    s_index = np.empty(pre.size, np.uint16)
    s_value = np.zeros(n_slots, value.dtype)
    sorted_key = np.empty_like(subkey)
    for s in range(pre.size):
        t = fill[pre[s]]
        fill[pre[s]] += 1
        s_index[t], s_value[t] = post_local[s], value[s]
        if subkey.size:
            sorted_key[t] = subkey[s]
    return s_index, s_value, sorted_key


MAX_KEY_BUCKETS = 1 << 24  # beyond this many (delay, gain) values, a comparison sort


def sort_rows(columns: list[np.ndarray], n_neurons: int, n_gains: int) -> SortedRows:
    """Sort and code synapses given in generation order into the rows of the compact
    layout (:meth:`SortedRows.packed` packs their targets).

    ``columns`` = [pre, post_local, value, delay, gain_index], arrays of equal length:
    ``pre`` global ids, ``post_local`` partition-relative ids (< 16,384), ``value`` the stored
    weights, ``delay`` steps and ``gain_index`` (uint16 each). The list is emptied: each
    column is dropped as soon as it has been used, so that the sort holds at most about
    two copies of the synapses (~22 bytes each) instead of four. The order is a stable sort
    by (pre, gain, delay): counting sorts, one pass per key plus a cache-sized bucket pass,
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
    if gain_index.size and gain_index.max() >= 1 << 16:
        raise CapacityError("more than 65,536 gain indices (32,768 projections)")
    n_delays = int(delay.max()) + 1 if delay.size else 1
    key_type = np.int32 if n_delays * n_gains < 1 << 31 else np.int64
    subkey = gain_index.astype(key_type) * key_type(n_delays) + delay
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
    targets, s_value, sorted_key = _scatter_rows(pre, post_local, value, subkey, starts,
                                                 padded(pre.size))
    del pre, post_local, value, subkey
    if uniform:
        g_code = encode_uniform_rows(first_key, n_delays, starts, row_grp)
    else:
        g_code = encode_rows(sorted_key, n_delays, starts, row_grp)
    return SortedRows(row_syn=starts.astype(np.uint32), row_grp=row_grp.astype(np.uint32),
                      g_code=g_code, targets=targets, s_value=s_value)


def pack_partition(columns: list[np.ndarray], n_neurons: int,
                   n_gains: int) -> PartitionSynapses:
    """Pack synapses given in generation order into the compact layout
    (:func:`sort_rows`, then the targets packed)."""
    return sort_rows(columns, n_neurons, n_gains).packed()


class RowMerger:
    """The rows of one partition, merged from those of its blocks of neurons.

    :meth:`add` takes each block's sorted rows in neuron order (the synapse counts are
    known beforehand, so each block's targets and weights are copied into place and the
    block released); :meth:`packed` merges them (:func:`brainmac.compile.codes.merge_rows`:
    every target keeps the order of its inputs, so results equal those of one sort) with
    the targets packed as they are written: ~6 bytes per synapse at once, not the ~22 of
    generating the whole partition's synapses.
    """

    def __init__(self, block_synapses: list[int], n_neurons: int, value_dtype) -> None:
        self.counts = np.asarray(block_synapses, np.int64)
        self.targets = np.empty(int(self.counts.sum()), np.uint16)
        self.values = np.empty(self.targets.size, value_dtype)
        self.row_syn = np.zeros((self.counts.size, n_neurons + 1), np.uint32)
        self.row_grp = np.zeros_like(self.row_syn)
        self.codes: list[np.ndarray] = []
        self.offsets: list[int] = []

    def add(self, rows: SortedRows, offset: int) -> None:
        """Block j's rows (the j-th call), its neurons ``offset`` after the partition's
        first."""
        j = len(self.codes)
        if rows.n_synapses != self.counts[j]:
            raise RuntimeError(f"block {j} holds {rows.n_synapses} synapses, "
                               f"{self.counts[j]} were counted")
        at = int(self.counts[:j].sum())
        self.targets[at:at + rows.n_synapses] = rows.targets
        self.values[at:at + rows.n_synapses] = rows.s_value[:rows.n_synapses]
        self.row_syn[j], self.row_grp[j] = rows.row_syn, rows.row_grp
        self.codes.append(rows.g_code)
        self.offsets.append(int(offset))

    def packed(self) -> PartitionSynapses:
        """The merged partition in the compact layout (module doc)."""
        g_code = np.concatenate(self.codes)
        out_syn = self.row_syn.astype(np.int64).sum(axis=0)
        n = int(out_syn[-1])
        s_index = np.zeros(target_bytes(padded(n)), np.uint8)
        s_value = np.zeros(padded(n), self.values.dtype)
        row_grp = np.empty(out_syn.size, np.int64)
        g_code = merge_rows(self.row_syn, self.row_grp, g_code,
                            _starts(np.array([c.size for c in self.codes], np.int64)),
                            self.targets, self.values, _starts(self.counts),
                            np.asarray(self.offsets, np.int64), out_syn, s_index, s_value,
                            row_grp)
        return PartitionSynapses(row_syn=out_syn.astype(np.uint32),
                                 row_grp=row_grp.astype(np.uint32), g_code=g_code,
                                 s_index=s_index, s_value=s_value)


def _starts(counts: np.ndarray) -> np.ndarray:
    """Where each of ``counts`` starts in their concatenation."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
