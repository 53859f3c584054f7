"""Counter-based random numbers: every draw is a pure function of (key, a, b).

No sequential generator is shared between threads, partitions or ranks: a value is computed
from the seed, a stream id and its coordinates (neuron, step; or postsynaptic neuron, synapse
number), so any partitioning draws the same numbers. The mixer is the SplitMix64 finalizer
(Steele, Lea & Flood 2014), a bijection on 64-bit words.

Streams (the ``stream`` argument of :func:`stream_key`) are fixed here, once.
"""

import math

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0

#: Stream ids. Per-projection streams are PROJECTION_BASE + 8 * index + offset.
STREAM_STEP = 1  # per neuron and step: Poisson drive and rounding dither
STREAM_V_INIT = 2  # per neuron: initial membrane potential
PROJECTION_BASE = 16
PROJ_PRE, PROJ_WEIGHT, PROJ_DELAY, PROJ_COUNT, PROJ_ROUND = 0, 1, 2, 3, 4

#: Largest |z| that :func:`normal` returns (its tail is cut there, a probability of 3e-11;
#: the weight ranges of the fixed-point profiles are planned for it).
Z_MAX = math.sqrt(-2.0 * math.log(0.5 / 4294967296.0))


@njit(inline="always", cache=True)
def mix64(z):
    """SplitMix64 finalizer of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def hash3(key, a, b):
    """A 64-bit random word for coordinates ``a`` (< 2**32) and ``b`` (< 2**32) of ``key``."""
    counter = (np.uint64(a) << _S32) | np.uint64(b)
    return mix64(np.uint64(key) + counter * GOLDEN)


@njit(inline="always", cache=True)
def uniform_hi(h):
    """A uniform float in (0, 1) from the high 32 bits of ``h``."""
    return (float(h >> _S32) + 0.5) * _INV32


@njit(inline="always", cache=True)
def uniform_lo(h):
    """A uniform float in (0, 1) from the low 32 bits of ``h``."""
    return (float(h & _LOW32) + 0.5) * _INV32


def _ziggurat_tables(n_layers: int = 128, r: float = 3.442619855899,
                     area: float = 9.91256303526217e-3) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x (n + 1,) and fast-path ratios x[i+1] / x[i] (n,) of the normal
    ziggurat with 128 layers of equal area (Marsaglia & Tsang 2000, J. Stat. Softw. 5(8);
    r and the layer area are theirs). Layer 0 is the base strip with the tail beyond r."""
    x = np.empty(n_layers + 1)
    x[0], x[1] = area / math.exp(-0.5 * r * r), r
    for i in range(2, n_layers):
        x[i] = math.sqrt(-2.0 * math.log(area / x[i - 1] + math.exp(-0.5 * x[i - 1] ** 2)))
    x[n_layers] = 0.0
    return x, x[1:] / x[:-1]


ZIG_X, ZIG_RATIO = _ziggurat_tables()
ZIG_R = float(ZIG_X[1])
_INV53 = 1.0 / 9007199254740992.0
_S11 = np.uint64(11)
_LAYER = np.uint64(127)


@njit(inline="always", cache=True)
def _signed_unit(h):
    """A uniform float in (-1, 1) from the high 53 bits of ``h``."""
    return 2.0 * ((float(h >> _S11) + 0.5) * _INV53) - 1.0


@njit(cache=True)
def _normal_slow(h, u, i):
    """The rest of :func:`normal` when word h missed the fast path: the tail beyond r
    (layer 0), or the wedge test of layer i, with further words mixed from h."""
    w = h
    while True:
        w = mix64(w + GOLDEN)
        if i == 0:  # Marsaglia's tail: x = -ln(U1) / r, kept if -2 ln(U2) > x^2
            x = -math.log(uniform_hi(w)) / ZIG_R
            if -2.0 * math.log(uniform_lo(w)) > x * x and ZIG_R + x <= Z_MAX:
                return -(ZIG_R + x) if u < 0.0 else ZIG_R + x
            continue  # the tail is sampled until a value is kept
        z = u * ZIG_X[i]
        f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - z * z))
        f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - z * z))
        if f1 + uniform_hi(w) * (f0 - f1) < 1.0:
            return z
        w = mix64(w + GOLDEN)  # a wedge miss: a new point, layer and position
        u, i = _signed_unit(w), w & _LAYER
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]


@njit(inline="always", cache=True)
def normal(h):
    """A standard normal variate from one 64-bit word, |z| <= Z_MAX: the ziggurat (layer
    from the low 7 bits, position from the high 53). 98.8 % of words take the fast path
    (a table look-up and a multiply); the rest continue with words mixed from h, so the
    value is still a pure function of h."""
    u, i = _signed_unit(h), h & _LAYER
    if abs(u) < ZIG_RATIO[i]:
        return u * ZIG_X[i]
    return _normal_slow(h, u, i)


@njit(inline="always", cache=True)
def below(h, n):
    """An integer uniform in [0, n) from the high 32 bits of ``h`` (multiply-shift)."""
    return np.int64(((h >> _S32) * np.uint64(n)) >> _S32)


def stream_key(seed: int, stream: int) -> np.uint64:
    """The key of one stream of one seed (a Python-level helper; not for kernels)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * GOLDEN + np.uint64(stream)
    return np.uint64(mix64(z))


def projection_key(seed: int, projection_index: int, offset: int) -> np.uint64:
    """The key of one per-projection stream (pre, weight, delay or count)."""
    return stream_key(seed, PROJECTION_BASE + 8 * projection_index + offset)
