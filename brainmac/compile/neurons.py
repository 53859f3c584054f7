"""Per-population numerics: exact-integration propagators and fixed-point scales.

The propagators integrate the subthreshold dynamics exactly over one step h (Rotter &
Diesmann 1999, as NEST's iaf_psc_exp and iaf_psc_delta)::

    V(t+h) = P22 V + P21_ex I_ex + P21_in I_in + P20 (I_e + I_dc)      (V relative to E_L)
    I_x(t+h) = P11_x I_x + input_x

    P22 = exp(-h/tau_m),  P11_x = exp(-h/tau_syn_x),  P20 = tau_m/C_m (1 - P22)
    P21_x = tau_m tau_x / (C_m (tau_x - tau_m)) (exp(-h/tau_x) - exp(-h/tau_m))

In fixed point, V is held in units of ``v_lsb_mv`` and I in units of ``i_lsb_pa``; both are
powers of two, chosen separately (:func:`state_units`):

- V's range holds what V can reach: threshold, reset, V_min, the initial values, the
  deepest excursion that one synchronous volley of the population's inhibitory input
  drives from the lowest of these, and the largest one-step rise above threshold;
- I's range holds the peak current of one synchronous volley of the larger of the
  excitatory and the inhibitory input, plus the Poisson drive's mean current
  (`brainmac.compile.ranges`). The unit of I is the step of the weights onto the
  population, so it is set by the currents alone, not by V's range.

Propagators become Q``frac_bits`` integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from brainmac.compile.profiles import Profile
from brainmac.compile.ranges import VolleyReach, volley_arrivals, volley_reach
from brainmac.errors import ConfigError
from brainmac.network.distributions import Normal
from brainmac.network.network import DCDrive, Network, PoissonDrive, Population
from brainmac.network.neurons import SOURCE_MODELS
from brainmac.rng import Z_MAX


@dataclass(frozen=True)
class PopulationNumerics:
    """How one population is represented and stepped.

    ``coefficients`` are (p22, p21_ex, p21_in, p11_ex, p11_in, const) in the profile's
    coefficient type: floats, or Q``frac_bits`` integers mapping state units to state units.
    ``levels`` are (threshold, reset, v_min) in state units.
    """

    model_code: int  # 0: lif_delta, 1: lif_exp
    v_lsb_mv: float
    i_lsb_pa: float
    coefficients: tuple[float, ...]
    levels: tuple[float, float, float]
    ref_steps: int

    @property
    def weight_lsb(self) -> float:
        """The physical value of one state unit of synaptic input (pA or mV)."""
        return self.i_lsb_pa if self.model_code == 1 else self.v_lsb_mv


def propagators(params, dt_ms: float) -> dict[str, float]:
    """Exact one-step propagators of a population's model (floats, NEST units)."""
    h, tau_m, c_m = dt_ms, params["tau_m"], params["C_m"]
    p22 = math.exp(-h / tau_m)
    out = {"p22": p22, "p20": tau_m / c_m * (1.0 - p22)}
    for x in ("ex", "in"):
        tau_s = params.values.get(f"tau_syn_{x}")
        if tau_s is None:
            out[f"p11_{x}"], out[f"p21_{x}"] = 0.0, 0.0
            continue
        out[f"p11_{x}"] = math.exp(-h / tau_s)
        if abs(tau_s - tau_m) < 1e-9 * tau_m:  # the limit tau_s -> tau_m
            out[f"p21_{x}"] = h / c_m * p22
        else:
            out[f"p21_{x}"] = (tau_m * tau_s / (c_m * (tau_s - tau_m))
                               * (math.exp(-h / tau_s) - p22))
    return out


def v_init_extremes(pop: Population) -> tuple[float, float]:
    """The lowest and highest initial potential a population can draw (mV, absolute)."""
    v0 = pop.v_init
    if not isinstance(v0, Normal):
        return float(v0), float(v0)
    lo, hi = v0.mean - Z_MAX * v0.std, v0.mean + Z_MAX * v0.std
    return (lo if v0.low is None else max(lo, v0.low), hi if v0.high is None else min(hi, v0.high))


def voltage_range_mv(pop: Population, reach: VolleyReach) -> tuple[float, float]:
    """The lowest and highest V (mV relative to E_L) the state must hold (module doc).

    The initial values count within 3 sd of their distribution (outliers saturate,
    counted); a finite V_min bounds the low end (lif_delta clamps V there).
    """
    p = pop.neuron
    lo, hi = v_init_extremes(pop)
    if isinstance(pop.v_init, Normal):
        lo = max(lo, pop.v_init.mean - 3 * pop.v_init.std)
        hi = min(hi, pop.v_init.mean + 3 * pop.v_init.std)
    theta, reset = p["V_th"] - p["E_L"], p["V_reset"] - p["E_L"]
    lowest = min(0.0, reset, theta, lo - p["E_L"]) - reach.v_drop_mv
    highest = max(theta + reach.v_rise_mv, reset, hi - p["E_L"], 1.0)
    v_min = p.values.get("V_min", -math.inf) - p["E_L"]
    return max(lowest, v_min), highest


#: Fewest V units from reset to threshold: the unit must resolve that distance to 1%.
MIN_THRESHOLD_UNITS = 100


def _pow2_at_least(x: float) -> float:
    return 2.0 ** math.ceil(math.log2(x))


def source_numerics(profile: Profile) -> PopulationNumerics:
    """A poisson_source as a lif_delta neuron that forgets V every step (P22 = 0), spikes
    at 1 state unit and is fed its own Poisson drive of weight 1: it spikes in every step
    with at least one Poisson event."""
    v_min = -profile.state_max if profile.fixed_point else -math.inf
    return PopulationNumerics(0, 1.0, 1.0, (0, 0, 0, 0, 0, 0), (1, 0, v_min), 0)


def state_units(pop: Population, profile: Profile, reach: VolleyReach) -> tuple[float, float]:
    """The V unit (mV) and the current unit (pA; 1 for lif_delta) of one population in a
    fixed-point profile: the finest powers of two whose symmetric saturating range holds
    V's range and the volley's peak current (module doc).

    Raises
    ------
    ConfigError
        When that V unit leaves fewer than MIN_THRESHOLD_UNITS between reset and threshold.
    """
    lo, hi = voltage_range_mv(pop, reach)
    v_lsb = _pow2_at_least(max(-lo, hi) / profile.state_max)
    p = pop.neuron
    gap = abs(p["V_th"] - p["V_reset"]) or abs(p["V_th"] - p["E_L"])
    if gap / v_lsb < MIN_THRESHOLD_UNITS:
        raise ConfigError(
            f"population {pop.name}: its input overflows profile {profile.name!r} (a "
            f"synchronous volley moves V by up to {max(-lo, hi):.4g} mV, which needs a unit "
            f"of {v_lsb:g} mV, leaving {gap / v_lsb:.3g} < {MIN_THRESHOLD_UNITS} units from "
            "reset to threshold); lower the weights or use profile 'wide' or 'float64'")
    if pop.neuron.model != "lif_exp":
        return v_lsb, 1.0
    current = max(reach.current_pa)
    i_lsb = _pow2_at_least(current / profile.state_max) if current > 0 else 1.0
    return v_lsb, i_lsb


def network_numerics(net: Network, profile: Profile, dt_ms: float
                     ) -> dict[str, PopulationNumerics]:
    """`population_numerics` of every population of ``net``, with its volley reach
    (`brainmac.compile.ranges`) and its DC and Poisson drives."""
    dc: dict[str, float] = {}
    poisson: dict[str, PoissonDrive] = {}
    for drive in net.drives:
        if isinstance(drive, DCDrive):
            dc[drive.target.name] = dc.get(drive.target.name, 0.0) + drive.amplitude_pa
        else:
            poisson[drive.target.name] = drive
    arrivals = volley_arrivals(net, dt_ms)
    out = {}
    for pop in net.populations:
        if pop.model in SOURCE_MODELS:
            out[pop.name] = source_numerics(profile)
            continue
        dc_pa = dc.get(pop.name, 0.0)
        reach = volley_reach(pop, arrivals[pop.name], propagators(pop.neuron, dt_ms),
                             poisson.get(pop.name), dt_ms, pop.neuron["I_e"] + dc_pa)
        out[pop.name] = population_numerics(pop, profile, dt_ms, dc_pa, reach)
    return out


def population_numerics(pop: Population, profile: Profile, dt_ms: float, dc_pa: float,
                        reach: VolleyReach | None = None) -> PopulationNumerics:
    """Scales, propagators and levels of one population for one profile and step.

    ``reach`` is what one synchronous volley of its input does (`brainmac.compile.ranges`;
    default: no synaptic input, the range of threshold, reset and initial values only).
    """
    if pop.model in SOURCE_MODELS:
        return source_numerics(profile)
    p = pop.neuron
    prop = propagators(p, dt_ms)
    is_exp = p.model == "lif_exp"
    if profile.fixed_point:
        v_lsb, i_lsb = state_units(pop, profile, reach or VolleyReach())
    else:
        v_lsb, i_lsb = 1.0, 1.0
    i_total = p["I_e"] + dc_pa
    raw = (prop["p22"], prop["p21_ex"] * i_lsb / v_lsb, prop["p21_in"] * i_lsb / v_lsb,
           prop["p11_ex"], prop["p11_in"], prop["p20"] * i_total / v_lsb)
    theta = (p["V_th"] - p["E_L"]) / v_lsb
    reset = (p["V_reset"] - p["E_L"]) / v_lsb
    v_min = (p.values.get("V_min", -math.inf) - p["E_L"]) / v_lsb
    if profile.fixed_point:
        scale = float(2 ** profile.frac_bits)
        coefficients = tuple(math.floor(c * scale + 0.5) for c in raw)
        smax = profile.state_max
        levels = (math.ceil(theta), math.floor(reset + 0.5),
                  max(-smax, math.floor(v_min + 0.5)) if math.isfinite(v_min) else -smax)
    else:
        coefficients = raw
        levels = (theta, reset, v_min)
    ref_steps = int(math.floor(p["t_ref"] / dt_ms + 0.5))
    return PopulationNumerics(int(is_exp), v_lsb, i_lsb, coefficients, levels, ref_steps)
