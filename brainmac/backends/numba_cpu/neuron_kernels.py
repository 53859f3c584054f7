"""Neuron update kernel: one partition, one step. Symbols as in brainmac.compile.neurons.

Order within a step, as NEST's iaf_psc_exp / iaf_psc_delta:
1. read and clear this step's ring slot (plus the Poisson drive's events);
2. lif_exp: V <- P22 V + P21 I + const unless refractory; I <- P11 I + input.
   lif_delta: V <- P22 V + const + input unless refractory (input then dropped); V >= v_min;
3. V >= threshold: spike, V <- reset, clamp for ref_steps steps.

One kernel serves every profile. The three helpers below are specialized by numba on the
state type at compile time (no branch on the profile in the loop):
- fixed point (integer state): products are summed in int64 and rounded back with a
  counter-based dither (stochastic rounding, unbiased: plain truncation would make small
  values stall), then saturated to +-smax with every saturation counted in
  ``sat[p] = (V, I_ex, I_in)``;
- float state: plain IEEE arithmetic in the state's precision.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from brainmac.rng import GOLDEN, hash3, mix64, uniform_hi

GUIDE_SIZE = 64
_S32 = np.uint64(32)


def widen(x):
    """The compute type of a state value: int64 for integers, itself for floats."""


def round_state(acc, dither, frac_bits):
    """Fixed point: (acc + dither) >> frac_bits. Float: acc."""


def saturate(x, smax, sat, p, which):
    """Fixed point: clip to +-smax and count. Float: x."""


@overload(widen, inline="always")
def _widen(x):
    if isinstance(x, types.Integer):
        return lambda x: np.int64(x)
    return lambda x: x


@overload(round_state, inline="always")
def _round_state(acc, dither, frac_bits):
    if isinstance(acc, types.Integer):
        return lambda acc, dither, frac_bits: (acc + np.int64(dither)) >> frac_bits
    return lambda acc, dither, frac_bits: acc


@overload(saturate, inline="always")
def _saturate(x, smax, sat, p, which):
    if isinstance(x, types.Integer):
        def clip(x, smax, sat, p, which):
            if x > smax:
                sat[p, which] += 1
                return smax
            if x < -smax:
                sat[p, which] += 1
                return -smax
            return x
        return clip
    return lambda x, smax, sat, p, which: x


@njit(inline="always", cache=True)
def poisson_events(h, p, cdf, guide):
    """Events of partition p's Poisson drive for hash word h (inversion with a guide)."""
    u = uniform_hi(h)
    k = guide[p, int(u * GUIDE_SIZE)]
    while u >= cdf[p, k]:
        k += 1
    return k


@njit(cache=True, nogil=True)
def update_partition(p, t, n0, n1, ring, n_total, n_slots, v, i_ex, i_in, refr, coef, levels,
                     ref_steps, model_code, drive_cdf, drive_guide, drive_table,
                     drive_receptor, key, frac_bits, smax, sat, spikes, offset):
    """Step neurons [n0, n1) of partition p at step t; returns the spike count.

    Spikes are written to ``spikes[offset:]`` as global neuron ids, ascending.
    """
    base_ex = (t % n_slots) * 2 * n_total
    base_in = base_ex + n_total
    p22, p21e, p21i, p11e, p11i, const = (coef[p, 0], coef[p, 1], coef[p, 2], coef[p, 3],
                                          coef[p, 4], coef[p, 5])
    theta, reset, v_min = levels[p, 0], levels[p, 1], levels[p, 2]
    mask = np.uint64((1 << frac_bits) - 1)
    has_drive = drive_cdf[p, 0] < 1.0
    rec_drive = drive_receptor[p]
    is_exp = model_code[p] == 1
    zero = ring[0] - ring[0]
    n_spikes = 0
    for i in range(n0, n1):
        in_ex = widen(ring[base_ex + i])
        in_in = widen(ring[base_in + i])
        ring[base_ex + i] = zero
        ring[base_in + i] = zero
        h = hash3(key, i, t)
        if has_drive:
            drive = widen(drive_table[p, poisson_events(h, p, drive_cdf, drive_guide)])
            if rec_drive == 0:
                in_ex += drive
            else:
                in_in += drive
        x = widen(v[i])
        if is_exp:
            h2 = mix64(h + GOLDEN)
            ie, ii = widen(i_ex[i]), widen(i_in[i])
            if refr[i] == 0:
                x = round_state(p22 * x + p21e * ie + p21i * ii + const, h & mask, frac_bits)
            else:
                refr[i] -= 1
            ie = round_state(p11e * ie, h2 & mask, frac_bits) + in_ex
            ii = round_state(p11i * ii, (h2 >> _S32) & mask, frac_bits) + in_in
            i_ex[i] = saturate(ie, smax, sat, p, 1)
            i_in[i] = saturate(ii, smax, sat, p, 2)
        elif refr[i] == 0:
            x = round_state(p22 * x + const, h & mask, frac_bits) + in_ex + in_in
            x = max(x, v_min)
        else:
            refr[i] -= 1
        x = saturate(x, smax, sat, p, 0)
        if x >= theta:
            x = reset
            refr[i] = ref_steps[p]
            spikes[offset + n_spikes] = i
            n_spikes += 1
        v[i] = x
    return n_spikes
