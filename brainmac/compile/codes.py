"""The compact synapse layout: 12-bit targets and one-byte group codes.

Per synapse the layout stores its weight (one byte in the fixed-point profiles) and a
12-bit target; delays and gains are shared by *groups* of consecutive synapses of a row
(one presynaptic neuron in one partition) and coded in one byte per group. The full-scale
microcircuit needs 2.5 bytes per synapse for weights and targets, ~0.17 for the codes and
0.05 for the row pointers (the previous layout: 3 + 1.18 + 0.05).

Arrays (P partitions, N neurons, n synapse slots, g code bytes)::

    syn_base  (P,)    int64   first synapse slot of each partition (even)
    row_syn   (P, N+1) uint32 first synapse of each row, partition-relative
    s_index   (3n/2,) uint8   12-bit targets, slot k in bits [12k, 12k + 12), little-endian
    s_value   (n,)    weight  stored weights
    grp_base  (P,)    int64   first code byte of each partition
    row_grp   (P, N+1) uint32 first code byte of each row, partition-relative
    g_code    (g,)    uint8   group codes of every row

A partition's synapses are padded to an even number of slots (one slot of weight 0 and
target 0 that no row points to), so that every partition starts on a whole byte of
``s_index`` and its byte range is ``[3 syn_base / 2, 3 (syn_base + slots) / 2)``.

Target of slot k: ``v = s_index[3k >> 1] | s_index[(3k >> 1) + 1] << 8``, then
``(v >> 4 (k & 1)) & 0xFFF``: partitions hold at most 4,096 neurons.

Codes of a row, read in order, with a running (gain, delay) that starts at (none, 0)::

    count | step << 4, count 1..15   the next ``count`` synapses of the row form a group at
                                     delay += step (step 0..15)
    0 | h << 4, h 1..15              delay += 2**(h + 3): a longer step, no synapses
    0                                set the gain: the next two bytes are its index
                                     (little-endian); delay = 0

Every non-empty row starts with a gain code. Within a row, synapses are sorted by (gain,
delay) and keep generation order within a group, so each target receives its inputs in
the same order whatever the partitioning. Delays are in steps (sub-steps of dt / 2**k with
sub-step spike times).
"""

from __future__ import annotations

import numpy as np
from numba import njit

TARGET_BITS = 12
MAX_TARGETS = 1 << TARGET_BITS  # neurons per partition
MAX_COUNT = 15  # synapses per group code
MAX_STEP = 15  # delay step a group code carries
GAIN_CODE = 0  # the code that sets the gain (two bytes follow)
MAX_GAINS = 1 << 16


def even(n):
    """``n`` (an int or an integer array) rounded up to an even number of synapse slots."""
    return n + (n & 1)


@njit(cache=True, nogil=True)
def target_at(s_index, k):
    """The 12-bit target of synapse slot k."""
    o = (np.uint64(k) * np.uint64(3)) >> np.uint64(1)
    v = np.uint64(s_index[o]) | (np.uint64(s_index[o + np.uint64(1)]) << np.uint64(8))
    return (v >> ((np.uint64(k) & np.uint64(1)) << np.uint64(2))) & np.uint64(0xFFF)


@njit(cache=True, nogil=True)
def pack_targets(targets, out):
    """Write ``targets`` (n,) (< 4096) into the 12-bit array ``out`` (3 even(n) / 2,)."""
    for k in range(0, targets.size - 1, 2):
        a, b = targets[k], targets[k + 1]
        o = 3 * k // 2
        out[o] = a & 0xFF
        out[o + 1] = (a >> 8) | ((b & 0xF) << 4)
        out[o + 2] = b >> 4
    if targets.size & 1:
        a = targets[targets.size - 1]
        o = 3 * (targets.size - 1) // 2
        out[o] = a & 0xFF
        out[o + 1] = a >> 8
        out[o + 2] = 0


@njit(cache=True, nogil=True)
def _delay_codes(step, out, at):
    """Write the codes that advance the delay by ``step`` before a group, all but the
    group's own 0..15; returns (bytes written, what is left for the group's step)."""
    n = 0
    while step > MAX_STEP:
        h = 1
        while h < 15 and (1 << (h + 4)) <= step:
            h += 1
        if out.size:
            out[at + n] = h << 4
        n += 1
        step -= 1 << (h + 3)
    return n, step


@njit(cache=True, nogil=True)
def _row_codes(key, n_delays, s0, s1, out, at):
    """Codes of one row's synapses s0 .. s1 - 1, sorted by ``key`` = gain * n_delays +
    delay; writes them from ``out[at]`` if ``out`` is not empty; returns the bytes."""
    n = 0
    s = s0
    cur_gain, cur_delay = -1, 0
    while s < s1:
        gain, delay = key[s] // n_delays, key[s] % n_delays
        if gain != cur_gain:
            cur_gain, cur_delay = gain, 0
            if out.size:
                out[at + n] = GAIN_CODE
                out[at + n + 1] = gain & 0xFF
                out[at + n + 2] = gain >> 8
            n += 3
        m, step = _delay_codes(delay - cur_delay, out, at + n)
        n += m
        cur_delay = delay
        e = s + 1
        while e < s1 and e - s < MAX_COUNT and key[e] == key[s]:
            e += 1
        if out.size:
            out[at + n] = (e - s) | (step << 4)
        n += 1
        s = e
    return n


@njit(cache=True, nogil=True)
def encode_rows(key, n_delays, starts, row_grp):
    """Group codes of a partition whose synapses are sorted by (row, key), key = gain *
    n_delays + delay: fills ``row_grp`` (N+1,) with each row's first code byte and returns
    ``g_code``."""
    empty = np.empty(0, np.uint8)
    n = 0
    for i in range(starts.size - 1):
        row_grp[i] = n
        n += _row_codes(key, n_delays, starts[i], starts[i + 1], empty, 0)
    row_grp[starts.size - 1] = n
    out = np.empty(n, np.uint8)
    for i in range(starts.size - 1):
        _row_codes(key, n_delays, starts[i], starts[i + 1], out, row_grp[i])
    return out


@njit(cache=True, nogil=True)
def encode_uniform_rows(row_key, n_delays, starts, row_grp):
    """:func:`encode_rows` where every synapse of row i has the key ``row_key[i]`` (N,):
    no per-synapse key is needed."""
    empty = np.empty(0, np.uint8)
    n = 0
    for i in range(starts.size - 1):
        row_grp[i] = n
        m = starts[i + 1] - starts[i]
        if m > 0:  # gain code, the steps to the row's delay, one code per 15 synapses
            delay = row_key[i] % n_delays
            n += 3 + _delay_codes(delay, empty, 0)[0] + (m + MAX_COUNT - 1) // MAX_COUNT
    row_grp[starts.size - 1] = n
    out = np.empty(n, np.uint8)
    for i in range(starts.size - 1):
        m = starts[i + 1] - starts[i]
        if m == 0:
            continue
        gain, delay = row_key[i] // n_delays, row_key[i] % n_delays
        at = row_grp[i]
        out[at], out[at + 1], out[at + 2] = GAIN_CODE, gain & 0xFF, gain >> 8
        at += 3
        w, step = _delay_codes(delay, out, at)
        at += w
        while m > 0:
            c = min(m, MAX_COUNT)
            out[at] = c | (step << 4)
            step = 0
            at += 1
            m -= c
    return out


@njit(cache=True, nogil=True)
def check_row(g_code, c0, c1, n_gains, max_delay):
    """Decode the codes ``g_code[c0:c1]`` of one row; returns (synapses, error) where
    error is 0 if the codes are sound, else: 1 no gain code first, 2 a gain code cut off,
    3 a gain index >= n_gains, 4 a group delay below 1 or above ``max_delay``."""
    n, delay, have_gain = 0, 0, False
    c = c0
    while c < c1:
        code = g_code[c]
        c += 1
        count, step = code & 15, code >> 4
        if code == GAIN_CODE:
            if c + 2 > c1:
                return n, 2
            if (np.int64(g_code[c]) | (np.int64(g_code[c + 1]) << 8)) >= n_gains:
                return n, 3
            c += 2
            delay, have_gain = 0, True
            continue
        if not have_gain:
            return n, 1
        if count == 0:
            delay += 1 << (step + 3)
            if delay > max_delay:
                return n, 4
            continue
        delay += step
        if delay < 1 or delay > max_delay:
            return n, 4
        n += count
    return n, 0


ROW_ERRORS = {1: "does not start with a gain code", 2: "ends inside a gain code",
              3: "names a gain index outside gain_value",
              4: "gives a delay below 1 or above the largest delay the ring can hold"}


@njit(cache=True, nogil=True)
def check_partition_codes(g_code, gb, row_grp_p, row_syn_p, n_gains, max_delay):
    """:func:`check_row` on every row of one partition, and each row's synapses against its
    row pointers; returns (row, error) of the first bad row (error 5: the codes count other
    synapses than ``row_syn``), or (-1, 0)."""
    for j in range(row_grp_p.size - 1):
        n, err = check_row(g_code, gb + row_grp_p[j], gb + row_grp_p[j + 1], n_gains,
                           max_delay)
        if err != 0:
            return j, err
        if n != np.int64(row_syn_p[j + 1]) - np.int64(row_syn_p[j]):
            return j, 5
    return -1, 0


@njit(cache=True, nogil=True)
def delay_stats(g_code):
    """(smallest delay, largest delay, sum of delay x synapses, synapses) over every group
    of ``g_code``, read linearly: each row starts with a gain code, which resets the delay.
    The smallest delay is 2**62 when there is no group."""
    lo, hi, total, n = np.int64(1) << 62, np.int64(0), 0.0, np.int64(0)
    delay = np.int64(0)
    c = 0
    while c < g_code.size:
        code = g_code[c]
        c += 1
        count, step = code & 15, code >> 4
        if code == GAIN_CODE:
            c += 2
            delay = 0
        elif count == 0:
            delay += np.int64(1) << (step + 3)
        else:
            delay += step
            lo, hi = min(lo, delay), max(hi, delay)
            total += delay * np.float64(count)
            n += count
    return lo, hi, total, n


@njit(cache=True, nogil=True)
def count_groups(g_code):
    """Group codes (count 1..15) in the codes of whole rows, read linearly as
    :func:`delay_stats` does (a gain code and its two index bytes are skipped)."""
    n, c = 0, 0
    while c < g_code.size:
        if g_code[c] == GAIN_CODE:
            c += 3
        else:
            n += (g_code[c] & 15) != 0
            c += 1
    return n


@njit(cache=True, nogil=True)
def decode_partition(g_code, gb, row_grp_p, row_syn_p, sb, s_index, s_value):
    """Every synapse of one partition as columns (pre, target, value, delay, gain), in
    layout order (tests and tools; the kernels decode on the fly)."""
    n = row_syn_p[-1]
    pre, target = np.empty(n, np.int64), np.empty(n, np.int64)
    delay, gain = np.empty(n, np.int64), np.empty(n, np.int64)
    value = np.empty(n, s_value.dtype)
    s = 0
    for j in range(row_grp_p.size - 1):
        d, gi = 0, 0
        c = gb + row_grp_p[j]
        while c < gb + row_grp_p[j + 1]:
            code = g_code[c]
            c += 1
            count, step = code & 15, code >> 4
            if code == GAIN_CODE:
                gi = np.int64(g_code[c]) | (np.int64(g_code[c + 1]) << 8)
                c += 2
                d = 0
            elif count == 0:
                d += np.int64(1) << (step + 3)
            else:
                d += step
                for _ in range(count):
                    pre[s], target[s] = j, target_at(s_index, sb + s)
                    value[s], delay[s], gain[s] = s_value[sb + s], d, gi
                    s += 1
    return pre, target, value, delay, gain
