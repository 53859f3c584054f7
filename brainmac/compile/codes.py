"""The compact synapse layout: 14-bit targets and one-byte group codes.

Per synapse the layout stores its weight (one byte in the fixed-point profiles) and a
14-bit target; delays and gains are shared by *groups* of consecutive synapses of a row
(one presynaptic neuron in one partition) and coded in one byte per group. Partitions hold
up to 16,384 neurons: a row is a presynaptic neuron's synapses in a partition, and delivery
costs per group (~20 ns) as well as per synapse, so few long rows (the full-scale
microcircuit: 10 partitions, rows of ~403 synapses and ~47 code bytes) run faster than
many short ones (24 partitions of 4,096 with 12-bit targets: rows of ~168 synapses in ~29
groups; docs/performance.md, session 7). The full-scale microcircuit needs 2.75 bytes per
synapse for weights and targets, ~0.12 for the codes and 0.02 for the row pointers.

Arrays (P partitions, N neurons, n synapse slots, g code bytes), in the partition layout
(a store's; ``brainmac.compile.rows`` has the neuron layout, which orders the same rows by
neuron)::

    syn_base  (P,)    int64   first synapse slot of each partition (a multiple of 4)
    row_syn   (P, N+1) uint32 first synapse of each row, partition-relative
    s_index   (7n/4,) uint8   14-bit targets, slot k in bits [14k, 14k + 14), little-endian
    s_value   (n,)    weight  stored weights
    grp_base  (P,)    int64   first code byte of each partition
    row_grp   (P, N+1) uint32 first code byte of each row, partition-relative
    g_code    (g,)    uint8   group codes of every row

A partition's synapses are padded to a multiple of SLOT_BLOCK = 4 slots (slots of weight 0
and target 0 that no row points to), so that every partition starts on a whole byte of
``s_index`` (4 targets are 7 bytes) and its byte range is ``[7 syn_base / 4, 7 (syn_base +
slots) / 4)``.

Target of slot k: bit ``b = 14k``, ``v = s_index[b >> 3] | s_index[(b >> 3) + 1] << 8 |
s_index[(b >> 3) + 2] << 16`` (the third byte only where ``b & 7`` > 2), then ``(v >> (b &
7)) & 0x3FFF``: partitions hold at most 16,384 neurons.

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

TARGET_BITS = 14
TARGET_MASK = (1 << TARGET_BITS) - 1
MAX_TARGETS = 1 << TARGET_BITS  # neurons per partition
SLOT_BLOCK = 4  # a partition's slots are padded to a multiple of this: 4 targets, 7 bytes
MAX_COUNT = 15  # synapses per group code
MAX_STEP = 15  # delay step a group code carries
GAIN_CODE = 0  # the code that sets the gain (two bytes follow)
MAX_GAINS = 1 << 16


def padded(n):
    """``n`` (an int or an integer array) rounded up to a multiple of SLOT_BLOCK slots."""
    return (n + (SLOT_BLOCK - 1)) // SLOT_BLOCK * SLOT_BLOCK


def target_bytes(slots):
    """Bytes of ``s_index`` holding the targets of ``slots`` (a multiple of SLOT_BLOCK)."""
    return slots * TARGET_BITS // 8


@njit(cache=True, nogil=True)
def target_at(s_index, k):
    """The 14-bit target of synapse slot k."""
    bit = np.uint64(k) * np.uint64(TARGET_BITS)
    o = bit >> np.uint64(3)
    shift = bit & np.uint64(7)
    v = np.uint64(s_index[o]) | (np.uint64(s_index[o + np.uint64(1)]) << np.uint64(8))
    if shift > np.uint64(2):  # the target reaches into a third byte
        v |= np.uint64(s_index[o + np.uint64(2)]) << np.uint64(16)
    return (v >> shift) & np.uint64(TARGET_MASK)


@njit(cache=True, nogil=True)
def pack_targets(targets, out):
    """Write ``targets`` (n,) (< 16,384) into the 14-bit array ``out`` (7 padded(n) / 4,),
    padding slots as target 0."""
    out[:] = 0
    for k in range(targets.size):
        put_target(out, k, targets[k])


@njit(inline="always", cache=True, nogil=True)
def put_target(out, k, target):
    """Add ``target`` as slot k's 14 bits into ``out``, whose bits there are still 0."""
    bit = TARGET_BITS * k
    o = bit >> 3
    v = np.int64(target) << (bit & 7)
    out[o] |= v & 0xFF
    out[o + 1] |= (v >> 8) & 0xFF
    if v >> 16:
        out[o + 2] |= v >> 16


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


def decode_partition(g_code, gb, row_grp_p, row_syn_p, sb, s_index, s_value):
    """Every synapse of one partition of the partition layout as columns (pre, target,
    value, delay, gain), in layout order (tests and tools; the kernels decode on the fly).
    ``brainmac.compile.rows.decode`` reads either layout."""
    n = row_grp_p.size - 1
    grp = gb + np.asarray(row_grp_p, np.int64)
    return decode_rows(g_code, grp[:n], grp[1:], sb + np.asarray(row_syn_p[:n], np.int64),
                       int(row_syn_p[-1]), s_index, s_value)


@njit(cache=True, nogil=True)
def decode_rows(g_code, grp_first, grp_stop, syn_first, n, s_index, s_value):
    """The ``n`` synapses of rows j = 0 .. N-1 (codes ``g_code[grp_first[j]:grp_stop[j]]``,
    synapses from slot ``syn_first[j]``) as columns (pre, target, value, delay, gain)."""
    pre, target = np.empty(n, np.int64), np.empty(n, np.int64)
    delay, gain = np.empty(n, np.int64), np.empty(n, np.int64)
    value = np.empty(n, s_value.dtype)
    s = 0
    for j in range(grp_first.size):
        d, gi = 0, 0
        c = grp_first[j]
        k = syn_first[j]
        while c < grp_stop[j]:
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
                    pre[s], target[s] = j, target_at(s_index, k)
                    value[s], delay[s], gain[s] = s_value[k], d, gi
                    s += 1
                    k += 1
    return pre, target, value, delay, gain


#: Code bytes a synapse can need at most: a group code, a gain code (3 bytes) and the
#: long steps before a group (at most 12 for a step of up to 65,535: tests/test_pack.py).
MAX_ROW_CODES_PER_SYNAPSE = 1 + 3 + 12
_NO_KEY = np.int64(1) << np.int64(62)  # the key of a cursor past its row's last group
_KEY_DELAYS = np.int64(1) << np.int64(32)  # key = gain * _KEY_DELAYS + delay while merging


@njit(cache=True, nogil=True)
def _next_group(g_code, cursor, j):
    """Advance row cursor j (``cursor[j]`` = code position, code end, gain, delay, synapses
    left in the group, key) to its next group of synapses; key _NO_KEY past the last."""
    c, c1, gain, delay = cursor[j, 0], cursor[j, 1], cursor[j, 2], cursor[j, 3]
    cursor[j, 5] = _NO_KEY
    while c < c1:
        code = np.int64(g_code[c])
        c += 1
        count, step = code & 15, code >> 4
        if count == 0:
            if step == 0:
                gain = np.int64(g_code[c]) | (np.int64(g_code[c + 1]) << 8)
                c += 2
                delay = 0
            else:
                delay += np.int64(1) << (step + 3)
            continue
        delay += step
        cursor[j, 4] = count
        cursor[j, 5] = gain * _KEY_DELAYS + delay
        break
    cursor[j, 0], cursor[j, 2], cursor[j, 3] = c, gain, delay


@njit(cache=True, nogil=True)
def merge_rows(row_syn, row_grp, g_code, g_base, targets, values, s_base, offset, out_syn,
               s_index, out_values, out_grp):
    """Merge the rows of m partitions of neighbouring neurons into the rows of one.

    Part j's rows are ``row_syn[j]`` / ``row_grp[j]`` (m, N+1) into ``g_code`` from
    ``g_base[j]`` and into ``targets`` (partition-relative, unpacked) and ``values`` from
    ``s_base[j]``; its neurons start ``offset[j]`` after the merged partition's. Each merged
    row takes the groups of the m rows in (gain, delay) order, those of a lower j first
    where the keys tie; a target is in one part only, so it receives its inputs in the
    order it had. ``out_syn`` (N+1,) holds the merged row starts (the sums of the parts');
    writes the synapses (targets packed into ``s_index``, zeros on entry) and the code
    starts ``out_grp`` (N+1,); returns the codes. The code buffer starts at the parts' code
    bytes and is grown where a row might not fit (MAX_ROW_CODES_PER_SYNAPSE): interleaved
    delays can need more long steps than the parts' rows."""
    m = row_syn.shape[0]
    out_codes = np.empty(max(16, g_code.size), np.uint8)  # grown if the merge needs more
    cursor = np.zeros((m, 6), np.int64)
    longest = 1
    for i in range(out_syn.size - 1):
        longest = max(longest, out_syn[i + 1] - out_syn[i])
    keys = np.empty(longest, np.int64)  # of one merged row
    src = np.empty(m, np.int64)  # each part's next synapse in the row
    at = 0
    for i in range(row_syn.shape[1] - 1):
        out_grp[i] = at
        for j in range(m):
            cursor[j, 0] = g_base[j] + row_grp[j, i]
            cursor[j, 1] = g_base[j] + row_grp[j, i + 1]
            cursor[j, 2], cursor[j, 3] = -1, 0
            _next_group(g_code, cursor, j)
            src[j] = s_base[j] + np.int64(row_syn[j, i])
        o = np.int64(out_syn[i])
        while True:
            j = 0
            for jj in range(1, m):
                if cursor[jj, 5] < cursor[j, 5]:
                    j = jj
            if cursor[j, 5] == _NO_KEY:
                break
            for q in range(cursor[j, 4]):
                put_target(s_index, o, targets[src[j] + q] + offset[j])
                out_values[o] = values[src[j] + q]
                keys[o - out_syn[i]] = cursor[j, 5]
                o += 1
            src[j] += cursor[j, 4]
            _next_group(g_code, cursor, j)
        n = out_syn[i + 1] - out_syn[i]
        need = at + MAX_ROW_CODES_PER_SYNAPSE * n + 3
        if need > out_codes.size:
            grown = np.empty(2 * need, np.uint8)
            grown[:at] = out_codes[:at]
            out_codes = grown
        at += _row_codes(keys, _KEY_DELAYS, 0, n, out_codes, at)
    out_grp[row_syn.shape[1] - 1] = at
    return out_codes[:at].copy()

