"""Bad input is refused early with a message that names the parameter and the value."""

import math

import numpy as np
import pytest

import brainmac as bm
from brainmac.compile import compile_network
from brainmac.engine import Simulator

P = dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0)


def two_populations():
    net = bm.Network()
    return net, net.population("A", 10, "lif_exp", P), net.population("B", 10, "lif_exp", P)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_population_size(size):
    with pytest.raises(bm.ConfigError, match="size"):
        bm.Population("A", size)


def test_unknown_parameter_and_model():
    with pytest.raises(bm.ConfigError, match="tau_mem"):
        bm.Population("A", 5, "lif_exp", {"tau_mem": 10.0})
    with pytest.raises(bm.ConfigError, match="unknown neuron model 'hh'"):
        bm.Population("A", 5, "hh")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf(value):
    with pytest.raises(bm.ConfigError, match="finite"):
        bm.Population("A", 5, "lif_exp", {"tau_m": value})
    net, a, b = two_populations()
    with pytest.raises(bm.ConfigError, match="finite"):
        net.connect(a, b, bm.FixedIndegree(2), value, 1.0)
    with pytest.raises(bm.ConfigError, match="finite"):
        bm.Normal(value, 1.0)
    with pytest.raises(bm.ConfigError, match="NaN or inf"):
        bm.Explicit([0], [0], [value], [1.0])


def test_out_of_range_parameters():
    with pytest.raises(bm.ConfigError, match="tau_m must be > 0"):
        bm.Population("A", 5, "lif_exp", {"tau_m": 0.0})
    with pytest.raises(bm.ConfigError, match="V_reset"):
        bm.Population("A", 5, "lif_exp", {"V_reset": -40.0})
    with pytest.raises(bm.ConfigError, match="p must be in"):
        bm.PairwiseBernoulli(1.5).validate(1, 1)


def test_delay_below_one_step():
    net, a, b = two_populations()
    net.connect(a, b, bm.FixedIndegree(2), 10.0, 0.05)
    with pytest.raises(bm.ConfigError, match=r"delay 0.05 ms is below one step \(dt=0.1"):
        compile_network(net, "seed", 0.1)


def test_dt_that_does_not_divide_the_delay():
    net, a, b = two_populations()
    net.connect(a, b, bm.FixedIndegree(2), 10.0, 1.5)
    with pytest.raises(bm.ConfigError, match="dt=1.0 ms does not divide the delay 1.5"):
        compile_network(net, "seed", 1.0)
    compile_network(net, "seed", 0.5)  # divides: fine


def test_weight_that_overflows_every_gain():
    net, a, b = two_populations()
    net.connect(a, b, bm.FixedIndegree(2), 1e9, 1.0)
    with pytest.raises(bm.ConfigError, match="population B: its input overflows profile 'seed'"):
        compile_network(net, "seed", 0.1)
    compile_network(net, "float64", 0.1)  # float has the range


def test_mismatched_explicit_arrays():
    with pytest.raises(bm.ConfigError, match="mismatched lengths"):
        bm.Explicit([0, 1], [0], [1.0, 2.0], [1.0, 1.0])
    net, a, b = two_populations()
    with pytest.raises(bm.ConfigError, match=r"Explicit.post indices must lie in \[0, 10\)"):
        net.connect(a, b, bm.Explicit([0], [10], [1.0], [1.0]))


def test_bad_options():
    net, a, b = two_populations()
    with pytest.raises(bm.ConfigError, match="dt must be > 0"):
        compile_network(net, "seed", 0.0)
    with pytest.raises(bm.ConfigError, match="unknown precision profile 'int4'"):
        compile_network(net, "int4", 0.1)
    compiled = compile_network(net, "seed", 0.1)
    with pytest.raises(bm.ConfigError, match="threads must be"):
        Simulator(compiled, threads=0)
    sim = Simulator(compiled)
    with pytest.raises(bm.ConfigError, match="not a multiple of dt"):
        sim.run(1.05)
    with pytest.raises(bm.ConfigError, match="unknown population 'C'"):
        Simulator(compiled, record=["C"])


def test_population_of_another_network():
    net, a, b = two_populations()
    stranger = bm.Population("X", 10)
    with pytest.raises(bm.ConfigError, match="not part of network"):
        net.connect(stranger, b, bm.OneToOne(), 1.0, 1.0)


def test_explicit_delay_not_on_grid():
    net, a, b = two_populations()
    net.connect(a, b, bm.Explicit(np.array([0, 1]), np.array([2, 3]), [5.0, 5.0], [1.0, 1.25]))
    with pytest.raises(bm.ConfigError, match="explicit delay 1.25 ms"):
        compile_network(net, "seed", 0.1)
