"""Synapse generation: a pure function of (seed, projection, postsynaptic neuron).

For a range of postsynaptic neurons of one projection, :func:`generate` returns the
synapses in *generation order*: by postsynaptic neuron, then by synapse number ``k``. The
k-th synapse of post neuron j draws its presynaptic neuron, weight and delay from
counter-based streams at coordinates (j, k), so any split of the post range gives the same
synapses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from brainmac.compile.plan import ProjectionPlan
from brainmac.compile.profiles import Profile
from brainmac.rng import below, hash3, normal, uniform_hi

MAX_REDRAW = 64  # attempts of a bounded redraw before clipping (counter field of 6 bits)


@njit(cache=True, nogil=True)
def _bernoulli_targets(key, post, n_pre, p, skip, out, start):
    """Geometric skipping over presynaptic indices; returns the count (writes if out given)."""
    n = 0
    if p <= 0.0:
        return 0
    log_q = math.log1p(-p) if p < 1.0 else -math.inf
    pos = -1
    c = 0
    while True:
        if p < 1.0:
            gap = int(math.floor(math.log(uniform_hi(hash3(key, post, c))) / log_q))
        else:
            gap = 0
        c += 1
        pos += gap + 1
        if pos >= n_pre:
            return n
        if pos == skip:
            continue
        if out.size:
            out[start + n] = pos
        n += 1


@njit(cache=True, nogil=True)
def _count(code, key, a, b, n_pre, param, skip_self, out):
    """Synapses per post neuron in [a, b) for connector codes 1..4 (see plan.py)."""
    empty = np.empty(0, np.int32)
    for j in range(a, b):
        skip = j if skip_self else -1
        if code == 1:
            out[j - a] = int(param)
        elif code == 2:
            out[j - a] = _bernoulli_targets(key, j, n_pre, param, skip, empty, 0)
        elif code == 3:
            out[j - a] = 1
        else:
            out[j - a] = n_pre - (1 if skip_self else 0)


@njit(cache=True, nogil=True)
def _fill_pre(code, key, a, b, n_pre, param, skip_self, offsets, pre):
    """Presynaptic (population-local) index of every synapse of posts [a, b)."""
    for j in range(a, b):
        start, stop = offsets[j - a], offsets[j - a + 1]
        skip = j if skip_self else -1
        if code == 0 or code == 1:
            for k in range(stop - start):
                for attempt in range(MAX_REDRAW):
                    i = below(hash3(key, j, (k << 6) | attempt), n_pre)
                    if i != skip:
                        break
                pre[start + k] = i
        elif code == 2:
            _bernoulli_targets(key, j, n_pre, param, skip, pre, start)
        elif code == 3:
            pre[start] = j
        else:
            n = 0
            for i in range(n_pre):
                if i != skip:
                    pre[start + n] = i
                    n += 1


@njit(cache=True, nogil=True)
def _draw(key, a, b, offsets, rule, out):
    """Weight or delay of every synapse of posts [a, b): constant, or bounded-redraw normal."""
    is_normal, mean, std, low, high = rule[0], rule[1], rule[2], rule[3], rule[4]
    for j in range(a, b):
        start = offsets[j - a]
        for k in range(offsets[j - a + 1] - start):
            if is_normal == 0.0:
                out[start + k] = mean
                continue
            x = min(max(mean, low), high)
            for attempt in range(MAX_REDRAW):
                y = mean + std * normal(hash3(key, j, (k << 6) | attempt))
                if low <= y <= high:
                    x = y
                    break
            out[start + k] = x


@dataclass
class SynapseBlock:
    """Synapses of one post range of one projection, in generation order.

    Attributes
    ----------
    pre, post : ndarray, shape (n,), int64
        Global neuron ids.
    value : ndarray, shape (n,)
        Stored weight: the mantissa (profile weight type) or the float weight.
    delay : ndarray, shape (n,), int64
        Delay in steps (in sub-steps with substep_bits > 0), at least one step.
    gain_index : ndarray, shape (n,), int64
        ``2 * projection index + receptor``.
    weight : ndarray, shape (n,), float64
        The unquantized weight (pA or mV), for the quantization report.
    """

    pre: np.ndarray
    post: np.ndarray
    value: np.ndarray
    delay: np.ndarray
    gain_index: np.ndarray
    weight: np.ndarray


def _explicit_range(plan: ProjectionPlan, a: int, b: int):
    conn = plan.explicit
    sorted_post = conn.post[conn.order]
    lo, hi = np.searchsorted(sorted_post, [a, b])
    sel = conn.order[lo:hi]
    counts = np.bincount(conn.post[sel] - a, minlength=b - a)
    return sel, counts


def post_counts(plan: ProjectionPlan, a: int, b: int) -> np.ndarray:
    """Number of synapses of each post neuron in [a, b) (population-local), int64."""
    if plan.code == 0:
        return plan.counts[a:b].copy()
    if plan.code == 5:
        return _explicit_range(plan, a, b)[1].astype(np.int64)
    out = np.empty(b - a, np.int64)
    skip_self = plan.same_population and not plan.autapses
    _count(plan.code, plan.keys[0], a, b, plan.n_pre, plan.param, skip_self, out)
    return out


def generate(plan: ProjectionPlan, a: int, b: int, profile: Profile,
             dt_ms: float) -> SynapseBlock:
    """All synapses onto post neurons [a, b) (population-local) of one projection; delays
    in units of dt / 2**plan.substep_bits, at least one step."""
    counts = post_counts(plan, a, b)
    offsets = np.zeros(b - a + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    post = np.repeat(np.arange(a, b, dtype=np.int64), counts)
    if plan.code == 5:
        sel = _explicit_range(plan, a, b)[0]
        pre = plan.explicit.pre[sel]
        weight = plan.explicit.weight[sel]
        delay_ms = plan.explicit.delay[sel]
    else:
        pre = np.empty(n, np.int64)
        skip_self = plan.same_population and not plan.autapses
        _fill_pre(plan.code, plan.keys[0], a, b, plan.n_pre, plan.param, skip_self, offsets, pre)
        weight = np.empty(n)
        _draw(plan.keys[1], a, b, offsets, plan.weight_rule, weight)
        delay_ms = np.empty(n)
        _draw(plan.keys[2], a, b, offsets, plan.delay_rule, delay_ms)
    units = 1 << plan.substep_bits  # delay units per step
    delay = np.maximum(np.floor(delay_ms / dt_ms * units + 0.5), units).astype(np.int64)
    receptor = (weight < 0).astype(np.int64) if plan.exp_target else np.zeros(n, np.int64)
    to_round, uniforms = _stochastic_rounding(plan, a, b, offsets, weight)
    value = quantize(to_round, plan.lsb[receptor], profile, uniforms)
    return SynapseBlock(pre + plan.pre_start, post + plan.post_start, value, delay,
                        2 * plan.index + receptor, weight)


# --- weight rounding (nearest or stochastic: plan.rounding_rule) ---------------------------


@njit(cache=True, nogil=True)
def _synapse_uniforms(key, a, b, offsets, out):
    """A uniform in (0, 1) for every synapse (j, k) of posts [a, b), from ``key``."""
    for j in range(a, b):
        start = offsets[j - a]
        for k in range(offsets[j - a + 1] - start):
            out[start + k] = uniform_hi(hash3(key, j, k))


@njit(cache=True, nogil=True)
def _index_uniforms(key, index, out):
    """A uniform in (0, 1) for every explicit synapse, keyed by its index in the arrays."""
    for i in range(index.size):
        out[i] = uniform_hi(hash3(key, 0, index[i]))


def _stochastic_rounding(plan: ProjectionPlan, a: int, b: int, offsets: np.ndarray,
                         weight: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The weights to round (pulled towards the projection's mean by its shrink factor)
    and the rounding uniforms; (weight, None) for nearest rounding."""
    stochastic, center, shrink = plan.rounding
    if not stochastic:
        return weight, None
    uniforms = np.empty(weight.size)
    if plan.code == 5:
        _index_uniforms(plan.keys[3], _explicit_range(plan, a, b)[0], uniforms)
    else:
        _synapse_uniforms(plan.keys[3], a, b, offsets, uniforms)
    return (weight if shrink == 1.0 else center + shrink * (weight - center)), uniforms


def quantize(weight: np.ndarray, lsb: np.ndarray, profile: Profile,
             uniforms: np.ndarray | None = None) -> np.ndarray:
    """Weights (pA or mV) to stored values: mantissas, or floats of the profile.

    A mantissa is ``floor(w / lsb + 0.5)`` (nearest) or, given ``uniforms`` in (0, 1) (one
    per weight), ``floor(w / lsb + u)``: rounded up with probability frac(w / lsb), so its
    expectation is w / lsb (stochastic). Clipped to the profile's largest mantissa.
    """
    if not profile.fixed_point:
        return weight.astype(profile.weight_dtype)
    m = np.floor(weight / lsb + (0.5 if uniforms is None else uniforms))
    limit = profile.weight_max
    return np.clip(m, -limit, limit).astype(profile.weight_dtype)
