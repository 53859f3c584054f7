"""The step loop of the numba CPU backend: chunks of the minimum delay, parallel partitions.

Per chunk of ``d`` steps (d <= minimum delay, so no spike of the chunk can arrive inside
it), one parallel region: every worker takes its partitions (a schedule balanced by cost,
then those another worker has not started) and, for each,
1. queues the synapses of the previous chunk's spikes (every partition's, in (step, id)
   order) for their arrival slots (see synapse_kernels);
2. steps the neurons d times: the slot's input is drained into the partition's
   accumulator, the neurons are updated, the spikes noted per step.
Then, sequentially, the chunk's spikes are gathered in (step, id) order and recorded; they
are delivered at the start of the next chunk's region, and by a delivery-only region at
the end of a run. One region per chunk instead of two halves the fork-join overhead.

With sub-step spike times (k = sub_bits > 0, ``brainmac.compile.substep``) a spike's
"step" in the chunk, recorded and exchanged arrays is its tick ``step * 2**k + sub`` and
the chunk's spikes are gathered in (step, sub, id) order, i.e. in time order; with k = 0
the tick is the step.

The network tuple (:func:`kernel_arrays`) is ``(neurons, synapses)``:
    neurons  = (part_start, coef, const, levels, ref_steps, model_code, count_thr,
                count_win, count_bounds, drive_weight, drive_receptor, drive_window, key,
                frac_bits, smax, sub_bits, shift, table, drive_sub, random_sub)
    where    table (P, 4, 2**k), drive_sub (P, 2), random_sub (P,) are the sub-step tables
             (``substep.partition_tables``; one entry with k = 0)
    synapses = (syn_base, grp_base, row_syn, row_grp, row_stride, g_code, s_index,
                s_value, gain_value, gain_receptor)   (``brainmac.compile.codes``; the
             row tables flat, in either row order: ``brainmac.compile.rows``)
"""

import os

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from brainmac.backends.numba_cpu.neuron_kernels import (
    BLOCK,
    DITHER_BITS,
    poisson_thresholds,
    poisson_windows,
    step_words,
    update_partition,
)
from brainmac.backends.numba_cpu.synapse_kernels import (
    PACKED_VALUE_BITS,
    PAGE,
    deliver_partition,
    drain_slot,
    drain_slot_sub,
    flush_partition,
)
from brainmac.compile import substep
from brainmac.compile.rows import kernel_tables
from brainmac.rng import hash3

#: Every chunk is a fork (the other threads wake) and a join (they wait for the slowest).
#: libgomp (numba's "omp" layer) lets a waiting thread spin GOMP_SPINCOUNT times before it
#: sleeps. A sleeping thread costs a wake-up per chunk; a spinning one takes the core from a
#: thread it shares it with. Full-scale PD14 at dt 0.1 ms (10,000 chunks per biological
#: second), 2 threads on the 2-core VM, RTF idle / beside one busy process: sleeping at once
#: (OMP_WAIT_POLICY=PASSIVE) 3.26-3.53 / 5.38-5.56; 1,000 spins 2.91-2.95 / 5.50-5.60;
#: 3,000 spins 2.44-2.60 / 5.93-6.13; 10,000 spins 2.43-2.61 / 7.14-7.88; unbounded spinning
#: (OMP_WAIT_POLICY=ACTIVE) 2.34-2.49 / 6.88-8.20. 3,000 spins keep most of the gain on free
#: cores and lose ~10 % on shared ones. Set before the OpenMP runtime starts (numba loads it
#: at the first parallel region); a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
JOIN_SPIN_COUNT = 3000
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", str(JOIN_SPIN_COUNT))

#: Relative cost of one synaptic event against one neuron-step, for the schedule.
EVENT_COST = 1.0
#: Rate (Hz) of every neuron that the event queues are first sized for. A pool that runs
#: dry flushes its partition's queues into the dense ring (exact, but each slot is then
#: drained densely once) and doubles after the block. Full-scale PD14, 2 threads: at dt
#: 0.1 ms 6 of 10 partitions needed twice the pools of 5 Hz and ran dry 100-700 ms into
#: the run (100 ms warm-up + 600 ms measured, alternating: RTF 2.42 2.27 2.39 at 5 Hz,
#: 2.23 2.22 2.20 at 10 Hz); at dt 1 ms (its synchronous state) up to 64x, where quadrupling
#: instead of doubling did not help (RTF 7.91 8.20 against 8.16 8.04). At 10 Hz PD14's
#: first pools hold 33 MB (0.11 bytes per synapse; a page is resident once written).
QUEUE_RATE_HZ = 10.0
#: Assumed rate (Hz x dt) of every neuron before any spike was counted, for the schedule.
PRIOR_EVENTS_PER_SYNAPSE_STEP = 2e-4


@njit(cache=True, nogil=True, _nrt=False)
def step_partition(p, t, d, t0, cap, state, acc, scratch, queues, neurons, buf, sample_gid,
                   sample_part, samples, sat):
    """Drain, update and note the spikes of partition p for steps [t, t+d). ``acc`` is the
    calling worker's accumulator (:func:`empty_accumulator`), zero on entry and on return;
    ``scratch`` its rows of the neuron update (:func:`worker_scratch`)."""
    v, i_ex, i_in, refr, ring = state
    (part_start, coef, const, levels, ref_steps, model_code, count_thr, count_win,
     count_bounds, drive_weight, drive_receptor, drive_window, key, frac_bits, smax,
     sub_bits, shift, table, drive_sub, random_sub) = neurons
    sub = (sub_bits, shift, table, drive_sub, random_sub)
    part_spikes, part_counts, part_subs = buf[0], buf[1], buf[9]
    channels = 2 if sub_bits == 0 else 3
    n_total = v.size
    n_slots = ring.size // (channels * n_total)
    n0, n1 = part_start[p], part_start[p + 1]
    acc_p = acc[:channels * (n1 - n0)]
    offset = n0 * cap
    for s in range(d):
        if sub_bits == 0:
            drain_slot(p, (t + s) % n_slots, queues, ring, n_total, n0, n1 - n0, acc_p)
        else:
            drain_slot_sub(p, (t + s) % n_slots, queues, ring, n_total, n0, n1 - n0, acc_p,
                           table)
        c = update_partition(p, t + s, n0, n1, acc_p, v, i_ex, i_in, refr, coef, const,
                             levels, ref_steps, model_code, count_thr, count_win,
                             count_bounds, drive_weight, drive_receptor, drive_window, key,
                             frac_bits, smax, sub, sat, part_spikes, part_subs, offset,
                             scratch)
        part_counts[p, s] = c
        offset += c
        for q in range(sample_part[p], sample_part[p + 1]):
            g = sample_gid[q]
            samples[0, t + s - t0, q] = v[g]
            samples[1, t + s - t0, q] = i_ex[g]
            samples[2, t + s - t0, q] = i_in[g]


@intrinsic
def claim(typingctx, flags, index):
    """Atomically set ``flags[index]`` to 1; True if it was 0, i.e. the caller is the one
    thread that claimed the item since the flag was cleared."""
    sig = types.boolean(flags, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        zero, one = ptr.type.pointee(0), ptr.type.pointee(1)
        old = builder.atomic_rmw("xchg", ptr, one, "monotonic")
        return builder.icmp_unsigned("==", old, zero)

    return sig, codegen


@njit(inline="always", cache=True)
def visit(ptr, w, i):
    """The schedule position worker w visits i-th (0 <= i < ptr[-1]): its own partitions in
    order (the costliest first), then each other worker's from its cheapest up."""
    own = ptr[w + 1] - ptr[w]
    if i < own:
        return ptr[w] + i
    i -= own
    n_workers = ptr.size - 1
    for k in range(1, n_workers):
        v = (w + k) % n_workers
        size = ptr[v + 1] - ptr[v]
        if i < size:
            return ptr[v + 1] - 1 - i
        i -= size
    return ptr[w]  # not reached: every position is some worker's


@njit(parallel=True, cache=True, nogil=True)
def chunk_region(t, d, t0, cap, m, spike_gid, spike_step, schedule, state, acc, queues, net,
                 buf, sample_gid, sample_part, samples, counters):
    """The parallel region of one chunk: each partition of the schedule queues the ``m``
    spikes given (the previous chunk's, every rank's), then steps [t, t+d) (d may be 0).
    A worker does its own partitions, then takes those another worker has not started
    (:func:`visit`, :func:`claim`): a chunk's events vary by partition around the
    schedule's means.
    ``counters`` are (saturations, events) with a cache line per partition (:func:`
    empty_counters`)."""
    ring = state[4]
    neurons, synapses = net
    (syn_base, grp_base, row_syn, row_grp, row_stride, g_code, s_index, s_value,
     gain_value, gain_receptor) = synapses
    part_start = neurons[0]
    sat, events = counters
    ptr, parts, claimed = schedule
    sub_bits, table = neurons[15], neurons[17]
    n_total = state[0].size
    n_slots = ring.size // ((2 if sub_bits == 0 else 3) * n_total)
    spike_slot, spike_sub = buf[8], buf[12]
    for s in range(m):
        spike_slot[s] = (spike_step[s] >> sub_bits) % n_slots
        spike_sub[s] = spike_step[s] & ((1 << sub_bits) - 1)
    for r in range(ptr[-1]):
        claimed[parts[r]] = 0
    for w in prange(ptr.size - 1):
        acc_w = acc[0][acc[1][w]: acc[1][w + 1]]
        scratch = worker_scratch(buf, w)
        for i in range(ptr[-1]):
            p = parts[visit(ptr, w, i)]
            if not claim(claimed, p):
                continue
            if m > 0:
                events[p, 0] += deliver_partition(
                    p, spike_gid, spike_slot, spike_sub, m, queues, ring, n_total, n_slots,
                    part_start, syn_base, grp_base, row_syn, row_grp, row_stride, g_code,
                    s_index, s_value, gain_value, gain_receptor, sub_bits, table)
            if d > 0:
                step_partition(p, t, d, t0, cap, state, acc_w, scratch, queues, neurons, buf,
                               sample_gid, sample_part, samples, sat)


@njit(inline="always", cache=True)
def worker_scratch(buf, w):
    """Worker w's scratch rows of the neuron update (:func:`update_partition`): random
    words, draws, counts, spike flags, V at the step's start and end. One set per worker,
    reused by every partition it steps, so that they stay in its L1 cache."""
    return buf[4][w], buf[5][w], buf[6][w], buf[7][w], buf[10][w], buf[11][w]


@njit(cache=True, nogil=True)
def gather_chunk(t, d, cap, owned, part_start, buf, sub_bits):
    """Gather the owned partitions' spikes of steps [t, t+d) into ``buf``'s chunk arrays in
    (step, neuron id) order, or (step, sub, id) order as ticks with sub-steps; returns how
    many."""
    if sub_bits > 0:
        return gather_chunk_sub(t, d, cap, owned, part_start, buf, sub_bits)
    part_spikes, part_counts, chunk_gid, chunk_step = buf[0], buf[1], buf[2], buf[3]
    m = 0
    for s in range(d):
        for p in range(owned[0], owned[1]):
            start = part_start[p] * cap
            for r in range(s):
                start += part_counts[p, r]
            for q in range(start, start + part_counts[p, s]):
                chunk_gid[m] = part_spikes[q]
                chunk_step[m] = t + s
                m += 1
    return m


@njit(cache=True, nogil=True)
def gather_chunk_sub(t, d, cap, owned, part_start, buf, sub_bits):
    """:func:`gather_chunk` with sub-steps: per step, a stable counting sort by offset of
    the spikes taken in (partition, id) order, written as ticks ``step * 2**k + sub``."""
    part_spikes, part_counts, chunk_gid, chunk_step = buf[0], buf[1], buf[2], buf[3]
    part_subs, first = buf[9], buf[13]
    n_sub = 1 << sub_bits
    m = 0
    for s in range(d):
        first[:] = 0
        for p in range(owned[0], owned[1]):
            start = part_start[p] * cap + _before(part_counts, p, s)
            for q in range(start, start + part_counts[p, s]):
                first[part_subs[q] + 1] += 1
        first[0] = m
        for b in range(n_sub):
            first[b + 1] += first[b]
        for p in range(owned[0], owned[1]):
            start = part_start[p] * cap + _before(part_counts, p, s)
            for q in range(start, start + part_counts[p, s]):
                b = part_subs[q]
                chunk_gid[first[b]] = part_spikes[q]
                chunk_step[first[b]] = ((t + s) << sub_bits) + b
                first[b] += 1
        m = first[n_sub - 1]
    return m


@njit(inline="always", cache=True)
def _before(part_counts, p, s):
    """Spikes of partition p in the chunk's steps before step s."""
    n = 0
    for r in range(s):
        n += part_counts[p, r]
    return n


@njit(cache=True, nogil=True)
def record_chunk(m, spike_gid, spike_step, rec_mask, rec_gid, rec_step, n_rec):
    """Append the recorded ones of ``m`` spikes to the output; returns the new count."""
    for q in range(m):
        if rec_mask[spike_gid[q]]:
            rec_gid[n_rec] = spike_gid[q]
            rec_step[n_rec] = spike_step[q]
            n_rec += 1
    return n_rec


def balance(owned, cost, n_workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A schedule of the owned partitions over ``n_workers``: longest first, each to the
    least loaded worker; returns (ptr (W+1,), parts, claimed), each worker's partitions
    costliest first, and a flag per partition of the network for :func:`claim`."""
    first, stop = int(owned[0]), int(owned[1])
    load = np.zeros(n_workers)
    owner = np.empty(stop - first, np.int64)
    for p in first + np.argsort(-cost[first:stop], kind="stable"):
        w = int(np.argmin(load))
        owner[p - first] = w
        load[w] += cost[p]
    ptr = np.zeros(n_workers + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(owner, minlength=n_workers))
    parts = first + np.lexsort((-cost[first:stop], owner))
    return ptr, parts.astype(np.int64), np.zeros(cost.size, np.int64)


def schedule(owned, part_start, synapses, events, steps_done, threads):
    """The balanced schedule of the owned partitions for ``threads`` workers; the cost of a
    partition is its neurons plus its events per step (counted so far, else a prior from
    its ``synapses`` (P,))."""
    sizes = np.diff(part_start).astype(np.float64)
    if steps_done > 0:
        per_step = events / steps_done
    else:
        per_step = np.asarray(synapses, np.float64) * PRIOR_EVENTS_PER_SYNAPSE_STEP
    cost = sizes + EVENT_COST * per_step
    return balance(owned, cost, int(threads))


@njit(cache=True, nogil=True)
def run_steps(t0, n_steps, chunk, cap, schedule, state, acc, queues, net, buf, rec_mask,
              rec_gid, rec_step, sample_gid, sample_part, samples, counters):
    """Advance every partition ``n_steps`` from step ``t0`` in one process; returns the
    number of spikes recorded. ``counters`` = (sat (P, 3), events (P,)) are added to."""
    part_start = net[0][0]
    sub_bits = net[0][15]
    chunk_gid, chunk_step = buf[2], buf[3]
    owned = (0, part_start.size - 1)
    padded = empty_counters(part_start.size - 1)
    n_rec = 0
    # np.int64(0), not 0: a literal argument makes numba compile chunk_region (and all it
    # calls) once more for that constant, which tripled the cold compile
    zero = np.int64(0)
    m = zero
    t = t0
    while t < t0 + n_steps:
        d = min(chunk, t0 + n_steps - t)
        chunk_region(t, d, t0, cap, m, chunk_gid, chunk_step, schedule, state, acc, queues,
                     net, buf, sample_gid, sample_part, samples, padded)
        m = gather_chunk(t, d, cap, owned, part_start, buf, sub_bits)
        n_rec = record_chunk(m, chunk_gid, chunk_step, rec_mask, rec_gid, rec_step, n_rec)
        t += d
    if m > 0:
        chunk_region(t, zero, t0, cap, m, chunk_gid, chunk_step, schedule, state, acc, queues,
                     net, buf, sample_gid, sample_part, samples, padded)
    add_counters(padded, counters)
    return n_rec


@njit(cache=True, nogil=True)
def empty_counters(n_parts):
    """Saturation (first 3) and event (first) counters, one cache line per partition."""
    return np.zeros((n_parts, 8), np.int64), np.zeros((n_parts, 8), np.int64)


@njit(cache=True, nogil=True)
def add_counters(padded, counters):
    """Add padded counters (:func:`empty_counters`) to (sat (P, 3), events (P,))."""
    sat, events = counters
    for p in range(sat.shape[0]):
        for k in range(3):
            sat[p, k] += padded[0][p, k]
        events[p] += padded[1][p, 0]


@njit(cache=True, nogil=True)
def flush_all(queues, ring, part_start, sub_bits, table):
    """Move every queued event into the dense ring (checkpoints, resizing the pools)."""
    n_total = part_start[-1]
    for p in range(part_start.size - 1):
        flush_partition(p, queues, ring, n_total, part_start[p],
                        part_start[p + 1] - part_start[p], sub_bits, table)


def spike_capacity_per_neuron(chunk: int, min_ref_steps: int) -> int:
    """Most spikes one neuron can emit in a chunk: one per (refractory steps + 1)."""
    return -(-chunk // (min_ref_steps + 1))


def empty_buffers(n_neurons: int, n_parts: int, n_workers: int, chunk: int, cap: int,
                  sub_bits: int = 0):
    """Scratch buffers of one chunk: per-partition spikes and counts, gathered spikes, each
    worker's scratch rows of the neuron update (:func:`worker_scratch`), the ring slots of
    delivered spikes; then for sub-steps the spikes' offsets, V at each step's start and
    end (per worker), the delivered spikes' offsets and the counting sort's bins."""
    per_worker = (n_workers, BLOCK)
    return (np.empty(n_neurons * cap, np.int64), np.zeros((n_parts, _lines(chunk, 8)), np.int64),
            np.empty(n_neurons * cap, np.int64), np.empty(n_neurons * cap, np.int64),
            np.empty(per_worker, np.uint64), np.empty(per_worker, np.uint32),
            np.empty(per_worker, np.int32), np.empty(per_worker, np.bool_),
            np.empty(n_neurons * cap, np.int64), np.zeros(n_neurons * cap if sub_bits else 1,
                                                          np.int64),
            np.empty(per_worker), np.empty(per_worker),
            np.zeros(n_neurons * cap, np.int64), np.zeros((1 << sub_bits) + 1, np.int64))


def _lines(n: int, per_line: int) -> int:
    """``n`` rounded up to whole 64-byte lines of ``per_line`` items."""
    return -(-n // per_line) * per_line


def empty_queues(pages_per_partition: np.ndarray, n_slots: int, ring_dtype,
                 packed: bool) -> tuple:
    """Empty event queues (synapse_kernels) with the given pool size per partition; with
    ``packed`` (:func:`packed_events`) an event is one word and ``ev_val`` is not used."""
    n_parts = pages_per_partition.size
    pages = np.maximum(np.asarray(pages_per_partition, np.int64), 2)
    first = np.concatenate([[0], np.cumsum(pages)])
    nxt = np.arange(1, first[-1] + 1, dtype=np.int64)
    nxt[first[1:] - 1] = -1  # each pool is its own free list
    free = np.full((n_parts, 8), -1, np.int64)
    free[:, 0] = first[:-1]
    rows = (n_parts, _lines(n_slots, 64))
    values = np.zeros(1 if packed else first[-1] * PAGE, ring_dtype)
    return (np.zeros(first[-1] * PAGE, np.uint32), values, nxt,
            np.full(rows, -1, np.int64), np.full(rows, -1, np.int64),
            np.full(rows, PAGE, np.int64), free, np.zeros(rows, np.bool_),
            np.zeros((n_parts, 8), np.int64), np.bool_(packed))


def packed_events(s_value: np.ndarray, gain_value: np.ndarray, ring_dtype,
                  sub_bits: int) -> bool:
    """Whether every queued event's input, weight x gain, fits a packed event
    (synapse_kernels.PACKED_VALUE_BITS signed bits): integer inputs on the plain grid (the
    sub-step events carry their offset in the index word). The weights are bounded by
    their type (a store's weights are not read)."""
    if sub_bits or np.dtype(ring_dtype).kind != "i" or s_value.dtype.kind != "i":
        return False
    largest = (-int(np.iinfo(s_value.dtype).min)
               * int(np.abs(np.asarray(gain_value, np.int64)).max(initial=0)))
    return largest < 1 << (PACKED_VALUE_BITS - 1)


def empty_accumulator(part_start: np.ndarray, ring_dtype, n_workers: int,
                      channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Each worker's input of one step of the partition it is stepping (excitatory then
    inhibitory, then V with sub-steps; zero between partitions, as the update clears what
    the drain added), each part starting on its own cache line and large enough for the
    largest partition: (accumulator, first element of each part (n_workers + 1,)). One part
    per worker, not per partition: the caches then hold one accumulator per core (128 KB
    for a 16,384-neuron partition) instead of one per partition it steps."""
    per_line = 64 // np.dtype(ring_dtype).itemsize
    part = _lines(channels * int(np.diff(part_start).max(initial=0)), per_line)
    first = np.arange(n_workers + 1, dtype=np.int64) * part
    return np.zeros(int(first[-1]) + per_line, ring_dtype), first


#: Default bound on all event pools together, as a fraction of the machine's memory.
EVENT_POOL_MEMORY_FRACTION = 1 / 8


def pool_page_cap(budget_bytes: int | None, n_partitions: int, ring_dtype,
                  packed: bool) -> int:
    """Most pages one partition's event pool may hold so that all pools together stay
    within ``budget_bytes`` (default: EVENT_POOL_MEMORY_FRACTION of physical memory). A
    pool at its cap flushes into the ring when it runs dry: exact, only slower."""
    if budget_bytes is None:
        budget_bytes = int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                           * EVENT_POOL_MEMORY_FRACTION)
    page_bytes = PAGE * (4 if packed else 4 + np.dtype(ring_dtype).itemsize)
    return max(int(budget_bytes) // (max(n_partitions, 1) * page_bytes), 4)


def queue_pages(synapses, delay_steps: float, dt_ms: float) -> np.ndarray:
    """Pages per partition for the events in flight (its ``synapses`` (P,) x QUEUE_RATE_HZ x
    mean delay), with 2x headroom. A guess: a dry pool costs speed, never correctness."""
    syn = np.asarray(synapses, np.float64)
    in_flight = syn * QUEUE_RATE_HZ * dt_ms * 1e-3 * max(delay_steps, 1.0)
    return (2.0 * in_flight / PAGE).astype(np.int64) + 4


def drive_weights(table: np.ndarray) -> np.ndarray:
    """The weight of one Poisson event per partition, checking that ``table[p, k]`` is k of
    them (the kernels multiply instead of looking the table up)."""
    weight = table[:, 1] if table.shape[1] > 1 else np.zeros(table.shape[0], table.dtype)
    counts = np.arange(table.shape[1])
    if table.dtype.kind in "iu":
        linear = weight[:, None].astype(np.int64) * counts[None, :]
    else:
        linear = weight[:, None] * counts[None, :].astype(table.dtype)
    if not np.array_equal(linear, table):
        raise ValueError("drive_table is not k times the weight of one event")
    return np.ascontiguousarray(weight)


def split_coefficients(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p22, p21e, p21i, p11e, p11i) and the constant input. Integer multipliers that fit
    32 bits are stored as int32, so that the products compile to 32x32->64-bit multiplies."""
    mult, const = coef[:, :5], np.ascontiguousarray(coef[:, 5])
    if coef.dtype.kind == "i" and np.abs(mult).max(initial=0) < 2**31:
        mult = mult.astype(np.int32)
    return np.ascontiguousarray(mult), const


def check_step_words(key) -> None:
    """The update's strength-reduced hash must equal :func:`brainmac.rng.hash3` (the random
    streams are part of the results)."""
    for t, b0 in ((0, 0), (7, 4093), (2**32 - 1, 2**31 + 5)):
        hs, xs = np.empty(3, np.uint64), np.empty(3, np.uint32)
        step_words(np.uint64(key), np.int64(t), np.int64(b0), 3, hs, xs)
        expected = [hash3(np.uint64(key), b0 + j, t) for j in range(3)]
        if list(hs) != expected or list(xs) != [int(h) >> 32 for h in expected]:
            raise RuntimeError("step_words disagrees with rng.hash3")


def check_dither_bits(frac_bits: int) -> None:
    """A fixed-point profile's three dithers (``neuron_kernels.dither``) are fields of the
    low 32 bits of a word: it needs 3 x DITHER_BITS to 32 fractional bits (float: 0)."""
    if frac_bits != 0 and not 3 * DITHER_BITS <= frac_bits <= 32:
        raise ValueError(f"a fixed-point profile needs {3 * DITHER_BITS} to 32 fractional "
                         f"bits for its stochastic rounding, got {frac_bits}")


def sub_arrays(net, drive_weight: np.ndarray) -> tuple:
    """(sub_bits, shift, table, drive_sub, random_sub) of a compiled network (module doc)."""
    a, profile, bits = net.arrays, net.profile, net.substep_bits
    table, drive, source = substep.partition_tables(
        net.populations, np.asarray(a["part_pop"]), drive_weight,
        np.asarray(a["drive_receptor"]), profile, net.dt_ms, bits)
    shift = substep.TABLE_SHIFT if profile.fixed_point else 0
    return np.int64(bits), np.int64(shift), table, drive, source


def kernel_arrays(arrays: dict, key, frac_bits: int, state_max: int, net=None,
                  layout: str = "partition") -> tuple:
    """The network tuple the kernels take (module doc), from a compiled network's arrays
    (``net``, the CompiledNetwork, gives the sub-step tables; None: the plain grid) in the
    row ``layout`` (``brainmac.compile.rows``)."""
    check_step_words(key)
    check_dither_bits(int(frac_bits))
    a = arrays
    thr = poisson_thresholds(a["drive_cdf"])
    count_win, bounds = poisson_windows(thr, a["drive_cdf"])
    mult, const = split_coefficients(np.asarray(a["coef"]))
    n_parts = a["part_start"].size - 1
    window = (np.ascontiguousarray(a["drive_window"], np.int64) if "drive_window" in a
              else np.tile(np.array([0, np.iinfo(np.int64).max], np.int64), (n_parts, 1)))
    weight = drive_weights(np.asarray(a["drive_table"]))
    sub = (sub_arrays(net, weight) if net is not None else
           (np.int64(0), np.int64(0), np.zeros((n_parts, 4, 1), np.asarray(weight).dtype),
            np.zeros((n_parts, 2), np.asarray(weight).dtype), np.zeros(n_parts, np.bool_)))
    neurons = (a["part_start"], mult, const, a["levels"], a["ref_steps"], a["model_code"], thr,
               count_win, bounds, weight, a["drive_receptor"], window, np.uint64(key),
               np.int64(frac_bits), np.int64(state_max), *sub)
    synapses = (a["syn_base"], a["grp_base"], *kernel_tables(a, layout), a["g_code"],
                a["s_index"], a["s_value"], a["gain_value"], a["gain_receptor"])
    return read_only(neurons), read_only(synapses)


def read_only(arrays: tuple) -> tuple:
    """The tuple with every array replaced by a read-only view. The kernels never write
    the network's arrays; a store maps them read-only, and numba compiles the whole step
    loop once more (~30 s) for every array type that differs only in that flag, so every
    network is passed read-only."""
    out = []
    for x in arrays:
        if isinstance(x, np.ndarray):
            x = x.view()
            x.flags.writeable = False
        out.append(x)
    return tuple(out)


