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
with saturation; every saturation is counted.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    headroom_exp, headroom_delta : float
        The V range is this many times the span the model needs (threshold, reset, initial
        values), so that excursions below rest do not saturate. lif_delta gets less: its V
        LSB is also its weight step, so each doubling of range doubles the weight error
        (Brunel, J = 0.1 mV: 0.4% at 2, 1.6% at 4); lif_exp weights are currents, whose
        step does not depend on the V range. Measured on PD14 at scale 0.1: headroom 2
        saturated V ~330,000 times in 0.5 s and raised L23/L5 rates 20-40% over float64;
        headroom 4 cut saturations tenfold and matched float64 within a few percent.
    """

    name: str
    fixed_point: bool
    weight_dtype: np.dtype
    state_dtype: np.dtype
    ring_dtype: np.dtype
    coef_dtype: np.dtype
    frac_bits: int
    headroom_exp: float = 4.0
    headroom_delta: float = 2.0

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


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name, with a clear error for an unknown one."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ConfigError(f"unknown precision profile {name!r}; choose one of {list(PROFILES)}")
    return PROFILES[name]
