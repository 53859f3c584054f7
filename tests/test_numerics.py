"""Fixed-point numerics: the range rule (synchronous-volley bound) and the weight rounding.

The range rule (`brainmac.compile.ranges`, `brainmac.compile.neurons.state_units`) sets each
population's V and current units so that one synchronous volley of its whole input fits the
16-bit state; the rounding rule (`brainmac.compile.plan.rounding_rule`) is nearest or
stochastic, the latter keeping each projection's mean and variance.
"""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

import brainmac as bm
from brainmac.compile import compile_network, neurons, ranges
from brainmac.compile.generate import generate
from brainmac.compile.neurons import network_numerics, population_numerics
from brainmac.compile.plan import plan_projections
from brainmac.compile.profiles import get_profile, with_rounding
from brainmac.engine import Simulator
from brainmac.errors import ConfigError

EXP = dict(C_m=250.0, tau_m=10.0, tau_syn_ex=0.5, tau_syn_in=0.5, t_ref=2.0, E_L=-65.0,
           V_reset=-65.0, V_th=-50.0)
DELTA = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=0.0, V_th=20.0)
SMAX = 32767  # the seed profile's int16 state


# --- the range rule ------------------------------------------------------------------------

def test_delay_steps_follow_the_truncated_normal_and_rounding():
    """P(delay = d steps) of Normal(0.75, 0.375) redrawn below dt = 1 ms, rounded: the
    truncated normal's mass in [d - 0.5, d + 0.5) ms, computed here with scipy."""
    dist = ranges.delay_step_distribution(bm.Normal(0.75, 0.375), 1.0)
    law = stats.truncnorm((1.0 - 0.75) / 0.375, np.inf, 0.75, 0.375)
    assert dist[0] == 0.0
    assert dist[1] == pytest.approx(law.cdf(1.5), abs=1e-9)
    assert dist[2] == pytest.approx(law.cdf(2.5) - law.cdf(1.5), abs=1e-9)
    assert dist.sum() == pytest.approx(1.0)
    constant = ranges.delay_step_distribution(1.5, 0.1)
    assert constant.argmax() == 15 and constant.sum() == 1.0


def test_mean_indegree_of_every_connector():
    net = bm.Network()
    a = net.population("A", 300, "lif_exp", EXP)
    b = net.population("B", 200, "lif_exp", EXP)
    cases = [(bm.FixedTotalNumber(1000), 5.0), (bm.FixedIndegree(30), 30.0),
             (bm.PairwiseBernoulli(0.1), 30.0), (bm.AllToAll(), 300.0)]
    for conn, k in cases:
        assert ranges.mean_indegree(bm.Projection(a, b, conn, 1.0, 1.0)) == pytest.approx(k)
    assert ranges.mean_indegree(bm.Projection(a, a, bm.AllToAll(autapses=False), 1, 1)) == 299


def test_signed_mean_magnitudes():
    assert ranges.signed_mean_magnitudes(-2.0) == (0.0, 2.0)
    ex, inh = ranges.signed_mean_magnitudes(bm.Normal(-351.2, 35.1, None, 0.0))
    assert ex == 0.0 and inh == pytest.approx(351.2, rel=1e-4)


def volley_network(model, n_pre, weight, delay_ms=1.0, params=None):
    """Population 'I' (n_pre neurons) onto 'E' (50), fixed in-degree n_pre."""
    params = params or (EXP if model == "lif_exp" else DELTA)
    net = bm.Network()
    pre = net.population("I", n_pre, model, params)
    post = net.population("E", 50, model, params)
    net.connect(pre, post, bm.FixedIndegree(n_pre), weight, delay_ms)
    return net


def test_volley_of_delta_synapses_is_the_sum_of_the_jumps():
    net = volley_network("lif_delta", 250, -0.5, 1.5)
    reach = neurons.volley_reach(net.populations[1], ranges.volley_arrivals(net, 0.1)["E"],
                                 neurons.propagators(net.populations[1].neuron, 0.1), None,
                                 0.1, 0.0)
    assert reach.v_drop_mv == pytest.approx(125.0)  # 250 x 0.5 mV, all in one step
    assert reach.v_rise_mv == 0.0


def test_volley_of_current_synapses_matches_the_closed_form_psp():
    """One volley of K synapses of weight w (one delay): the current peaks at K |w| and
    V drops by K times the PSP of one synapse, whose peak has a closed form (exact
    integration makes the sampled trace exact; the peak falls between samples)."""
    k, w, dt = 400, -351.2, 0.01
    net = volley_network("lif_exp", k, w)
    pop = net.populations[1]
    reach = neurons.volley_reach(pop, ranges.volley_arrivals(net, dt)["E"],
                                 neurons.propagators(pop.neuron, dt), None, dt, 0.0)
    tm, ts, c = EXP["tau_m"], EXP["tau_syn_in"], EXP["C_m"]
    t_peak = tm * ts / (tm - ts) * math.log(tm / ts)
    psp = abs(w) / c * tm * ts / (tm - ts) * (math.exp(-t_peak / tm) - math.exp(-t_peak / ts))
    assert reach.current_pa[1] == pytest.approx(k * abs(w))
    assert reach.v_drop_mv == pytest.approx(k * psp, rel=1e-3)


def volley_units(c_m):
    net = volley_network("lif_exp", 400, -351.2, params=dict(EXP, C_m=c_m))
    pop = net.populations[1]
    reach = neurons.volley_reach(pop, ranges.volley_arrivals(net, 0.1)["E"],
                                 neurons.propagators(pop.neuron, 0.1), None, 0.1, 0.0)
    return network_numerics(net, get_profile("seed"), 0.1)["E"], reach, pop


def test_state_units_hold_the_volley_and_are_the_finest_that_do():
    e, reach, pop = volley_units(250.0)
    lo, hi = neurons.voltage_range_mv(pop, reach)
    assert lo == pytest.approx(-reach.v_drop_mv)  # from rest (reset = E_L = initial V)
    assert SMAX * e.v_lsb_mv >= max(-lo, hi) > SMAX * e.v_lsb_mv / 2
    assert SMAX * e.i_lsb_pa >= reach.current_pa[1] > SMAX * e.i_lsb_pa / 2


def test_current_unit_does_not_depend_on_the_v_range():
    """A 4x larger capacitance quarters V's excursion, not the current."""
    small, _, _ = volley_units(250.0)
    large, _, _ = volley_units(1000.0)
    assert large.i_lsb_pa == small.i_lsb_pa
    assert large.v_lsb_mv == small.v_lsb_mv / 4


def test_v_range_covers_threshold_reset_and_respects_v_min():
    pop = bm.Network().population("A", 1, "lif_delta", dict(DELTA, V_reset=-30.0,
                                                              V_min=-40.0))
    lo, hi = neurons.voltage_range_mv(pop, ranges.VolleyReach(v_drop_mv=500.0))
    assert lo == -40.0  # V_min bounds the volley's excursion
    assert hi == 20.0
    lo, hi = neurons.voltage_range_mv(pop, ranges.VolleyReach(v_drop_mv=5.0, v_rise_mv=3.0))
    assert (lo, hi) == (-35.0, 23.0)  # from the reset, which is below rest


# --- no saturation on a synchronous volley ---------------------------------------------------

def synchronous_volley_network():
    """500 identical DC-driven inhibitory neurons fire in lockstep (every ~16 ms) onto 100
    Poisson-driven targets, 500 synapses of -351 pA each: 175 nA per volley."""
    net = bm.Network("volley")
    inh = net.population("I", 500, "lif_exp", EXP, v_init=-65.0)
    exc = net.population("E", 100, "lif_exp", EXP, v_init=-60.0)
    net.add(bm.DCDrive(inh, 500.0))
    net.connect(inh, exc, bm.FixedIndegree(500), bm.Normal(-351.2, 35.1), 0.5)
    net.add(bm.PoissonDrive(exc, 8.0, 87.8, 2000))
    return net


def run_volley(profile):
    sim = Simulator(compile_network(synchronous_volley_network(), profile, 0.1, seed=1),
                    threads=1)
    sim.run(200.0)
    return sim


def test_synchronous_volley_does_not_saturate_and_matches_float64():
    seed, ref = run_volley("seed"), run_volley("float64")
    assert seed.saturation_counts() == {"v": 0, "i_ex": 0, "i_in": 0}
    n_seed, n_ref = (len(s.spikes()["E"][0]) for s in (seed, ref))
    assert n_ref > 50 and abs(n_seed - n_ref) <= 0.05 * n_ref + 5
    n_seed, n_ref = (len(s.spikes()["I"][0]) for s in (seed, ref))
    assert abs(n_seed - n_ref) <= 0.02 * n_ref


def test_synchronous_volley_saturates_without_the_volley_bound(monkeypatch):
    """With ranges from threshold, reset and initial values alone (the old headroom rule
    without its factor of 4) the same case saturates: the test above can fail."""
    monkeypatch.setattr(neurons, "volley_reach", lambda *args: ranges.VolleyReach())
    sat = run_volley("seed").saturation_counts()
    assert sat["i_in"] > 0 and sat["v"] > 0


# --- weight rounding ------------------------------------------------------------------------

def one_projection(weight, model="lif_exp", n_post=400, k=500, seed=7):
    net = bm.Network()
    pre = net.population("A", 1000, model, EXP if model == "lif_exp" else DELTA)
    post = net.population("B", n_post, model, EXP if model == "lif_exp" else DELTA)
    net.connect(pre, post, bm.FixedIndegree(k), weight, 1.0)
    return net, seed


def rounded_weights(net, seed, rounding, unit=None, a=0, b=None):
    """Generated weights (physical units) of the only projection, for posts [a, b)."""
    prof = with_rounding("seed", rounding)
    nums = network_numerics(net, prof, 0.1)
    if unit is not None:
        nums = {n: dataclasses.replace(v, i_lsb_pa=unit, v_lsb_mv=unit) for n, v in nums.items()}
    plan = plan_projections(net, nums, prof, 0.1, seed)[0]
    block = generate(plan, a, plan.n_post if b is None else b, prof, 0.1)
    receptor = (block.weight < 0).astype(int) if plan.exp_target else 0
    return block.value.astype(float) * plan.lsb[receptor], block.value


def mean_is_kept(values, mean, sd_per_weight):
    """|sample mean - mean| within 4 standard errors."""
    return abs(values.mean() - mean) <= 4 * sd_per_weight / math.sqrt(values.size)


def test_stochastic_rounding_keeps_a_constant_weights_mean_nearest_does_not():
    """0.1 mV at a unit of 2**-8 mV is 25.6 units: nearest gives 26 (+1.6 %) for every
    synapse; stochastic rounding gives 25 or 26 with the right odds."""
    net, seed = one_projection(0.1, "lif_delta")
    unit = 2.0**-8
    sd = math.sqrt(0.6 * 0.4) * unit  # of one stochastically rounded weight
    stochastic, m = rounded_weights(net, seed, "stochastic", unit)
    nearest, _ = rounded_weights(net, seed, "nearest", unit)
    assert set(np.unique(m)) == {25, 26}
    assert mean_is_kept(stochastic, 0.1, sd)
    assert not mean_is_kept(nearest, 0.1, sd)


def test_stochastic_rounding_keeps_mean_and_variance_of_a_normal_weight():
    """Normal(-351.2, 35.1) pA at a coarse unit (32 pA, ~1 sd): the rounded weights keep
    the truncated normal's mean and variance within sampling error; nearest rounding
    adds unit**2 / 12 to the variance, plain stochastic rounding about unit**2 / 6."""
    w = bm.Normal(-351.2, 35.1)
    net, seed = one_projection(w)
    values, _ = rounded_weights(net, seed, "stochastic", 32.0)
    n = values.size
    var_se = 35.1**2 * math.sqrt(2.0 / (n - 1))
    assert mean_is_kept(values, -351.2, 35.1 * 1.1)
    assert abs(values.var() - 35.1**2) <= 4 * var_se
    nearest, _ = rounded_weights(net, seed, "nearest", 32.0)
    assert nearest.var() - 35.1**2 > 4 * var_se  # + 85 pA^2: caught


def test_stochastic_rounding_is_a_pure_function_of_seed_and_synapse():
    net, seed = one_projection(bm.Normal(87.8, 8.78))
    whole = rounded_weights(net, seed, "stochastic", 8.0)[1]
    parts = np.concatenate([rounded_weights(net, seed, "stochastic", 8.0, a, b)[1]
                            for a, b in ((0, 133), (133, 134), (134, 400))])
    np.testing.assert_array_equal(whole, parts)
    other = rounded_weights(net, seed + 1, "stochastic", 8.0)[1]
    assert not np.array_equal(whole, other)


def test_unknown_rounding_is_a_config_error():
    with pytest.raises(ConfigError, match="rounding"):
        with_rounding("seed", "up")


def test_population_numerics_without_input_keeps_the_threshold_range():
    pop = bm.Network().population("A", 1, "lif_exp", EXP)
    num = population_numerics(pop, get_profile("seed"), 0.1, 0.0)
    assert SMAX * num.v_lsb_mv >= 15.0 > SMAX * num.v_lsb_mv / 2
