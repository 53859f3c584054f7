"""Precision profiles: how weights, synaptic input and neuron state are represented.

=========  ==================  ==============  ============  =================================
profile    weight per synapse  state (V, I)    input sum     rounding of the decay
=========  ==================  ==============  ============  =================================
seed       int8 mantissa       int16, sat.     int32 ring    stochastic (counter-based dither)
wide       int16 mantissa      int32, sat.     int64 ring    stochastic (counter-based dither)
float32    float32             float32         float32 ring  IEEE
float64    float64             float64         float64 ring  IEEE (the reference)
=========  ==================  ==============  ============  =================================

In the fixed-point profiles a weight is ``mantissa * 2**gain_exponent`` state units, with the
gain exponent chosen per (projection, receptor) at compile time; the sign lives in the
mantissa and selects the receptor (positive: excitatory, negative: inhibitory current).
The per-step input of a neuron is summed in the wider ring type, then added to the state
with saturation; every saturation is counted. The state units (hence the ranges) are chosen
per population from its input (`brainmac.compile.neurons`), not by the profile; weights
round stochastically (the default) or to the nearest mantissa (``Profile.rounding``,
:func:`with_rounding`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from brainmac.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """One numeric representation of a network.

    Attributes
    ----------
    name : str
    fixed_point : bool
        True for integer state with per-population scales.
    weight_dtype, state_dtype, ring_dtype, coef_dtype : numpy dtype
        Types of the stored weight, of V and I, of the per-step input sum, and of the
        propagators (int64 Q``frac_bits`` numbers in fixed point).
    frac_bits : int
        Fraction bits of the fixed-point propagators (0 for float profiles).
    rounding : {"stochastic", "nearest"}
        How a synapse's weight becomes a mantissa (`brainmac.compile.plan.rounding_rule`):
        stochastically, keeping each projection's mean and variance (the default), or to
        the nearest step, which biases a single-valued weight by up to half a step
        (Brunel at 2**-8 mV: +1.6%, +3.5% in rate; docs/fidelity.md).

    The ranges of V and I (hence their units, and the weight step) are not part of the
    profile: they follow from each population's input (`brainmac.compile.neurons`).
    """

    name: str
    fixed_point: bool
    weight_dtype: np.dtype
    state_dtype: np.dtype
    ring_dtype: np.dtype
    coef_dtype: np.dtype
    frac_bits: int
    rounding: str = "stochastic"

    @property
    def weight_max(self) -> int:
        """Largest mantissa magnitude (symmetric range)."""
        return int(np.iinfo(self.weight_dtype).max) if self.fixed_point else 0

    @property
    def state_max(self) -> int:
        """Largest state magnitude in state units (symmetric saturation range)."""
        return int(np.iinfo(self.state_dtype).max) if self.fixed_point else 0


PROFILES = {
    "seed": Profile("seed", True, np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32),
                    np.dtype(np.int64), 24),
    "wide": Profile("wide", True, np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64),
                    np.dtype(np.int64), 28),
    "float32": Profile("float32", False, np.dtype(np.float32), np.dtype(np.float32),
                       np.dtype(np.float32), np.dtype(np.float32), 0),
    "float64": Profile("float64", False, np.dtype(np.float64), np.dtype(np.float64),
                       np.dtype(np.float64), np.dtype(np.float64), 0),
}


ROUNDINGS = ("stochastic", "nearest")  # the first is the default


def with_rounding(profile: str | Profile, rounding: str) -> Profile:
    """``profile`` with the weight-rounding rule ``rounding`` ("nearest" or "stochastic")."""
    if rounding not in ROUNDINGS:
        raise ConfigError(f"unknown weight rounding {rounding!r}; choose one of {list(ROUNDINGS)}")
    return replace(get_profile(profile), rounding=rounding)


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name, with a clear error for an unknown one."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ConfigError(f"unknown precision profile {name!r}; choose one of {list(PROFILES)}")
    return PROFILES[name]
