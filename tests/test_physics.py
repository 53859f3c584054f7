"""Physics: single-neuron dynamics against closed forms, for float64 and the seed profile."""

import math

import numpy as np
import pytest

import brainmac as bm
from brainmac.compile import compile_network
from brainmac.engine import Simulator

DT = 0.1
EXP = dict(C_m=250.0, tau_m=10.0, tau_syn_ex=0.5, tau_syn_in=0.5, t_ref=2.0, E_L=-65.0,
           V_reset=-65.0, V_th=-50.0)
DELTA = dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0)
# Tolerances of the seed profile against the closed form (float64 must be near-exact):
SEED_TRACE_MV = 0.05  # membrane LSB is 2**-10 mV; stochastic rounding adds ~sqrt(n) LSB
SEED_REL = 0.02  # weight quantization (<= 0.6 %) and rounding


def run_single(model, params, profile, duration_ms, drive=None, trigger_weight=None,
               delay_ms=1.0):
    """One neuron (population 'N'), optionally hit by one spike of a trigger at t=0."""
    net = bm.Network()
    neuron = net.population("N", 1, model, params)
    if trigger_weight is not None:
        trig = net.population("T", 1, "lif_delta", dict(DELTA, t_ref=10_000.0),
                              v_init=-40.0)  # above threshold: spikes in step 0, once
        net.connect(trig, neuron, bm.OneToOne(), trigger_weight, delay_ms)
    if drive is not None:
        net.add(bm.DCDrive(neuron, drive))
    sim = Simulator(compile_network(net, profile, DT, seed=1), threads=1, samples={"N": [0]})
    sim.run(duration_ms)
    return sim


def lif_rate_hz(i_pa, p):
    """Analytical rate of a LIF neuron with constant current (reset -> threshold + t_ref)."""
    r_i = i_pa * p["tau_m"] / p["C_m"]
    lo, hi = p["V_reset"] - p["E_L"], p["V_th"] - p["E_L"]
    if r_i <= hi:
        return 0.0
    return 1000.0 / (p["t_ref"] + p["tau_m"] * math.log((r_i - lo) / (r_i - hi)))


@pytest.mark.parametrize("model,params", [("lif_exp", EXP), ("lif_delta", DELTA)])
@pytest.mark.parametrize("profile,tol", [("float64", 1e-9), ("seed", SEED_TRACE_MV)])
def test_subthreshold_dc_charging(model, params, profile, tol):
    i_pa = 300.0  # R I = 12 mV, below the 15 mV threshold
    sim = run_single(model, params, profile, 60.0, drive=i_pa)
    v = sim.samples()["v_mV"][:, 0]
    t = (np.arange(v.size) + 1) * DT
    expected = params["E_L"] + i_pa * params["tau_m"] / params["C_m"] * (
        1 - np.exp(-t / params["tau_m"]))
    np.testing.assert_allclose(v, expected, atol=tol, rtol=0)


def psp_closed_form(t_ms, w_pa, p):
    """PSP of lif_exp for a current jump w at t = 0 (mV relative to rest)."""
    tm, ts, c = p["tau_m"], p["tau_syn_ex"], p["C_m"]
    t = np.maximum(t_ms, 0.0)
    return w_pa / c * tm * ts / (tm - ts) * (np.exp(-t / tm) - np.exp(-t / ts))


@pytest.mark.parametrize("profile,tol", [("float64", 1e-9), ("seed", SEED_TRACE_MV)])
def test_psp_trace_and_peak(profile, tol):
    w, delay = 87.8, 1.0
    sim = run_single("lif_exp", EXP, profile, 40.0, trigger_weight=w, delay_ms=delay)
    v = sim.samples()["v_mV"][:, 0] - EXP["E_L"]
    # The trigger spikes in step 0 (stamp dt); the current jumps at dt + delay.
    t = (np.arange(v.size) + 1) * DT - (DT + delay)
    expected = psp_closed_form(t, w, EXP)
    np.testing.assert_allclose(v, expected, atol=tol, rtol=0)
    tm, ts = EXP["tau_m"], EXP["tau_syn_ex"]
    t_peak = tm * ts / (tm - ts) * math.log(tm / ts)
    peak = float(psp_closed_form(np.array([t_peak]), w, EXP)[0])
    assert v.max() == pytest.approx(peak, rel=SEED_REL if profile == "seed" else 2e-3)


@pytest.mark.parametrize("model,params", [("lif_exp", EXP), ("lif_delta", DELTA)])
@pytest.mark.parametrize("profile", ["float64", "seed"])
def test_f_i_curve(model, params, profile):
    for i_pa in (400.0, 500.0, 800.0, 1500.0):
        sim = run_single(model, params, profile, 1000.0, drive=i_pa)
        _, step = sim.spike_arrays()
        isi = np.diff(step) * DT
        rate = 1000.0 / isi.mean()
        # The grid delays each threshold crossing to the next step: up to dt per ISI.
        expected = lif_rate_hz(i_pa, params)
        assert rate == pytest.approx(expected, rel=DT / (1000.0 / expected) + 0.01)


@pytest.mark.parametrize("profile", ["float64", "seed"])
def test_refractory_clamp(profile):
    sim = run_single("lif_delta", DELTA, profile, 200.0, drive=1e6)
    _, step = sim.spike_arrays()
    ref_steps = round(DELTA["t_ref"] / DT)
    # A huge current fires at every first step after the clamp: ISI = t_ref + dt exactly.
    assert np.all(np.diff(step) == ref_steps + 1)
    v = sim.samples()["v_mV"][:, 0]
    first = step[0]
    clamp = v[first: first + ref_steps + 1]
    np.testing.assert_allclose(clamp, DELTA["V_reset"], atol=1e-9)


def test_delta_input_during_refractoriness_is_dropped():
    """A delta spike that lands in the clamp leaves no trace (NEST iaf_psc_delta)."""
    net = bm.Network()
    n = net.population("N", 1, "lif_delta", DELTA, v_init=-49.0)  # spikes in step 0
    t = net.population("T", 1, "lif_delta", dict(DELTA, t_ref=10_000.0), v_init=-40.0)
    net.connect(t, n, bm.OneToOne(), 5.0, 1.0)  # lands at step 10, inside the 2 ms clamp
    sim = Simulator(compile_network(net, "float64", DT, seed=1), threads=1, samples={"N": [0]})
    sim.run(10.0)
    v = sim.samples()["v_mV"][:, 0]
    np.testing.assert_allclose(v[:21], DELTA["V_reset"])
    assert v[-1] < DELTA["V_reset"] + 1e-9
