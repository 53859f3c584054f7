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

#: Largest |z| that :func:`normal` can return: sqrt(-2 ln(2^-33)).
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


@njit(inline="always", cache=True)
def normal(h):
    """A standard normal variate from one 64-bit word (Box-Muller); |z| <= Z_MAX."""
    return math.sqrt(-2.0 * math.log(uniform_hi(h))) * math.cos(2.0 * math.pi * uniform_lo(h))


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
