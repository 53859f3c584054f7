"""How far synaptic input can drive a population: the bound that sets its fixed-point ranges.

The fixed-point profiles hold V and the synaptic currents in 16-bit (seed) or 32-bit (wide)
saturating state, with a power-of-two unit per population (`brainmac.compile.neurons`). The
unit must be coarse enough for the state to hold what the network can drive it to, and no
coarser: it is also the weight step. The bound used here is one **synchronous volley**:

    every presynaptic neuron of every projection onto the population spikes in the same
    step; each synapse's input arrives after its own delay.

Onto a neuron with the expected in-degrees, the volley arrives over the steps d as

    A_x[d] = sum over the projections p onto receptor x of  K_p E[|w_p|; x] P_p(delay = d)

(K_p the mean in-degree, E[|w|; x] the mean magnitude of the weights that go to receptor x,
zero for weights of the other sign, P_p the delay rule's distribution of whole steps, after
the bounded redraw and rounding of `brainmac.compile.plan`). The peak current and the
extreme potentials are those of the linear subthreshold dynamics (exact propagators) driven
by A from rest, with no threshold. Refractoriness lets a presynaptic neuron spike at most
once per t_ref (2 ms in PD14, several synaptic time constants), so a volley is the most
input that can arrive within a few synaptic time constants, except through the rare
synapses drawn far above the mean weight; a population that fires in such volleys
repeatedly, faster than its membrane recovers, still saturates, and every saturation is
counted. The Poisson drive's mean current is added to its receptor's bound.

Measured (microcircuit, scale 0.1, full in-degree, dt 0.1 ms, float64, seed 1, 1.2 s): the
largest |I_in| reached was 77 nA in L2/3E and the lowest V 381 mV below rest, within the
volley bounds of that population (docs/fidelity.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brainmac.network import connectors as cn
from brainmac.network.distributions import Normal
from brainmac.network.network import Network, PoissonDrive, Projection

#: Steps of linear response followed after the last arrival, in membrane time constants.
RESPONSE_TAUS = 6.0


@dataclass(frozen=True)
class VolleyReach:
    """What one synchronous volley (module doc) does to a population's state.

    Attributes
    ----------
    current_pa : tuple of float
        Peak magnitude of the excitatory and of the inhibitory current (pA; lif_exp only).
    v_drop_mv : float
        Deepest excursion of V below its starting value (mV, >= 0).
    v_rise_mv : float
        Largest rise of V within one step (mV, >= 0): how far above threshold V can get
        before the threshold test.
    """

    current_pa: tuple[float, float] = (0.0, 0.0)
    v_drop_mv: float = 0.0
    v_rise_mv: float = 0.0


def mean_indegree(proj: Projection) -> float:
    """The expected number of synapses onto one postsynaptic neuron."""
    conn, n_pre, n_post = proj.connector, proj.pre.size, proj.post.size
    self_loop = proj.pre is proj.post and not getattr(conn, "autapses", True)
    if isinstance(conn, cn.FixedTotalNumber):
        return conn.n / n_post
    if isinstance(conn, cn.FixedIndegree):
        return float(conn.k)
    if isinstance(conn, cn.PairwiseBernoulli):
        return conn.p * (n_pre - self_loop)
    if isinstance(conn, cn.OneToOne):
        return 1.0
    if isinstance(conn, cn.AllToAll):
        return float(n_pre - self_loop)
    raise TypeError(f"no in-degree rule for {type(conn).__name__}")


def truncated_normal_grid(value: Normal, n: int = 2001) -> tuple[np.ndarray, np.ndarray]:
    """Points and normalized weights of a bounded-redraw normal (a truncated normal)."""
    lo = value.mean - 8.0 * value.std if value.low is None else max(value.low,
                                                                     value.mean - 8 * value.std)
    hi = value.mean + 8.0 * value.std if value.high is None else min(value.high,
                                                                     value.mean + 8 * value.std)
    x = np.linspace(lo, hi, n)
    density = np.exp(-0.5 * ((x - value.mean) / value.std) ** 2)
    return x, density / density.sum()


def signed_mean_magnitudes(weight) -> tuple[float, float]:
    """E[max(w, 0)] and E[max(-w, 0)] of a weight (constant or bounded-redraw normal)."""
    if not isinstance(weight, Normal) or weight.std == 0.0:
        w = weight.mean if isinstance(weight, Normal) else float(weight)
        return max(w, 0.0), max(-w, 0.0)
    x, p = truncated_normal_grid(weight)
    return float((np.maximum(x, 0.0) * p).sum()), float((np.maximum(-x, 0.0) * p).sum())


def delay_step_distribution(delay, dt_ms: float) -> np.ndarray:
    """P(delay = d steps) for d = 0, 1, ...: the bounded redraw (low defaults to dt) then
    rounding to the nearest step, at least one (the rule of `brainmac.compile.plan`)."""
    if not isinstance(delay, Normal) or delay.std == 0.0:
        d = delay.mean if isinstance(delay, Normal) else float(delay)
        out = np.zeros(max(1, math.floor(d / dt_ms + 0.5)) + 1)
        out[-1] = 1.0
        return out
    low = dt_ms if delay.low is None else delay.low
    high = math.inf if delay.high is None else delay.high

    def cdf(x: float) -> float:
        x = min(max(x, low), high)
        return 0.5 * (1.0 + math.erf((x - delay.mean) / (delay.std * math.sqrt(2.0))))

    top = min(high, delay.mean + 8.0 * delay.std)
    n_steps = max(1, math.floor(top / dt_ms + 0.5)) + 1
    edges = [cdf((d - 0.5) * dt_ms) for d in range(n_steps + 1)]
    mass = np.diff(edges)
    mass[1] += mass[0]  # below one step: rounded up to one
    mass[0] = 0.0
    return mass / mass.sum()


def _explicit_arrivals(proj: Projection, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrival profiles (excitatory, inhibitory) of an Explicit projection: the largest
    per-neuron sum of each sign, all at the shortest delay (an upper bound)."""
    conn = proj.connector
    first = max(1, math.floor(float(conn.delay.min()) / dt_ms + 0.5)) if conn.delay.size else 1
    out = []
    for part in (np.maximum(conn.weight, 0.0), np.maximum(-conn.weight, 0.0)):
        a = np.zeros(first + 1)
        a[first] = np.bincount(conn.post, part, minlength=proj.post.size).max(initial=0.0)
        out.append(a)
    return out[0], out[1]


def volley_arrivals(net: Network, dt_ms: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per population, the arrival profiles A_ex[d], A_in[d] (pA or mV, magnitudes) of one
    synchronous volley of all its presynaptic neurons (module doc)."""
    out = {p.name: (np.zeros(1), np.zeros(1)) for p in net.populations}
    for proj in net.projections:
        if isinstance(proj.connector, cn.Explicit):
            parts = _explicit_arrivals(proj, dt_ms)
        else:
            k = mean_indegree(proj)
            k = max(k, 1.0) if k > 0 else 0.0  # a neuron with any synapse has at least one
            steps = delay_step_distribution(proj.delay, dt_ms)
            parts = tuple(k * m * steps for m in signed_mean_magnitudes(proj.weight))
        ex, inh = out[proj.post.name]
        out[proj.post.name] = (_add(ex, parts[0]), _add(inh, parts[1]))
    return out


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.size, b.size)
    return np.pad(a, (0, n - a.size)) + np.pad(b, (0, n - b.size))


def drive_current_pa(drive: PoissonDrive | None, tau_syn_ms: float) -> float:
    """Mean current (pA) of a Poisson drive into a current synapse of time constant tau."""
    if drive is None:
        return 0.0
    return abs(drive.weight) * drive.rate_hz * drive.indegree * tau_syn_ms * 1e-3


def _response(arrivals: np.ndarray, p11: float, p21: float, p22: float,
              n_after: int) -> tuple[float, float]:
    """Peak input (after decay) and extreme V of the linear response to ``arrivals``
    (V += p21 I before I += input, as the neuron kernel steps)."""
    i = v = peak_i = peak_v = 0.0
    for t in range(arrivals.size + n_after):
        v = p22 * v + p21 * i
        i = p11 * i + (arrivals[t] if t < arrivals.size else 0.0)
        peak_i, peak_v = max(peak_i, i), max(peak_v, v)
    return peak_i, peak_v


def volley_reach(pop, arrivals: tuple[np.ndarray, np.ndarray], prop: dict[str, float],
                 drive: PoissonDrive | None, dt_ms: float, i_total_pa: float) -> VolleyReach:
    """The reach of one volley onto ``pop`` (lif_exp or lif_delta), given its propagators
    ``prop`` (`brainmac.compile.neurons.propagators`), its Poisson drive and its constant
    current ``i_total_pa`` (I_e + DC, pA)."""
    p = pop.neuron
    n_after = math.ceil(RESPONSE_TAUS * p["tau_m"] / dt_ms)
    if p.model != "lif_exp":  # delta synapses: the input is a jump of V
        drops = [_response(a, prop["p22"], 0.0, 0.0, n_after)[0] for a in arrivals]
        return VolleyReach(v_drop_mv=drops[1], v_rise_mv=float(arrivals[0].max()))
    currents, v_peaks = [], []
    for x, a in zip(("ex", "in"), arrivals, strict=True):
        tau = p[f"tau_syn_{x}"]
        mean_drive = drive_current_pa(drive, tau) if (drive is not None and (
            drive.weight < 0) == (x == "in")) else 0.0
        peak_i, peak_v = _response(a, prop[f"p11_{x}"], prop[f"p21_{x}"], prop["p22"], n_after)
        currents.append(peak_i + mean_drive)
        v_peaks.append(peak_v)
    rise = prop["p21_ex"] * currents[0] + prop["p20"] * max(i_total_pa, 0.0)
    return VolleyReach((currents[0], currents[1]), v_drop_mv=v_peaks[1], v_rise_mv=rise)
