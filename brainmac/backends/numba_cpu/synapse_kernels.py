"""Spike delivery: scatter one partition's synapses of the spiking rows into its ring.

The ring is flat, ``(n_slots, 2 receptors, n_total neurons)``; partition p writes only the
columns of its own neurons, so partitions run in parallel without locks or atomics.
"""

from numba import njit


@njit(cache=True, nogil=True)
def deliver_partition(p, spike_gid, spike_step, n_spikes, ring, n_total, n_slots, part_start,
                      syn_base, grp_base, row_syn, row_grp, g_delay, g_gain, g_count, s_index,
                      s_value, gain_value, gain_receptor):
    """Add every synapse of partition p whose row spiked; returns the events delivered."""
    n0 = part_start[p]
    sb = syn_base[p]
    gb = grp_base[p]
    events = 0
    for s in range(n_spikes):
        j = spike_gid[s]
        g0 = row_grp[p, j]
        g1 = row_grp[p, j + 1]
        if g0 == g1:
            continue
        t_slot = spike_step[s] % n_slots
        k = sb + row_syn[p, j]
        for g in range(gb + g0, gb + g1):
            gi = g_gain[g]
            gv = gain_value[gi]
            slot = t_slot + g_delay[g]
            if slot >= n_slots:
                slot -= n_slots
            base = (slot * 2 + gain_receptor[gi]) * n_total + n0
            c = g_count[g]
            for q in range(k, k + c):
                ring[base + s_index[q]] += s_value[q] * gv
            k += c
            events += c
    return events
