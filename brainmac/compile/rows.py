"""Where each row's synapses and codes lie: the partition layout and the neuron layout.

A row is one presynaptic neuron's synapses in one partition (``brainmac.compile.codes``).
The arrays hold every row once; the two layouts differ in their order:

``"partition"`` (a store's layout, and an MPI rank's): partition after partition, each
    partition's rows in neuron order. Row (p, j) is ``[syn_base[p] + row_syn[p, j],
    syn_base[p] + row_syn[p, j + 1])``, its codes likewise with ``grp_base`` and
    ``row_grp``; both tables are (P, N+1) uint32, partition-relative. A partition is one
    contiguous range: a rank maps only its own.

``"neuron"`` (what :func:`brainmac.compile.compile_network` returns by default): neuron
    after neuron, each neuron's rows in partition order, its block of slots padded to a
    multiple of SLOT_BLOCK. Row (p, j) is ``[row_syn[j, p], row_syn[j, p + 1])``: the
    tables are (N, P+1) uint32 of global positions, column P holding the end of each
    neuron's rows, and ``syn_base`` and ``grp_base`` are zero. A spike's rows in every
    partition then lie in one run of memory, and their pointers in one or two cache lines:
    the full-scale microcircuit ran 7-9 % faster at dt 0.1 ms (docs/performance.md,
    session 11), because a run reads rows at random from memory and a few long runs
    stream better than many short ones. Where many neurons spike in a step (the same
    network at dt 1 ms: ~1,200 of 77,169) the partition layout keeps consecutive spikes'
    rows closer, and the neuron layout ran ~8 % slower. Global positions are 32-bit:
    networks of 2**32 slots or code bytes and more keep the partition layout, and so does
    a network of one partition (the same order).

Both layouts hold the same bytes but for the neuron layout's padding (< 4 slots per
neuron): ``bytes_per_synapse`` differs by that.

The kernels take the tables flat (:func:`kernel_tables`): row (p, j) is entries ``i`` and
``i + 1`` with ``i = p * stride[0] + j * stride[1]`` in either layout.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from brainmac.compile.codes import (
    SLOT_BLOCK,
    decode_rows,
    put_target,
    target_at,
    target_bytes,
)
from brainmac.errors import ConfigError

LAYOUTS = ("neuron", "partition")
#: Positions in the neuron layout's tables are uint32.
MAX_POSITION = np.iinfo(np.uint32).max


def check_layout(layout: str) -> str:
    """``layout`` if it is one of LAYOUTS, else a ConfigError naming them."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown row layout {layout!r}; choose one of {LAYOUTS}")
    return layout


def kernel_tables(arrays: dict, layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_syn, row_grp, stride): the tables as flat views, and stride (2,) int64 such
    that row (p, j) starts at entry ``p * stride[0] + j * stride[1]`` and ends at the next."""
    syn, grp = arrays["row_syn"], arrays["row_grp"]
    width = syn.shape[1]
    stride = [1, width] if check_layout(layout) == "neuron" else [width, 1]
    return syn.reshape(-1), grp.reshape(-1), np.array(stride, np.int64)


def row_bounds(arrays: dict, layout: str, p: int, kind: str = "syn"
               ) -> tuple[np.ndarray, np.ndarray]:
    """(first, stop) int64 (N,): where the rows of partition p start and end in the
    synapse slots (``kind="syn"``) or the code bytes (``kind="grp"``)."""
    first, stop = _table_bounds(np.asarray(arrays[f"row_{kind}"]), layout, p)
    base = int(arrays[f"{kind}_base"][p])
    return base + first, base + stop


def row_lengths(table: np.ndarray, layout: str, p: int) -> np.ndarray:
    """(N,) int64: the length of every row of partition p, from a row table alone."""
    first, stop = _table_bounds(np.asarray(table), layout, p)
    return stop - first


def _table_bounds(table: np.ndarray, layout: str, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, stop) int64 (N,) of partition p's rows in ``table``, base not added."""
    if check_layout(layout) == "neuron":
        first, stop = table[:, p], table[:, p + 1]
    else:
        first, stop = table[p, :-1], table[p, 1:]
    return first.astype(np.int64), stop.astype(np.int64)


def decode(arrays: dict, layout: str, p: int) -> tuple[np.ndarray, ...]:
    """Every synapse of partition p as columns (pre, target, value, delay, gain), rows in
    neuron order (tests and tools; the kernels decode on the fly)."""
    syn_first, syn_stop = row_bounds(arrays, layout, p, "syn")
    grp_first, grp_stop = row_bounds(arrays, layout, p, "grp")
    return decode_rows(arrays["g_code"], grp_first, grp_stop, syn_first,
                       int((syn_stop - syn_first).sum()), arrays["s_index"], arrays["s_value"])


def partition_synapses(arrays: dict, layout: str) -> np.ndarray:
    """Synapses of each partition, (P,) int64."""
    if check_layout(layout) == "partition":
        return np.asarray(arrays["row_syn"][:, -1], np.int64)  # the last row pointers
    n_parts = arrays["row_syn"].shape[1] - 1
    return np.array([row_lengths(arrays["row_syn"], layout, p).sum() for p in range(n_parts)],
                    np.int64)


def chosen_layout(layout: str, arrays: dict) -> str:
    """The layout partition-layout ``arrays`` take when ``layout`` is asked for: the
    partition layout where the neuron layout would change nothing (one partition) or its
    positions would not fit 32 bits once every neuron's block is padded."""
    if check_layout(layout) == "partition":
        return layout
    n_parts, n_rows = arrays["row_syn"].shape  # the partition layout's (P, N+1)
    slots = arrays["s_value"].size + (SLOT_BLOCK - 1) * (n_rows - 1)
    if n_parts == 1 or slots > MAX_POSITION or arrays["g_code"].size > MAX_POSITION:
        return "partition"
    return "neuron"


def to_neuron_layout(arrays: dict) -> None:
    """Reorder partition-layout ``arrays`` (module doc) into the neuron layout, in place.

    One synapse array is copied at a time and the old one dropped from ``arrays``, so the
    extra memory is the largest of them (the targets, 1.75 bytes per synapse). The caller
    checks :func:`chosen_layout` first."""
    old_syn, old_grp = arrays["row_syn"], arrays["row_grp"]
    syn_base, grp_base = arrays["syn_base"], arrays["grp_base"]
    n_parts, n_rows = old_syn.shape
    syn_table = np.empty((n_rows - 1, n_parts + 1), np.uint32)
    grp_table = np.empty((n_rows - 1, n_parts + 1), np.uint32)
    n_slots = _neuron_table(old_syn, SLOT_BLOCK, syn_table)
    n_codes = _neuron_table(old_grp, 1, grp_table)
    targets = np.zeros(target_bytes(n_slots), np.uint8)
    _move_targets(arrays.pop("s_index"), syn_base, old_syn, syn_table, targets)
    arrays["s_index"] = targets
    old = arrays.pop("s_value")
    values = np.zeros(n_slots, old.dtype)
    _move_items(old, syn_base, old_syn, syn_table, values)
    del old
    arrays["s_value"] = values
    old = arrays.pop("g_code")
    codes = np.empty(n_codes, old.dtype)
    _move_items(old, grp_base, old_grp, grp_table, codes)
    del old
    arrays["g_code"] = codes
    arrays["row_syn"], arrays["row_grp"] = syn_table, grp_table
    arrays["syn_base"] = np.zeros(n_parts, np.int64)
    arrays["grp_base"] = np.zeros(n_parts, np.int64)


@njit(cache=True, nogil=True)
def _neuron_table(old, block, out):
    """Fill the neuron layout's table ``out`` (N, P+1) from a partition layout's ``old``
    (P, N+1): neuron j's rows in partition order from the end of neuron j - 1's block
    (padded to a multiple of ``block``), column P the end of its rows. Returns the padded
    total."""
    n_parts, n_neurons = old.shape[0], old.shape[1] - 1
    start = np.int64(0)
    for j in range(n_neurons):
        at = start
        for p in range(n_parts):
            out[j, p] = at
            at += np.int64(old[p, j + 1]) - np.int64(old[p, j])
        out[j, n_parts] = at
        start = (at + block - 1) // block * block
    return start


@njit(inline="always", cache=True)
def _row_place(base, old_rows, table, j, p):
    """(destination, source, length) of row (p, j): where the neuron layout puts it, where
    the partition layout has it (slots or items), and its length."""
    at = np.int64(table[j, p])
    return at, base[p] + np.int64(old_rows[p, j]), np.int64(table[j, p + 1]) - at


@njit(parallel=True, cache=True, nogil=True)
def _move_targets(old, base, old_rows, table, out):
    """Copy the 14-bit targets of every row (:func:`_row_place`) into ``out`` (zero on
    entry). Neurons run in parallel: each neuron's block starts on a whole byte (SLOT_BLOCK
    slots), so no byte has two writers."""
    for j in prange(old_rows.shape[1] - 1):
        for p in range(old_rows.shape[0]):
            at, src, n = _row_place(base, old_rows, table, j, p)
            for q in range(n):
                put_target(out, at + q, target_at(old, src + q))


@njit(parallel=True, cache=True, nogil=True)
def _move_items(old, base, old_rows, table, out):
    """Copy the items (weights or code bytes) of every row (:func:`_row_place`) into
    ``out``; its padding is left as it was."""
    for j in prange(old_rows.shape[1] - 1):
        for p in range(old_rows.shape[0]):
            at, src, n = _row_place(base, old_rows, table, j, p)
            out[at:at + n] = old[src:src + n]
