"""Spike delivery through per-slot event queues, and their draining into the neuron input.

Scattering every synaptic event straight into the dense ring ``(n_slots, 2, N)`` touches a
random cache line of a region far larger than the caches (the full-scale microcircuit's
ring is 35 MB) once per event. Instead, delivery *appends* each event, ``(receptor * size
+ local target, weight * gain)``, to the queue of its arrival slot in its partition
(sequential writes), and the neuron update of that slot *drains* the queue into a small
accumulator ``acc`` of the worker stepping the partition (2 x partition size,
cache-resident), in append order.

Queues are lists of pages of PAGE events taken from the partition's pool (a free list,
last freed first reused, so the pages in use stay warm). When a pool runs dry, every queue
of the partition is *flushed*: added, in order, into the dense ring, whose slot is then
marked ``dirty`` and is added to ``acc`` first when drained. Each target therefore sums
its inputs in exactly the order of the direct scatter ((step, id) of the spike, then
synapse order), whatever the pool size: float profiles give identical results too.

A partition writes only its own queues, ring columns and accumulator: partitions run in
parallel without locks. The kernels here and in neuron_kernels allocate nothing and are
compiled without numba's reference counting (``_nrt=False``): every view they take of a
shared array would otherwise be an atomic update of a counter that all threads share.

Queue arrays (``queues`` tuple; P partitions, S slots, pages of PAGE events):
    ev_idx   (pages * PAGE,) uint32   receptor * size + target, partition-relative
                                      (packed: | input << PACKED_SHIFT, see below)
    ev_val   (pages * PAGE,) ring     the event's input (weight * gain); (1,) when packed
    nxt      (pages,)        int64    next page of a queue or of the free list (-1: none)
    head     (P, S')         int64    first page of a queue (-1: empty)
    tail     (P, S')         int64    last page of a queue
    fill     (P, S')         int64    events in the last page (PAGE when a page is needed)
    free     (P, 8)          int64    [p, 0]: first free page of p's pool (-1: dry)
    dirty    (P, S')         bool     the ring slot holds flushed input
    flushes  (P, 8)          int64    [p, 0]: times the pool ran dry (a capacity hint)
    packed   bool                     events are one packed word (below)

Rows are padded to whole cache lines (S' >= S slots), so that partitions on different
threads never write the same line.

Packed events. Where every event's input is an integer that fits PACKED_VALUE_BITS signed
bits (fixed-point profiles on the plain grid: int8 weights times a power-of-two gain, see
:func:`brainmac.backends.numba_cpu.driver.packed_events`), an event is one 32-bit word,
``index | input << PACKED_SHIFT`` (the input's two's complement in the high bits), and the
drain shifts it back arithmetically: half the bytes written at delivery and read back by
the drain, which on the full-scale microcircuit come from L3 or memory (the drain was
20 % of a run's samples). The flag is a value, not a type, so that both forms share one
compiled kernel.

Sub-step spike times (``sub_bits`` = k > 0, see ``brainmac.compile.substep``): an event's
index also carries q, the sub-steps of its arrival step left after it arrives, in bits
QSHIFT.. (``ev_idx = q << QSHIFT | receptor * size + target``); the drain (and a flush)
multiplies its input by the partition's table ``table[p, row, q]`` into three channels
(receptor 0, receptor 1, V), and the dense ring then holds three channels per slot in the
accumulator type. With k = 0, q is always 0 and nothing else changes.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from brainmac.compile.codes import TARGET_BITS, TARGET_MASK, target_at

PAGE = 256  # events per queue page
_PAGE = np.uint64(PAGE)
_LINE = np.uint64(16)  # events of ev_idx in a 64-byte cache line
_ONE = np.uint64(1)
LANES = 8  # events a group copies at once (a group of c events copies ceil(c / 8) x 8)
_U7 = np.uint64(LANES - 1)
_U3, _U4, _U8, _U15, _U64 = (np.uint64(x) for x in (3, 4, 8, 15, 64))
_UBITS = np.uint64(TARGET_BITS)
WORD_TARGETS = 4  # targets of a vector read from one 64-bit word (4 x 14 bits, 7 bytes)
WORD_STEP = TARGET_BITS * WORD_TARGETS // 8  # bytes from one word's first byte to the next's
VECTOR_BYTES = WORD_STEP + 8  # bytes of s_index a vector of LANES targets reads
QSHIFT = 17  # bits of receptor * size + target (size <= 2**16); q sits above them
_QSHIFT = np.uint64(QSHIFT)
_IDX_MASK = np.uint32((1 << QSHIFT) - 1)
PACKED_SHIFT = TARGET_BITS + 1  # bits of receptor * size + target in a packed event
PACKED_VALUE_BITS = 32 - PACKED_SHIFT  # signed bits of a packed event's input
_PACKED_MASK = np.uint32((1 << PACKED_SHIFT) - 1)
_PSHIFT = np.int32(PACKED_SHIFT)


def _prefetch_intrinsic(in_bytes: bool):
    """An intrinsic ``(arr, offset)`` that hints the cache line at ``offset`` elements (or
    bytes) from ``arr``'s start into every level (LLVM's prefetch, for read). A hint only:
    it never faults, whatever the offset."""

    def prefetch_at(typingctx, arr, offset):
        sig = types.void(arr, offset)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            i8p = ir.IntType(8).as_pointer()
            if in_bytes:
                ptr = builder.gep(builder.bitcast(ary.data, i8p), [args[1]])
            else:
                ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(prefetch_at)


prefetch = _prefetch_intrinsic(in_bytes=False)  # prefetch(arr, index)
prefetch_byte = _prefetch_intrinsic(in_bytes=True)  # prefetch_byte(arr, byte offset)


#: Bit offsets of the LANES targets of a vector from its first target's bit within its
#: first byte: targets 0-3 from one 64-bit word at that byte, 4-7 from one 7 bytes on.
_LANE_BITS = [TARGET_BITS * (i % WORD_TARGETS) for i in range(LANES)]


@intrinsic
def copy_lanes(typingctx, ev_idx, ev_val, e, s_index, s_value, k, off, gv, packed):
    """``ev_idx[e:e+LANES] = off + targets of slots k .. k+LANES-1`` (14-bit, packed in the
    bytes ``s_index``) and ``ev_val[e:e+LANES] = s_value[k:k+LANES] * gv``: two 8-byte loads
    broadcast into the lanes, a shift by each lane's bit offset and a mask for the targets,
    one vector load, widening, multiply and store for the values, with the scalar code's
    arithmetic lane by lane (integers wrap to the ring type, floats in the ring's
    precision). With ``packed`` (integer inputs only) the inputs go into ``ev_idx`` instead,
    shifted up by PACKED_SHIFT (module doc). The caller guarantees that the ranges written,
    and the VECTOR_BYTES bytes from ``14k >> 3``, are inside their arrays."""
    sig = types.void(ev_idx, ev_val, e, s_index, s_value, k, off, gv, packed)

    def codegen(context, builder, signature, args):
        a_idx, a_val, v_e, a_si, a_sv, v_k, v_off, v_gv, v_packed = args
        t_idx, t_val, _, t_si, t_sv, _, t_off, t_gv, _ = signature.args
        i32 = ir.IntType(32)

        def vector_at(aryty, value, index, elem, lanes=LANES):
            ary = context.make_array(aryty)(context, builder, value)
            return builder.bitcast(builder.gep(ary.data, [index]),
                                   ir.VectorType(elem, lanes).as_pointer())

        def splat(value, elem):
            vec = ir.VectorType(elem, LANES)
            one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, i32(0))
            zeros = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
            return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), zeros)

        e_idx = context.get_data_type(t_idx.dtype)
        vec_idx = ir.VectorType(e_idx, LANES)
        i64 = ir.IntType(64)
        vec64 = ir.VectorType(i64, LANES)
        bit = builder.mul(v_k, v_k.type(TARGET_BITS))
        byte = builder.lshr(bit, v_k.type(3))
        first = builder.trunc(builder.and_(bit, v_k.type(7)), i64)
        words = ir.Constant(ir.VectorType(i64, 2), ir.Undefined)
        for half, at in enumerate((byte, builder.add(byte, v_k.type(WORD_STEP)))):
            word = builder.load(vector_at(t_si, a_si, at, i64, 1), align=1)
            words = builder.insert_element(words, builder.extract_element(word, i32(0)),
                                           i32(half))
        lanes = builder.shuffle_vector(words, words, ir.Constant(
            ir.VectorType(i32, LANES), [i // WORD_TARGETS for i in range(LANES)]))
        shift = builder.add(splat(first, i64), ir.Constant(vec64, _LANE_BITS))
        x = builder.and_(builder.lshr(lanes, shift), ir.Constant(vec64, [TARGET_MASK] * LANES))
        x = builder.trunc(x, vec_idx) if e_idx.width < 64 else x
        x = builder.add(x, splat(builder.trunc(v_off, e_idx), e_idx))

        e_val, e_sv = context.get_data_type(t_val.dtype), context.get_data_type(t_sv.dtype)
        w = builder.load(vector_at(t_sv, a_sv, v_k, e_sv), align=1)
        g = context.cast(builder, v_gv, t_gv, t_val.dtype)
        if not isinstance(t_val.dtype, types.Integer):
            if e_sv != e_val:
                w = builder.fpext(w, ir.VectorType(e_val, LANES))
            w = builder.fmul(w, splat(g, e_val))
            builder.store(x, vector_at(t_idx, a_idx, v_e, e_idx), align=1)
            builder.store(w, vector_at(t_val, a_val, v_e, e_val), align=1)
            return context.get_dummy_value()
        if e_sv.width < e_val.width:
            w = builder.sext(w, ir.VectorType(e_val, LANES))
        w = builder.mul(w, splat(g, e_val))
        flag = v_packed if v_packed.type.width == 1 else builder.trunc(v_packed, ir.IntType(1))
        with builder.if_else(flag) as (one_word, two_words):
            with one_word:
                high = w
                if e_val.width > e_idx.width:
                    high = builder.trunc(w, vec_idx)
                elif e_val.width < e_idx.width:
                    high = builder.sext(w, vec_idx)
                high = builder.shl(high, ir.Constant(vec_idx, [PACKED_SHIFT] * LANES))
                builder.store(builder.or_(x, high), vector_at(t_idx, a_idx, v_e, e_idx),
                              align=1)
            with two_words:
                builder.store(x, vector_at(t_idx, a_idx, v_e, e_idx), align=1)
                builder.store(w, vector_at(t_val, a_val, v_e, e_val), align=1)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", cache=True)
def prefetch_range(arr, a, b):
    """Prefetch the cache lines of ``arr[a:b]`` (a < b), stepping by bytes: the element
    size is a run-time value to numba, and a step in elements cost two divisions."""
    first, stop = _U(a) * _U(arr.itemsize), _U(b) * _U(arr.itemsize)
    for byte in range(first, stop, _U64):
        prefetch_byte(arr, byte)
    prefetch_byte(arr, stop - _ONE)


@njit(inline="always", cache=True)
def prefetch_row(i, sb, gb, row_syn, row_grp, g_code, s_index, s_value):
    """Prefetch the codes, targets and weights of the row at entry i of the flat row
    tables (its pointers are cached)."""
    c0, c1 = gb + row_grp[i], gb + row_grp[i + _ONE]
    if c0 == c1:
        return
    k0, k1 = sb + row_syn[i], sb + row_syn[i + _ONE]
    prefetch_range(g_code, c0, c1)
    prefetch_range(s_index, target_byte(k0), target_byte(k1 + _ONE))
    prefetch_range(s_value, k0, k1)


@njit(inline="always", cache=True)
def prefetch_page(ev_idx, ev_val, pg, packed):
    """Prefetch the events of queue page pg."""
    prefetch_range(ev_idx, pg * PAGE, (pg + 1) * PAGE)
    if not packed:
        prefetch_range(ev_val, pg * PAGE, (pg + 1) * PAGE)


@njit(inline="always", cache=True)
def prefetch_line(ev_idx, ev_val, e, packed):
    """Prefetch the line of events from e (LINE of them)."""
    prefetch(ev_idx, e)
    if not packed:
        prefetch(ev_val, e)
        prefetch(ev_val, e + _LINE - _ONE)


@njit(inline="always", cache=True)
def target_byte(k):
    """The byte of s_index where the target of synapse slot k starts."""
    return (_U(k) * _UBITS) >> _U3


@njit(inline="always", cache=True)
def vectors_inside(k, c8, n_syn, n_bytes):
    """Whether copying c8 events (whole vectors) from synapse slot k stays inside the weights
    (n_syn slots) and the targets (n_bytes bytes, VECTOR_BYTES read per vector)."""
    return k + c8 <= n_syn and target_byte(k + c8 - _U(LANES)) + _U(VECTOR_BYTES) <= n_bytes


@njit(inline="always", cache=True)
def packed_event(index, value):
    """One word: ``index`` (< 2**PACKED_SHIFT) | ``value`` (signed) << PACKED_SHIFT."""
    return np.uint32((np.int64(value) << PACKED_SHIFT) | np.int64(index))


@njit(inline="always", cache=True)
def unpacked(word):
    """The signed input of a packed event word (an arithmetic shift)."""
    return np.int32(word) >> _PSHIFT


@njit(cache=True, nogil=True, _nrt=False)
def flush_partition(p, queues, ring, n_total, n0, size, sub_bits, table):
    """Add every queued event of partition p, in order, into the dense ring; empty the
    queues (their pages return to the pool) and mark the slots dirty. With sub_bits > 0
    the input goes through the table into three channels (module doc)."""
    ev_idx, ev_val, nxt, head, tail, fill, free, dirty, flushes, packed = queues
    channels = 2 if sub_bits == 0 else 3
    for slot in range(head.shape[1]):
        pg = head[p, slot]
        if pg < 0:
            continue
        base = slot * channels * n_total + n0
        while pg >= 0:
            n = fill[p, slot] if pg == tail[p, slot] else PAGE
            if packed:
                for e in range(pg * PAGE, pg * PAGE + n):
                    idx = ev_idx[e] & _PACKED_MASK
                    rec = idx >= size
                    ring[base + rec * n_total + idx - rec * size] += unpacked(ev_idx[e])
            elif sub_bits == 0:
                for e in range(pg * PAGE, pg * PAGE + n):
                    idx = ev_idx[e]
                    rec = idx >= size
                    ring[base + rec * n_total + idx - rec * size] += ev_val[e]
            else:
                for e in range(pg * PAGE, pg * PAGE + n):
                    code = ev_idx[e]
                    q = code >> QSHIFT
                    idx = code & _IDX_MASK
                    rec = np.int64(idx >= size)
                    target = idx - rec * size
                    ring[base + rec * n_total + target] += ev_val[e] * table[p, rec, q]
                    ring[base + 2 * n_total + target] += ev_val[e] * table[p, 2 + rec, q]
            last = pg
            pg = nxt[pg]
        nxt[last] = free[p, 0]
        free[p, 0] = head[p, slot]
        head[p, slot] = -1
        tail[p, slot] = -1
        fill[p, slot] = PAGE
        dirty[p, slot] = True


@njit(cache=True, nogil=True, _nrt=False)
def new_page(p, slot, queues, ring, n_total, n0, size, sub_bits, table):
    """Append an empty page to queue (p, slot), flushing the partition if its pool is dry;
    returns the page."""
    ev_idx, ev_val, nxt, head, tail, fill, free, dirty, flushes, packed = queues
    if free[p, 0] < 0:
        flush_partition(p, queues, ring, n_total, n0, size, sub_bits, table)
        flushes[p, 0] += 1
    pg = free[p, 0]
    free[p, 0] = nxt[pg]
    nxt[pg] = -1
    if tail[p, slot] >= 0:
        nxt[tail[p, slot]] = pg
    else:
        head[p, slot] = pg
    tail[p, slot] = pg
    fill[p, slot] = 0
    return pg


@njit(cache=True, nogil=True, _nrt=False)
def deliver_partition(p, spike_gid, spike_slot, spike_sub, n_spikes, queues, ring, n_total,
                      n_slots, part_start, syn_base, grp_base, row_syn, row_grp, row_stride,
                      g_code, s_index, s_value, gain_value, gain_receptor, sub_bits, table):
    """Queue every synapse of partition p whose row spiked; returns the events queued.

    The row tables are flat: row j of p is ``[syn_base[p] + row_syn[i], syn_base[p] +
    row_syn[i + 1])`` with ``i = p * row_stride[0] + j * row_stride[1]``
    (``brainmac.compile.rows``), its codes likewise. A row's group codes
    (``brainmac.compile.codes``) are read in order, with a running
    (gain, delay). ``spike_slot[s]`` is the ring slot of spike s's step and ``spike_sub[s]``
    its offset (0 with sub_bits = 0); delays are in sub-steps then (module doc). Indices
    are unsigned where they come from memory (numba then emits no negative-index
    wraparound).
    """
    ev_idx, ev_val, nxt, head, tail, fill, free, dirty, flushes, packed = queues
    n0 = part_start[p]
    size = part_start[p + 1] - n0
    sb = _U(syn_base[p])
    gb = _U(grp_base[p])
    fill_p = fill[p]
    tail_p = tail[p]
    at_p = _U(p) * _U(row_stride[0])
    per_row = _U(row_stride[1])
    n_syn = _U(s_value.size)
    n_bytes = _U(s_index.size)
    slots = _U(n_slots)
    k_bits = _U(sub_bits)
    q_mask = (_ONE << k_bits) - _ONE
    events = 0
    for s in range(n_spikes):
        # the data of later spikes is fetched while this one is queued: row pointers two
        # spikes ahead, codes and synapses one ahead
        if s + 2 < n_spikes:
            i2 = at_p + _U(spike_gid[s + 2]) * per_row
            prefetch(row_syn, i2)
            prefetch(row_grp, i2)
        if s + 1 < n_spikes:
            prefetch_row(at_p + _U(spike_gid[s + 1]) * per_row, sb, gb, row_syn, row_grp,
                         g_code, s_index, s_value)
        i = at_p + _U(spike_gid[s]) * per_row
        c = gb + row_grp[i]
        c1 = gb + row_grp[i + _ONE]
        t_slot = _U(spike_slot[s])
        sub = _U(spike_sub[s])
        k = sb + row_syn[i]
        k1 = sb + row_syn[i + _ONE]
        # whole vectors from any group of the row stay inside both synapse arrays
        inside = k1 + _U(LANES) <= n_syn and target_byte(k1) + _U(VECTOR_BYTES) <= n_bytes
        delay = _U(0)
        rec_off = _U(0)
        gv = gain_value[0]
        while c < c1:
            code = _U(g_code[c])
            c += _ONE
            count = code & _U15
            step = code >> _U4
            if count == _U(0):
                if step == _U(0):  # a new gain: two bytes follow, the delay starts over
                    gi = _U(g_code[c]) | (_U(g_code[c + _ONE]) << _U8)
                    c += _U(2)
                    gv = gain_value[gi]
                    rec_off = _U(gain_receptor[gi] * size)
                    delay = _U(0)
                else:
                    delay += _ONE << (step + _U3)
                continue
            delay += step
            late = delay + sub  # sub-steps from the spike's step start, minus 1
            left = q_mask - (late & q_mask)  # sub-steps of the arrival step left
            off = rec_off + (left << _QSHIFT)
            slot = t_slot + (late >> k_bits)
            if slot >= slots:
                slot -= slots
            events += np.int64(count)
            n = _U(fill_p[slot])
            c8 = (count + _U7) & ~_U7
            if n + c8 <= _PAGE and (inside or vectors_inside(k, c8, n_syn, n_bytes)):
                e = _U(tail_p[slot]) * _PAGE + n  # the group fits the last page
                for q in range(0, c8, LANES):  # whole vectors: no branch per event
                    copy_lanes(ev_idx, ev_val, e + q, s_index, s_value, k + q, off, gv,
                               packed)
                fill_p[slot] = n + count  # the events past count are overwritten later
            else:
                for q in range(count):
                    n = _U(fill_p[slot])
                    if n == _PAGE:
                        new_page(p, slot, queues, ring, n_total, n0, size, sub_bits, table)
                        n = _U(0)
                    e = _U(tail_p[slot]) * _PAGE + n
                    if packed:
                        ev_idx[e] = packed_event(off + target_at(s_index, k + q),
                                                 s_value[k + q] * gv)
                    else:
                        ev_idx[e] = off + target_at(s_index, k + q)
                        ev_val[e] = s_value[k + q] * gv
                    fill_p[slot] = n + 1
            k += count
    return events


@njit(inline="always", cache=True)
def _U(x):
    """An unsigned index (no wraparound code)."""
    return np.uint64(x)


@njit(cache=True, nogil=True, _nrt=False)
def drain_slot(p, slot, queues, ring, n_total, n0, size, acc):
    """Move the input of (partition p, slot) into ``acc`` (length 2 * size, ex then in):
    the flushed ring slot if dirty, then the queued events in order."""
    ev_idx, ev_val, nxt, head, tail, fill, free, dirty, flushes, packed = queues
    if dirty[p, slot]:
        base = slot * 2 * n_total + n0
        zero = ring[0] - ring[0]
        for i in range(size):
            acc[i] += ring[base + i]
            acc[size + i] += ring[base + n_total + i]
            ring[base + i] = zero
            ring[base + n_total + i] = zero
        dirty[p, slot] = False
    pg = head[p, slot]
    if pg < 0:
        return
    prefetch_page(ev_idx, ev_val, pg, packed)
    while pg >= 0:
        n = _U(fill[p, slot] if pg == tail[p, slot] else PAGE)
        ahead = nxt[pg]
        first = _U(pg) * _PAGE
        for c in range(_U(0), n, _LINE):  # a line of events, and a line of the next page
            if ahead >= 0:
                prefetch_line(ev_idx, ev_val, _U(ahead) * _PAGE + c, packed)
            stop = first + min(c + _LINE, n)
            if packed:
                for e in range(first + c, stop):
                    word = ev_idx[e]
                    acc[word & _PACKED_MASK] += unpacked(word)
            else:
                for e in range(first + c, stop):
                    acc[ev_idx[e]] += ev_val[e]
        last = pg
        pg = ahead
    nxt[last] = free[p, 0]
    free[p, 0] = head[p, slot]
    head[p, slot] = -1
    tail[p, slot] = -1
    fill[p, slot] = PAGE


@njit(cache=True, nogil=True, _nrt=False)
def drain_slot_sub(p, slot, queues, ring, n_total, n0, size, acc, table):
    """:func:`drain_slot` with sub-step offsets: ``acc`` holds 3 channels of ``size``
    (receptor 0, receptor 1, V), the ring 3 channels per slot; every event's input is
    multiplied by ``table[p, row, q]`` (module doc)."""
    ev_idx, ev_val, nxt, head, tail, fill, free, dirty, flushes, packed = queues
    if dirty[p, slot]:
        base = slot * 3 * n_total + n0
        zero = ring[0] - ring[0]
        for c in range(3):
            for i in range(size):
                acc[c * size + i] += ring[base + c * n_total + i]
                ring[base + c * n_total + i] = zero
        dirty[p, slot] = False
    pg = head[p, slot]
    if pg < 0:
        return
    while pg >= 0:
        n = fill[p, slot] if pg == tail[p, slot] else PAGE
        for e in range(pg * PAGE, pg * PAGE + n):
            code = ev_idx[e]
            q = code >> QSHIFT
            idx = code & _IDX_MASK
            rec = np.int64(idx >= size)
            acc[idx] += ev_val[e] * table[p, rec, q]
            acc[2 * size + idx - rec * size] += ev_val[e] * table[p, 2 + rec, q]
        last = pg
        pg = nxt[pg]
    nxt[last] = free[p, 0]
    free[p, 0] = head[p, slot]
    head[p, slot] = -1
    tail[p, slot] = -1
    fill[p, slot] = PAGE
