"""The step loop of the numba CPU backend: chunks of the minimum delay, parallel partitions.

Per chunk of ``d`` steps (d <= minimum delay, so no spike of the chunk can arrive inside it):
1. every partition steps its neurons d times (parallel), noting its spikes per step;
2. the spikes are gathered in (step, neuron id) order;
3. every partition scatters the synapses of the spiking rows into its ring (parallel);
4. recorded spikes are appended to the output buffer.
"""

import numpy as np
from numba import njit, prange

from brainmac.backends.numba_cpu.neuron_kernels import update_partition
from brainmac.backends.numba_cpu.synapse_kernels import deliver_partition


@njit(parallel=True, cache=True, nogil=True)
def update_chunk(t, d, t0, cap, owned, state, net, buf, sample_gid, sample_part,
                 samples, sat):
    """Step the owned partitions ``owned[0] <= p < owned[1]`` through steps [t, t+d).

    Their spikes are gathered into ``buf``'s chunk arrays in (step, neuron id) order;
    returns how many. Sampled state goes to row ``step - t0`` of ``samples``.
    """
    v, i_ex, i_in, refr, ring = state
    (part_start, coef, levels, ref_steps, model_code, drive_cdf, drive_guide, drive_table,
     drive_receptor, syn_base, grp_base, row_syn, row_grp, g_delay, g_gain, g_count,
     s_index, s_value, gain_value, gain_receptor, key, frac_bits, smax) = net
    part_spikes, part_counts, chunk_gid, chunk_step = buf
    n_total = v.size
    n_slots = ring.size // (2 * n_total)
    for p in prange(owned[0], owned[1]):
        n0, n1 = part_start[p], part_start[p + 1]
        offset = n0 * cap
        for s in range(d):
            c = update_partition(p, t + s, n0, n1, ring, n_total, n_slots, v, i_ex, i_in, refr,
                       coef, levels, ref_steps, model_code, drive_cdf, drive_guide,
                       drive_table, drive_receptor, key, frac_bits, smax, sat,
                       part_spikes, offset)
            part_counts[p, s] = c
            offset += c
            for q in range(sample_part[p], sample_part[p + 1]):
                g = sample_gid[q]
                samples[0, t + s - t0, q] = v[g]
                samples[1, t + s - t0, q] = i_ex[g]
                samples[2, t + s - t0, q] = i_in[g]
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


@njit(parallel=True, cache=True, nogil=True)
def deliver_chunk(m, spike_gid, spike_step, owned, state, net, events):
    """Scatter the synapses of ``m`` spikes (every rank's) into the owned partitions."""
    v, i_ex, i_in, refr, ring = state
    (part_start, coef, levels, ref_steps, model_code, drive_cdf, drive_guide, drive_table,
     drive_receptor, syn_base, grp_base, row_syn, row_grp, g_delay, g_gain, g_count,
     s_index, s_value, gain_value, gain_receptor, key, frac_bits, smax) = net
    n_total = v.size
    n_slots = ring.size // (2 * n_total)
    for p in prange(owned[0], owned[1]):
        events[p] += deliver_partition(p, spike_gid, spike_step, m, ring, n_total, n_slots,
                                       part_start, syn_base, grp_base, row_syn, row_grp,
                                       g_delay, g_gain, g_count, s_index, s_value,
                                       gain_value, gain_receptor)


@njit(cache=True, nogil=True)
def record_chunk(m, spike_gid, spike_step, rec_mask, rec_gid, rec_step, n_rec):
    """Append the recorded ones of ``m`` spikes to the output; returns the new count."""
    for q in range(m):
        if rec_mask[spike_gid[q]]:
            rec_gid[n_rec] = spike_gid[q]
            rec_step[n_rec] = spike_step[q]
            n_rec += 1
    return n_rec


@njit(cache=True, nogil=True)
def run_steps(t0, n_steps, chunk, cap, state, net, buf, rec_mask, rec_gid, rec_step,
              sample_gid, sample_part, samples, counters):
    """Advance every partition ``n_steps`` from step ``t0`` in one process; returns the
    number of spikes recorded."""
    sat, events = counters
    chunk_gid, chunk_step = buf[2], buf[3]
    owned = (0, net[0].size - 1)
    n_rec = 0
    t = t0
    while t < t0 + n_steps:
        d = min(chunk, t0 + n_steps - t)
        m = update_chunk(t, d, t0, cap, owned, state, net, buf, sample_gid,
                         sample_part, samples, sat)
        deliver_chunk(m, chunk_gid, chunk_step, owned, state, net, events)
        n_rec = record_chunk(m, chunk_gid, chunk_step, rec_mask, rec_gid, rec_step, n_rec)
        t += d
    return n_rec


def spike_capacity_per_neuron(chunk: int, min_ref_steps: int) -> int:
    """Most spikes one neuron can emit in a chunk: one per (refractory steps + 1)."""
    return -(-chunk // (min_ref_steps + 1))


def empty_buffers(n_neurons: int, n_parts: int, chunk: int, cap: int):
    """Scratch buffers of one chunk: per-partition spikes and counts, gathered spikes."""
    return (np.empty(n_neurons * cap, np.int64), np.zeros((n_parts, chunk), np.int64),
            np.empty(n_neurons * cap, np.int64), np.empty(n_neurons * cap, np.int64))
