"""Shared fixtures: small networks that exercise every feature of the engine."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import brainmac as bm  # noqa: E402

DELTA_PARAMS = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=10.0, V_th=20.0)
EXP_PARAMS = dict(C_m=250.0, tau_m=10.0, tau_syn_ex=0.5, tau_syn_in=0.5, t_ref=2.0,
                  E_L=-65.0, V_reset=-65.0, V_th=-50.0)


def small_delta_network(n_e=160, n_i=40, g=5.0, eta=2.0):
    """A small Brunel-like lif_delta network: fixed in-degree, Poisson drive."""
    net = bm.Network("small_delta")
    e = net.population("E", n_e, "lif_delta", DELTA_PARAMS, v_init=bm.Normal(10.0, 5.0))
    i = net.population("I", n_i, "lif_delta", DELTA_PARAMS, v_init=bm.Normal(10.0, 5.0))
    for post in (e, i):
        net.connect(e, post, bm.FixedIndegree(16), 0.4, 1.5)
        net.connect(i, post, bm.FixedIndegree(4), -0.4 * g, bm.Normal(1.0, 0.5))
        net.add(bm.PoissonDrive(post, eta * 20.0 / (0.4 * 16 * 20.0) * 1000.0, 0.4, 16))
    return net


def small_exp_network():
    """A small lif_exp network with every connector, normal weights and delays, DC drive."""
    net = bm.Network("small_exp")
    e = net.population("E", 120, "lif_exp", EXP_PARAMS, v_init=bm.Normal(-58.0, 5.0))
    i = net.population("I", 50, "lif_exp", EXP_PARAMS, v_init=bm.Normal(-58.0, 5.0))
    net.connect(e, e, bm.FixedTotalNumber(2000), bm.Normal(87.8, 8.78), bm.Normal(1.5, 0.75))
    net.connect(e, i, bm.PairwiseBernoulli(0.1), bm.Normal(87.8, 8.78), 1.0)
    net.connect(i, e, bm.FixedIndegree(20, autapses=False), bm.Normal(-351.2, 35.1),
                bm.Normal(0.75, 0.375))
    net.connect(i, i, bm.AllToAll(autapses=False), -50.0, 0.5)
    net.connect(e, e, bm.OneToOne(), 30.0, 2.0)
    net.add(bm.PoissonDrive(e, 8.0, 87.8, 2000))
    net.add(bm.PoissonDrive(i, 8.0, 87.8, 1800))
    net.add(bm.DCDrive(i, 20.0))
    return net


@pytest.fixture
def delta_net():
    return small_delta_network()


@pytest.fixture
def exp_net():
    return small_exp_network()


def network_with_sources():
    """A windowed Poisson-source 'thalamus' and a windowed drive onto lif_exp neurons."""
    net = bm.Network("sources")
    th = net.population("TH", 40, "poisson_source",
                        {"rate_hz": 200.0, "start_ms": 20.0, "stop_ms": 35.0})
    e = net.population("E", 60, "lif_exp", EXP_PARAMS, v_init=bm.Normal(-58.0, 5.0))
    net.connect(th, e, bm.FixedIndegree(10), bm.Normal(150.0, 15.0), bm.Normal(1.5, 0.75))
    net.connect(e, e, bm.FixedIndegree(10), 87.8, 1.0)
    net.add(bm.PoissonDrive(e, 8.0, 87.8, 1500, start_ms=5.0, stop_ms=50.0))
    return net
