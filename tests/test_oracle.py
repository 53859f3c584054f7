"""The fast engine against the NumPy oracle: spike for spike, in every profile."""

import pytest
from conftest import network_with_sources, small_delta_network, small_exp_network
from oracle import Oracle, assert_engine_equals

from brainmac.compile import compile_network
from brainmac.engine import Simulator

PROFILES = ["seed", "wide", "float32", "float64"]
STEPS = 600


def engine_run(net, profile, partition_size=4096, threads=1, dt=0.1):
    compiled = compile_network(net, profile, dt, seed=7, partition_size=partition_size)
    sim = Simulator(compiled, threads=threads)
    sim.run(STEPS * dt)
    return sim


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("make", [small_delta_network, small_exp_network,
                                  network_with_sources])
def test_engine_matches_oracle(make, profile):
    net = make()
    oracle = Oracle(net, profile, 0.1, seed=7)
    o_gid, o_step = oracle.run(STEPS)
    sim = engine_run(net, profile, partition_size=37)
    assert o_gid.size > 50, "the test network must be active to mean anything"
    assert_engine_equals(sim, oracle, o_gid, o_step)
