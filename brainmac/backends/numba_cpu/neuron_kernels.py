"""Neuron update kernels: one partition, one step. Symbols as in brainmac.compile.neurons.

Order within a step, as NEST's iaf_psc_exp / iaf_psc_delta:
1. read and clear this step's ring slot (plus the Poisson drive's events);
2. lif_exp: V <- P22 V + P21 I + const unless refractory; I <- P11 I + input.
   lif_delta: V <- P22 V + const + input unless refractory (input then dropped); V >= v_min;
3. V >= threshold: spike, V <- reset, clamp for ref_steps steps.

Fixed point: products are summed in int64 and rounded back with a counter-based dither
(stochastic rounding, unbiased: plain truncation would make small values stall), then
saturated to +-smax with every saturation counted in ``sat[p] = (V, I_ex, I_in)``.
"""

import numpy as np
from numba import njit

from brainmac.rng import GOLDEN, hash3, mix64, uniform_hi

GUIDE_SIZE = 64
_S32 = np.uint64(32)


@njit(inline="always", cache=True)
def poisson_events(h, p, cdf, guide):
    """Events of partition p's Poisson drive for hash word h (inversion with a guide)."""
    u = uniform_hi(h)
    k = guide[p, int(u * GUIDE_SIZE)]
    while u >= cdf[p, k]:
        k += 1
    return k


@njit(inline="always", cache=True)
def _saturate(x, smax, sat, p, which):
    if x > smax:
        sat[p, which] += 1
        return smax
    if x < -smax:
        sat[p, which] += 1
        return -smax
    return x


@njit(cache=True, nogil=True)
def update_fixed(p, t, n0, n1, ring, n_total, n_slots, v, i_ex, i_in, refr, coef, levels,
                 ref_steps, model_code, drive_cdf, drive_guide, drive_table, drive_receptor,
                 key, frac_bits, smax, sat, spikes, offset):
    """Step neurons [n0, n1) of partition p at step t (fixed point); returns the spike count."""
    base_ex = (t % n_slots) * 2 * n_total
    base_in = base_ex + n_total
    p22, p21e, p21i, p11e, p11i, const = (coef[p, 0], coef[p, 1], coef[p, 2], coef[p, 3],
                                          coef[p, 4], coef[p, 5])
    theta, reset, v_min = levels[p, 0], levels[p, 1], levels[p, 2]
    mask = np.uint64((1 << frac_bits) - 1)
    has_drive = drive_cdf[p, 0] < 1.0
    rec_drive = drive_receptor[p]
    is_exp = model_code[p] == 1
    n_spikes = 0
    for i in range(n0, n1):
        in_ex = np.int64(ring[base_ex + i])
        in_in = np.int64(ring[base_in + i])
        ring[base_ex + i] = 0
        ring[base_in + i] = 0
        h = hash3(key, i, t)
        if has_drive:
            drive = np.int64(drive_table[p, poisson_events(h, p, drive_cdf, drive_guide)])
            if rec_drive == 0:
                in_ex += drive
            else:
                in_in += drive
        x = np.int64(v[i])
        if is_exp:
            h2 = mix64(h + GOLDEN)
            if refr[i] == 0:
                acc = p22 * x + p21e * np.int64(i_ex[i]) + p21i * np.int64(i_in[i]) + const
                x = (acc + np.int64(h & mask)) >> frac_bits
            else:
                refr[i] -= 1
            ie = ((p11e * np.int64(i_ex[i]) + np.int64(h2 & mask)) >> frac_bits) + in_ex
            ii = ((p11i * np.int64(i_in[i]) + np.int64((h2 >> _S32) & mask)) >> frac_bits) + in_in
            i_ex[i] = _saturate(ie, smax, sat, p, 1)
            i_in[i] = _saturate(ii, smax, sat, p, 2)
        elif refr[i] == 0:
            x = ((p22 * x + const + np.int64(h & mask)) >> frac_bits) + in_ex + in_in
            x = max(x, v_min)
        else:
            refr[i] -= 1
        x = _saturate(x, smax, sat, p, 0)
        if x >= theta:
            x = reset
            refr[i] = ref_steps[p]
            spikes[offset + n_spikes] = i
            n_spikes += 1
        v[i] = x
    return n_spikes


@njit(cache=True, nogil=True)
def update_float(p, t, n0, n1, ring, n_total, n_slots, v, i_ex, i_in, refr, coef, levels,
                 ref_steps, model_code, drive_cdf, drive_guide, drive_table, drive_receptor,
                 key, frac_bits, smax, sat, spikes, offset):
    """Step neurons [n0, n1) of partition p at step t (float32 or float64 state)."""
    base_ex = (t % n_slots) * 2 * n_total
    base_in = base_ex + n_total
    p22, p21e, p21i, p11e, p11i, const = (coef[p, 0], coef[p, 1], coef[p, 2], coef[p, 3],
                                          coef[p, 4], coef[p, 5])
    theta, reset, v_min = levels[p, 0], levels[p, 1], levels[p, 2]
    has_drive = drive_cdf[p, 0] < 1.0
    rec_drive = drive_receptor[p]
    is_exp = model_code[p] == 1
    zero = ring[0] - ring[0]
    n_spikes = 0
    for i in range(n0, n1):
        in_ex = ring[base_ex + i]
        in_in = ring[base_in + i]
        ring[base_ex + i] = zero
        ring[base_in + i] = zero
        if has_drive:
            drive = drive_table[p, poisson_events(hash3(key, i, t), p, drive_cdf, drive_guide)]
            if rec_drive == 0:
                in_ex += drive
            else:
                in_in += drive
        x = v[i]
        if is_exp:
            if refr[i] == 0:
                x = p22 * x + p21e * i_ex[i] + p21i * i_in[i] + const
            else:
                refr[i] -= 1
            i_ex[i] = p11e * i_ex[i] + in_ex
            i_in[i] = p11i * i_in[i] + in_in
        elif refr[i] == 0:
            x = p22 * x + const + in_ex + in_in
            x = max(x, v_min)
        else:
            refr[i] -= 1
        if x >= theta:
            x = reset
            refr[i] = ref_steps[p]
            spikes[offset + n_spikes] = i
            n_spikes += 1
        v[i] = x
    return n_spikes
