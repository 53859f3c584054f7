"""The ready-made networks: sizes, synapse numbers, weights, delays, drives and bad arguments."""

import json
import math

import pytest

import brainmac as bm
from brainmac.models import MODELS, brunel, build, microcircuit
from brainmac.models.microcircuit import FULL_SIZES, POPULATIONS, psc_over_psp

#: Potjans & Diesmann 2014: "~0.3 billion synapses" (2.99e8 with the reference's formula).
PUBLISHED_TOTAL_SYNAPSES = 2.99e8


def _projection(net, pre, post):
    (proj,) = [p for p in net.projections if p.pre.name == pre and p.post.name == post]
    return proj


def test_microcircuit_sizes_full_and_tenth():
    full = microcircuit()
    assert [p.name for p in full.populations] == list(POPULATIONS)
    assert [p.size for p in full.populations] == [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
    assert full.n_neurons == 77169
    tenth = microcircuit(scale=0.1)
    assert [p.size for p in tenth.populations] == [2068, 583, 2192, 548, 485, 106, 1440, 295]
    assert all(p.model == "lif_exp" for p in tenth.populations)


def test_microcircuit_total_synapses_match_the_published_count():
    total = sum(p.connector.n for p in microcircuit().projections)
    assert total == pytest.approx(PUBLISHED_TOTAL_SYNAPSES, rel=0.02)
    assert all(isinstance(p.connector, bm.FixedTotalNumber) for p in microcircuit().projections)


def test_synapse_numbers_scale_with_scale_and_k_scale():
    full = sum(p.connector.n for p in microcircuit().projections)
    small = sum(p.connector.n for p in microcircuit(scale=0.1, k_scale=0.5).projections)
    assert small == pytest.approx(full * 0.05, rel=1e-3)


def test_microcircuit_weights():
    net = microcircuit()
    j = 0.15 * psc_over_psp(250.0, 10.0, 0.5)
    assert j == pytest.approx(87.8, abs=0.05)
    l4e_l23e = _projection(net, "L4E", "L23E").weight
    assert l4e_l23e.mean == pytest.approx(2 * j)
    assert _projection(net, "L23E", "L23E").weight.mean == pytest.approx(j)
    for proj in net.projections:
        w = proj.weight
        assert w.std == pytest.approx(0.1 * abs(w.mean))
        if proj.pre.name.endswith("I"):
            assert w.mean == pytest.approx(-4 * j)
            assert w.high == 0.0 and w.low is None  # redrawn to keep the sign
        else:
            assert w.mean > 0 and w.low == 0.0


def test_microcircuit_delays_are_redrawn_below_the_time_step():
    net = microcircuit(dt_ms=0.1)
    for proj in net.projections:
        mean = 1.5 if proj.pre.name.endswith("E") else 0.75
        assert proj.delay == bm.Normal(mean, 0.5 * mean, low=0.1)
    assert _projection(microcircuit(dt_ms=1.0), "L23I", "L23E").delay.low == 1.0


def test_microcircuit_poisson_and_dc_drive():
    poisson = microcircuit(scale=0.1)
    drives = {d.target.name: d for d in poisson.drives}
    assert all(isinstance(d, bm.PoissonDrive) for d in poisson.drives)
    assert drives["L23E"].indegree == 1600 and drives["L6E"].indegree == 2900
    assert drives["L4E"].rate_hz == 8.0
    assert drives["L4E"].weight == pytest.approx(87.8, abs=0.05)
    dc = microcircuit(scale=0.1, drive="dc")
    amps = {d.target.name: d.amplitude_pa for d in dc.drives}
    # DC equivalent of the Poisson input: rate * K_ext * J * tau_syn
    assert amps["L23E"] == pytest.approx(8.0 * 1600 * 87.81 * 0.5e-3, rel=1e-3)


def test_k_scale_compensation():
    net = microcircuit(scale=0.1, k_scale=0.25)
    j = 0.15 * psc_over_psp(250.0, 10.0, 0.5)
    assert _projection(net, "L23E", "L4E").weight.mean == pytest.approx(2 * j)
    poisson = [d for d in net.drives if isinstance(d, bm.PoissonDrive)]
    assert poisson[0].indegree == 400 and poisson[0].weight == pytest.approx(2 * j)
    dc = {d.target.name: d.amplitude_pa for d in net.drives if isinstance(d, bm.DCDrive)}
    assert set(dc) == set(POPULATIONS)
    assert all(amp > 0 for amp in dc.values())


def test_microcircuit_initial_potentials_and_metadata():
    net = microcircuit(scale=0.1)
    assert net.populations[0].v_init == bm.Normal(-68.28, 5.36)
    assert microcircuit(scale=0.1, v0="original").populations[5].v_init == bm.Normal(-58, 10)
    rates = net.metadata["reference_rates_hz"]
    assert list(rates) == list(POPULATIONS)
    assert rates["L23E"] == 0.86 and rates["L6I"] == 7.84
    params = json.loads(json.dumps(net.metadata["parameters"]))
    assert params["sizes"][0] == 2068 and params["full_sizes"] == list(FULL_SIZES)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"scale": 0.0}, "scale must be in (0, 1], got 0.0"),
        ({"scale": 1.5}, "scale must be in (0, 1], got 1.5"),
        ({"scale": -1}, "scale must be in (0, 1], got -1"),
        ({"k_scale": 0}, "k_scale must be in (0, 1], got 0"),
        ({"k_scale": 2.0}, "k_scale must be in (0, 1], got 2.0"),
        ({"drive": "ac"}, "drive must be 'poisson' or 'dc', got 'ac'"),
        ({"v0": "zero"}, "v0 must be one of"),
        ({"dt_ms": 0.0}, "dt_ms must be in (0, 1.0] ms, got 0.0"),
        ({"scale": 1e-5}, "leaves population L5I empty"),
        ({"thalamus": "yes"}, "thalamus must be True or False"),
    ],
)
def test_microcircuit_bad_arguments(kwargs, fragment):
    with pytest.raises(bm.ConfigError) as info:
        microcircuit(**kwargs)
    assert fragment in str(info.value)


def test_brunel_sizes_and_indegrees():
    net = brunel()
    assert [(p.name, p.size, p.model) for p in net.populations] == [
        ("E", 10000, "lif_delta"),
        ("I", 2500, "lif_delta"),
    ]
    indegree = {(p.pre.name, p.post.name): p.connector.k for p in net.projections}
    assert indegree == {("E", "E"): 1000, ("I", "E"): 250, ("E", "I"): 1000, ("I", "I"): 250}
    weights = {(p.pre.name, p.post.name): p.weight for p in net.projections}
    assert weights[("E", "I")] == 0.1 and weights[("I", "E")] == pytest.approx(-0.5)
    assert all(p.delay == 1.5 for p in net.projections)
    n_syn = sum(p.connector.k * p.post.size for p in net.projections)
    assert n_syn == 15_625_000


def test_brunel_external_drive_follows_nest_example():
    net = brunel(order=200, eta=2.0)
    # nu_th = V_th / (J C_E tau_m) = 20 / (0.1 * 80 * 20) per ms = 125 Hz; nu_ext = 2 nu_th
    for drive in net.drives:
        assert drive.indegree == 80
        assert drive.rate_hz == pytest.approx(250.0)
        assert drive.weight == 0.1
    params = net.populations[0].neuron
    assert (params["V_th"], params["V_reset"], params["tau_m"], params["t_ref"]) == (
        20.0,
        0.0,
        20.0,
        2.0,
    )
    assert net.populations[0].v_init == 0.0
    assert brunel().metadata["reference"]["rate_hz"] == 32.0
    assert brunel(order=200).metadata["reference"] is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"order": 0}, "order"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"J": -0.1}, "J must be > 0"),
        ({"delay_ms": 0}, "delay_ms"),
        ({"g": math.nan}, "g must be a finite number"),
    ],
)
def test_brunel_bad_arguments(kwargs, fragment):
    with pytest.raises(bm.ConfigError, match=fragment):
        brunel(**kwargs)


def test_registry_and_build():
    assert MODELS == {"brunel": brunel, "microcircuit": microcircuit}
    assert build("brunel", order=10).n_neurons == 50
    with pytest.raises(bm.ConfigError, match="known models: brunel, microcircuit"):
        build("cortex")
    with pytest.raises(bm.ConfigError, match="model 'brunel'"):
        build("brunel", size=3)


def test_microcircuit_thalamus_is_a_windowed_source_onto_l4_and_l6():
    net = microcircuit(scale=0.1, thalamus=True)
    th = next(p for p in net.populations if p.name == "TH")
    assert th.model == "poisson_source" and th.size == 902
    assert th.neuron["rate_hz"] == 120.0
    assert (th.neuron["start_ms"], th.neuron["stop_ms"]) == (700.0, 710.0)
    targets = {p.post.name for p in net.projections if p.pre is th}
    assert targets == {"L4E", "L4I", "L6E", "L6I"}  # the reference's non-zero probabilities
    assert all(p.weight.mean > 0 for p in net.projections if p.pre is th)
