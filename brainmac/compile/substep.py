"""Sub-step spike times: the k-bit offset of a spike within its step, and the input tables.

With ``substep_bits = k > 0`` a step of length h is cut into Q = 2**k sub-steps of h/Q.
Step t updates the state from time (t - 1) h to t h (a spike of step t is stamped t h, as
on the plain grid, k = 0).

- **Spike.** The threshold crossing is located by linear interpolation of V between the
  step's start (V0) and end (V1): f = (theta - V0) / (V1 - V0) in (0, 1], rounded *up* to
  whole sub-steps, s = ceil(f Q) in [1, Q]. The spike carries ``sub = s - 1`` (k bits) and
  its time is (t - 1 + s / Q) h: on the grid (k = 0) every spike is at the step's end.
  A ``poisson_source`` spikes at a uniformly random sub-step (bits 24.. of its step's hash).
- **Delay.** Delays are whole sub-steps D >= Q (at least one step), coded in the group
  codes (``brainmac.compile.codes``) like grid delays, so their unit is sub-steps when
  k > 0.
- **Arrival.** A spike of step t with offset ``sub`` reaches its target at the end of step
  t + ((D + sub) >> k) minus q sub-steps, q = (Q - 1) - ((D + sub) & (Q - 1)) in [0, Q):
  q is the part of the arrival step left after the input arrived.
- **Input.** An input of weight w arriving with q sub-steps left contributes, at the end
  of its step, ``w * table[channel, q]``: lif_exp: I_x gains w P11_x(q h/Q) and V gains
  w P21_x(q h/Q) (its charge over the rest of the step: a second accumulator channel);
  lif_delta: V gains w P22(q h/Q). The tables are exact-integration propagators over q
  sub-steps; q = 0 gives (1, 0): the grid's arithmetic.
- **Drive.** The Poisson drive's count of a step is spread evenly over the step: each
  event contributes the mean of the table over the Q offsets.

Rows of a table (shape (4, Q)), per population::

    0: receptor 0 (ex) into channel 0 (lif_exp: I_ex; lif_delta: V)
    1: receptor 1 (in) into channel 1 (lif_exp: I_in; lif_delta: V)
    2: receptor 0 into channel 2 (lif_exp: V; lif_delta: 0)
    3: receptor 1 into channel 2

Fixed point: the tables are Q(frac_bits - TABLE_SHIFT) integers, and the channels are
summed in int64 in that scale; at the update they are shifted up to Q(frac_bits) and join
the propagated state *before* its stochastic rounding (no extra rounding). Float: tables in
the profile's precision.
"""

from __future__ import annotations

import math

import numpy as np

from brainmac.compile.neurons import propagators
from brainmac.compile.profiles import Profile
from brainmac.errors import ConfigError
from brainmac.network.neurons import SOURCE_MODELS, NeuronParams

MAX_SUBSTEP_BITS = 8  # the random offset of a source uses hash bits 24..31
TABLE_SHIFT = 8  # fixed point: tables have frac_bits - TABLE_SHIFT fraction bits
SOURCE_BITS_SHIFT = 24  # a source's offset: (hash >> 24) & (Q - 1)
N_CHANNELS = 3  # accumulator channels with sub-steps: ch0, ch1, V


def check_substep_bits(bits) -> int:
    """``bits`` as an int in [0, MAX_SUBSTEP_BITS], or a one-line ConfigError."""
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not (
            0 <= bits <= MAX_SUBSTEP_BITS):
        raise ConfigError(f"substep_bits must be an integer in [0, {MAX_SUBSTEP_BITS}], "
                          f"got {bits!r}")
    return int(bits)


def table_bits(profile: Profile) -> int:
    """Fraction bits of the fixed-point tables (0 for float profiles)."""
    return profile.frac_bits - TABLE_SHIFT if profile.fixed_point else 0


def accumulator_dtype(profile: Profile, bits: int) -> np.dtype:
    """The type of the per-step input sums: the ring type on the grid; with sub-steps,
    int64 in fixed point (products with the tables), the ring type in float."""
    return np.dtype(np.int64) if bits and profile.fixed_point else profile.ring_dtype


def input_factors(population: dict, dt_ms: float, bits: int) -> np.ndarray:
    """The float64 table (4, Q) of one manifest population (module doc), in state units:
    ``population`` holds "model", "params", "v_lsb_mv" and "i_lsb_pa"."""
    n_sub = 1 << bits
    out = np.zeros((4, n_sub))
    if population["model"] in SOURCE_MODELS:
        out[:2] = 1.0  # a source counts its drive's events whole
        return out
    params = NeuronParams(population["model"], population["params"])
    ratio = population["i_lsb_pa"] / population["v_lsb_mv"]
    for q in range(n_sub):
        prop = propagators(params, q * dt_ms / n_sub)
        if population["model"] == "lif_exp":
            out[:, q] = (prop["p11_ex"], prop["p11_in"], prop["p21_ex"] * ratio,
                         prop["p21_in"] * ratio)
        else:
            out[:2, q] = prop["p22"]
    return out


def quantized_factors(factors: np.ndarray, profile: Profile) -> np.ndarray:
    """The tables in the accumulator type: Q(table_bits) integers, or floats."""
    if profile.fixed_point:
        return np.floor(factors * 2.0 ** table_bits(profile) + 0.5).astype(np.int64)
    return factors.astype(profile.ring_dtype)


def drive_factors(weight, receptor: int, factors: np.ndarray, quantized: np.ndarray,
                  profile: Profile) -> tuple:
    """(channel ``receptor``, channel 2) input of one drive event spread evenly over the
    step: the weight times the mean of the table rows. Fixed point: (w sum_q T[q] + Q/2) >>
    k in Q(table_bits); float: w * mean, in the ring type."""
    n_sub = factors.shape[1]
    bits = n_sub.bit_length() - 1
    rows = (receptor, 2 + receptor)
    if profile.fixed_point:
        w = int(weight)
        return tuple((w * int(quantized[r].sum()) + (n_sub >> 1)) >> bits for r in rows)
    dtype = profile.ring_dtype.type
    return tuple(dtype(weight) * dtype(math.fsum(factors[r]) / n_sub) for r in rows)


def partition_tables(populations: list[dict], part_pop: np.ndarray, drive_weight: np.ndarray,
                     drive_receptor: np.ndarray, profile: Profile, dt_ms: float,
                     bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per partition: the input tables (P, 4, Q), the drive's per-event input (P, 2)
    (its receptor's channel, V channel), both in the accumulator type, and whether the
    partition is a spike source (P,) bool (random offset)."""
    dtype = accumulator_dtype(profile, bits)
    n_parts = part_pop.size
    table = np.zeros((n_parts, 4, 1 << bits), dtype)
    drive = np.zeros((n_parts, 2), dtype)
    source = np.zeros(n_parts, np.bool_)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for p, index in enumerate(part_pop.tolist()):
        if index not in cache:
            factors = input_factors(populations[index], dt_ms, bits)
            cache[index] = factors, quantized_factors(factors, profile)
        factors, quantized = cache[index]
        table[p] = quantized
        drive[p] = drive_factors(drive_weight[p], int(drive_receptor[p]), factors, quantized,
                                 profile)
        source[p] = populations[index]["model"] in SOURCE_MODELS
    return table, drive, source
