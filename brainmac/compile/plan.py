"""Turn a network description into numeric plans for the synapse generator.

A :class:`ProjectionPlan` holds everything the generator kernel needs for one projection:
the connector as a code and numbers, weight and delay rules, gains and stream keys. Plans are
pure functions of (network, profile, dt, seed); nothing here depends on the partitioning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from brainmac import rng
from brainmac.compile.neurons import PopulationNumerics
from brainmac.compile.profiles import Profile
from brainmac.compile.ranges import truncated_normal_grid
from brainmac.errors import ConfigError
from brainmac.network import connectors as cn
from brainmac.network.distributions import Normal
from brainmac.network.network import Network, Projection

CONNECTOR_CODES = {cn.FixedTotalNumber: 0, cn.FixedIndegree: 1, cn.PairwiseBernoulli: 2,
                   cn.OneToOne: 3, cn.AllToAll: 4, cn.Explicit: 5}
N_RECEPTORS = 2  # 0: excitatory (or the only one of lif_delta), 1: inhibitory
DELAY_TOLERANCE = 1e-9  # relative; a constant delay must be a whole number of steps


@dataclass
class ProjectionPlan:
    """Numeric form of one projection (see module doc)."""

    index: int
    label: str
    code: int
    pre_start: int
    n_pre: int
    post_start: int
    n_post: int
    param: float  # k of FixedIndegree, p of PairwiseBernoulli, else 0
    autapses: bool
    same_population: bool
    counts: np.ndarray | None  # per-post counts (FixedTotalNumber only), int64
    weight_rule: np.ndarray  # (is_normal, mean, std, low, high), float64
    delay_rule: np.ndarray  # (is_normal, mean, std, low, high) in ms, float64
    exp_target: bool  # lif_exp: the sign chooses the receptor
    gain_exponent: np.ndarray  # per receptor, int64
    lsb: np.ndarray  # physical value of one mantissa unit per receptor (pA or mV)
    keys: np.ndarray  # uint64 keys of the pre, weight, delay and rounding streams
    explicit: cn.Explicit | None = None
    substep_bits: int = 0  # delays are drawn in units of dt / 2**substep_bits
    # weight rounding (`rounding_rule`): (stochastic 0/1, center, shrink); keys[3] its stream
    rounding: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))


def _rule(value, label: str) -> np.ndarray:
    if isinstance(value, Normal):
        low = -math.inf if value.low is None else value.low
        high = math.inf if value.high is None else value.high
        return np.array([1.0, value.mean, value.std, low, high])
    return np.array([0.0, float(value), 0.0, -math.inf, math.inf])


def weight_bounds(proj: Projection) -> tuple[float, float]:
    """Largest excitatory (>= 0) and inhibitory (magnitude) weight the projection can draw."""
    w = proj.weight
    if isinstance(proj.connector, cn.Explicit):
        values = proj.connector.weight
        pos, neg = values[values >= 0], values[values < 0]
        return (float(pos.max()) if pos.size else 0.0, float(-neg.min()) if neg.size else 0.0)
    if isinstance(w, Normal):
        lo = w.mean - rng.Z_MAX * w.std if w.low is None else max(w.low, w.mean - rng.Z_MAX * w.std)
        hi = w.mean + rng.Z_MAX * w.std if w.high is None else min(w.high,
                                                                   w.mean + rng.Z_MAX * w.std)
        return max(hi, 0.0), max(-lo, 0.0)
    return max(float(w), 0.0), max(-float(w), 0.0)


def expected_square_error(weight: Normal, step: float, cap: float) -> float:
    """Mean squared error of rounding a bounded-redraw normal weight to ``step``, clipped
    at magnitude ``cap`` (both in the weight's unit)."""
    lo = weight.mean - rng.Z_MAX * weight.std if weight.low is None else weight.low
    hi = weight.mean + rng.Z_MAX * weight.std if weight.high is None else weight.high
    x = np.linspace(max(lo, weight.mean - rng.Z_MAX * weight.std),
                    min(hi, weight.mean + rng.Z_MAX * weight.std), 4001)
    density = np.exp(-0.5 * ((x - weight.mean) / max(weight.std, 1e-300)) ** 2)
    excess = np.maximum(np.abs(x) - cap, 0.0)
    error = np.where(excess > 0, excess**2, step**2 / 12.0)
    return float((error * density).sum() / density.sum())


def choose_gain(bound: float, weight_lsb: float, profile: Profile, label: str,
                weight: Normal | None = None) -> int:
    """The power-of-two gain of a (projection, receptor) with the least weight error.

    The smallest gain that fits ``bound`` never clips. For a normal weight, one or two
    finer gains are also tried: they halve the rounding step at the price of clipping the
    rarest draws to the largest mantissa; the gain with the least expected squared error
    wins. Raises ConfigError when even the largest gain (a full-scale state step) cannot
    hold the weight.
    """
    if not profile.fixed_point or bound == 0.0:
        return 0
    units = bound / weight_lsb
    exponent = max(0, math.ceil(math.log2(units / profile.weight_max)))
    largest = int(math.floor(math.log2(profile.state_max / profile.weight_max)))
    if exponent > largest:
        limit = profile.weight_max * 2**largest * weight_lsb
        raise ConfigError(
            f"projection {label}: weight {bound:g} overflows profile {profile.name!r} even at "
            f"the largest gain (limit {limit:g}); lower the weight or use profile 'float64'"
        )
    if weight is None or weight.std == 0.0:
        return exponent

    def cost(e: int) -> float:
        step = weight_lsb * 2.0**e
        return expected_square_error(weight, step, step * profile.weight_max)

    return min(range(max(0, exponent - 2), exponent + 1), key=cost)


def _delay_rule(proj: Projection, dt_ms: float, label: str,
                substep_bits: int = 0) -> np.ndarray:
    """The delay's draw rule (ms); constant and explicit delays must be >= dt and whole
    multiples of the delay resolution dt / 2**substep_bits."""
    delay = proj.delay
    unit = dt_ms / 2**substep_bits  # the delay resolution (ms)
    if isinstance(proj.connector, cn.Explicit):
        values = proj.connector.delay
        steps = values / unit
        bad = np.abs(steps - np.floor(steps + 0.5)) > DELAY_TOLERANCE * np.maximum(steps, 1)
        if bad.any() or (values.size and values.min() < dt_ms * (1 - DELAY_TOLERANCE)):
            first = values[bad][0] if bad.any() else values.min()
            raise ConfigError(f"projection {label}: explicit delay {first} ms is not >= "
                              f"dt={dt_ms} ms and a whole number of the delay resolution "
                              f"{unit:g} ms")
        return _rule(0.0, label)
    if isinstance(delay, Normal):
        if delay.low is None:  # redraw below one step, as NEST's Potjans_2014 example
            delay = delay.with_bounds(dt_ms, None)
        return _rule(delay, label)
    steps = delay / unit
    if delay < dt_ms * (1 - DELAY_TOLERANCE):
        raise ConfigError(f"projection {label}: delay {delay} ms is below one step "
                          f"(dt={dt_ms} ms); use a delay >= dt")
    if abs(steps - math.floor(steps + 0.5)) > DELAY_TOLERANCE * steps:
        what = (f"dt={dt_ms} ms" if substep_bits == 0 else f"the delay resolution {unit:g} "
                f"ms (dt={dt_ms} ms / 2**{substep_bits} sub-steps)")
        raise ConfigError(f"projection {label}: {what} does not divide the delay {delay} ms; "
                          "choose a dt that does, or a Normal delay (rounded)")
    return _rule(delay, label)


def total_number_counts(seed: int, index: int, n_total: int, n_post: int) -> np.ndarray:
    """Per-postsynaptic counts of a FixedTotalNumber projection: multinomial, uniform.

    Drawn from NumPy's Philox keyed by (seed, projection): a pure function of both.
    """
    key = int(rng.projection_key(seed, index, rng.PROJ_COUNT))
    gen = np.random.Generator(np.random.Philox(key=key))
    return gen.multinomial(n_total, np.full(n_post, 1.0 / n_post)).astype(np.int64)


def plan_projections(net: Network, numerics: dict[str, PopulationNumerics], profile: Profile,
                     dt_ms: float, seed: int, substep_bits: int = 0) -> list[ProjectionPlan]:
    """Numeric plans of every projection of ``net``, in the network's order (delays checked
    against the resolution dt / 2**substep_bits)."""
    offsets = net.offsets()
    plans = []
    for index, proj in enumerate(net.projections):
        label, conn = proj.label, proj.connector
        post_num = numerics[proj.post.name]
        bounds = weight_bounds(proj)
        exp_target = post_num.model_code == 1
        if not exp_target:  # one receptor: both signs share one gain
            bounds = (max(bounds), 0.0)
        normal = proj.weight if isinstance(proj.weight, Normal) else None
        gains = [choose_gain(b, post_num.weight_lsb, profile, label, normal) for b in bounds]
        lsb = [post_num.weight_lsb * 2.0**e if profile.fixed_point else 1.0 for e in gains]
        counts = None
        if isinstance(conn, cn.FixedTotalNumber):
            counts = total_number_counts(seed, index, int(conn.n), proj.post.size)
        plans.append(ProjectionPlan(
            index=index, label=label, code=CONNECTOR_CODES[type(conn)],
            pre_start=offsets[proj.pre.name], n_pre=proj.pre.size,
            post_start=offsets[proj.post.name], n_post=proj.post.size,
            param=float(getattr(conn, "k", getattr(conn, "p", 0.0))),
            autapses=bool(getattr(conn, "autapses", True)),
            same_population=proj.pre is proj.post, counts=counts,
            weight_rule=_rule(proj.weight, label),
            delay_rule=_delay_rule(proj, dt_ms, label, substep_bits),
            exp_target=exp_target, gain_exponent=np.array(gains, dtype=np.int64),
            lsb=np.array(lsb), keys=np.array(
                [rng.projection_key(seed, index, o)
                 for o in (rng.PROJ_PRE, rng.PROJ_WEIGHT, rng.PROJ_DELAY, rng.PROJ_ROUND)],
                dtype=np.uint64),
            explicit=conn if isinstance(conn, cn.Explicit) else None,
            substep_bits=substep_bits,
            rounding=rounding_rule(proj, lsb, exp_target, profile),
        ))
    return plans


def rounding_rule(proj: Projection, lsb: list[float], exp_target: bool,
                  profile: Profile) -> np.ndarray:
    """(stochastic, center, shrink) of a projection's weight rounding (`generate.quantize`).

    Nearest rounding is (0, 0, 1). Stochastic rounding (the default) to a step s rounds w up
    with probability frac(w / s): every weight keeps its mean, and gains the variance
    E[f (1 - f)] s^2 (f the fractional part of w / s; 1/6 s^2 for a spread of several
    steps). To keep the projection's variance too (Dasbach et al. 2021 find that the
    mean and the variance of the weights are what a discretization must keep), a normal
    weight is first pulled towards its mean ``center`` by
    ``shrink = sqrt(1 - E[f (1 - f)] s^2 / Var w)``. Where the rounding's variance exceeds
    the projection's own (a constant weight, or a normal narrower than about a step), the
    variance grows to E[f (1 - f)] s^2: unavoidable with one step size.
    """
    if not (profile.fixed_point and profile.rounding == "stochastic"):
        return np.array([0.0, 0.0, 1.0])
    weight = proj.weight
    if isinstance(proj.connector, cn.Explicit) or not isinstance(weight, Normal) or (
            weight.std == 0.0):
        return np.array([1.0, 0.0, 1.0])
    step = lsb[1] if exp_target and weight.mean < 0 else lsb[0]
    x, p = truncated_normal_grid(weight)
    center = float((x * p).sum())
    variance = float(((x - center) ** 2 * p).sum())
    frac = x / step - np.floor(x / step)
    added = float((frac * (1.0 - frac) * p).sum()) * step**2
    return np.array([1.0, center, math.sqrt(max(0.0, 1.0 - added / variance))])
