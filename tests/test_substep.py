"""Sub-step spike times (``substep_bits`` k > 0): engine == oracle, determinism,
convergence to continuous time, bad input."""

import math

import numpy as np
import pytest
from conftest import EXP_PARAMS, network_with_sources, small_delta_network, small_exp_network
from oracle import Oracle, assert_engine_equals

import brainmac as bm
from brainmac.compile import compile_network
from brainmac.engine import Simulator

STEPS = 300


def engine_run(net, profile, bits, dt=0.1, steps=STEPS, partition_size=37, threads=1):
    compiled = compile_network(net, profile, dt, seed=7, partition_size=partition_size,
                               substep_bits=bits)
    sim = Simulator(compiled, threads=threads)
    sim.run(steps * dt)
    return sim


CASES = [(make, profile, bits)
         for make in (small_exp_network, small_delta_network, network_with_sources)
         for profile, bits in (("seed", 2), ("wide", 4), ("float32", 8), ("float64", 4))]


@pytest.mark.parametrize(("make", "profile", "bits"), CASES)
def test_engine_matches_oracle_with_substeps(make, profile, bits):
    net = make()
    oracle = Oracle(net, profile, 0.1, seed=7, substep_bits=bits)
    o_gid, o_tick = oracle.run(STEPS)
    sim = engine_run(net, profile, bits)
    assert o_gid.size > 50, "the test network must be active to mean anything"
    assert np.unique(o_tick & ((1 << bits) - 1)).size > 1, "offsets must vary"
    assert_engine_equals(sim, oracle, o_gid, o_tick)


@pytest.mark.parametrize("profile", ["seed", "float64"])
def test_substeps_deterministic_over_threads_and_partitions(profile):
    net = small_exp_network()
    ref = engine_run(net, profile, 4, partition_size=4096, threads=1).spike_arrays()
    for size, threads in ((37, 2), (64, 2)):
        got = engine_run(net, profile, 4, partition_size=size, threads=threads).spike_arrays()
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def _one_neuron(current_pa):
    net = bm.Network("dc")
    pop = net.population("N", 1, "lif_exp", dict(EXP_PARAMS, I_e=current_pa), v_init=-65.0)
    return net, pop


def _closed_form_times(current_pa, t_end_ms):
    """Spike times of a lif_exp neuron from rest under a constant current: V(t) = E_L +
    R I (1 - exp(-t / tau_m)) crosses V_th after T = -tau_m ln(1 - (V_th - E_L) / (R I)),
    then again t_ref + T after every spike (V is clamped at V_reset = E_L)."""
    p = EXP_PARAMS
    r_i = p["tau_m"] / p["C_m"] * current_pa
    period = -p["tau_m"] * math.log(1.0 - (p["V_th"] - p["E_L"]) / r_i)
    times, t = [], period
    while t < t_end_ms:
        times.append(t)
        t += p["t_ref"] + period
    return np.array(times)


def test_spike_times_converge_to_continuous_time():
    """A DC-driven neuron (float64, dt 0.1 ms): the first spike's time is within one
    sub-step (plus the linear interpolation's own error, ~1e-4 ms here) of the exact
    crossing, and its error shrinks with k. brainmac stamps a spike one dt before NEST (its
    initial state is at -dt), hence the + dt."""
    current, dt = 400.0, 0.1
    exact = _closed_form_times(current, 100.0)[0]
    interpolation = 2e-4  # dt**2 / 8 * |V''| / V' at the crossing, rounded up
    errors = []
    for bits in (0, 2, 4, 8):
        net, _ = _one_neuron(current)
        sim = engine_run(net, "float64", bits, dt=dt, steps=400, partition_size=4096)
        first = sim.spikes()["N"][0][0] + dt
        assert exact - interpolation <= first <= exact + dt / 2**bits + interpolation
        errors.append(abs(first - exact))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < errors[0] / 50


def test_input_arrival_time_within_the_step_matters():
    """One input spike: an arrival early in the step leaves less current at the step's end
    than a late one (the decay over the rest of the step), in fixed and float point."""
    for profile in ("seed", "float64"):
        ends = []
        for delay in (1.25, 1.75):  # k = 2: 1 step + 1 or 3 sub-steps
            net = bm.Network("one")
            src = net.population("S", 1, "lif_exp", dict(EXP_PARAMS, I_e=1000.0), v_init=-50.5)
            dst = net.population("D", 1, "lif_exp", EXP_PARAMS, v_init=-65.0)
            net.connect(src, dst, bm.OneToOne(), 500.0, delay)
            compiled = compile_network(net, profile, 1.0, seed=1, substep_bits=2)
            sim = Simulator(compiled, threads=1, samples={"D": [0]})
            sim.run(4.0)
            ends.append(sim.samples()["i_ex_pA"][:, 0])
        first = np.flatnonzero(ends[0])[0]
        assert np.flatnonzero(ends[1])[0] == first
        assert ends[0][first] < ends[1][first] - 50.0  # arrived earlier: decayed more


@pytest.mark.parametrize("bits", [-1, 9, 2.5, True])
def test_substep_bits_out_of_range(bits):
    with pytest.raises(bm.ConfigError, match=r"substep_bits must be an integer in \[0, 8\]"):
        compile_network(small_exp_network(), "seed", 0.1, substep_bits=bits)


def test_delay_below_resolution_is_refused():
    net = bm.Network("d")
    a = net.population("A", 2, "lif_exp", EXP_PARAMS)
    net.connect(a, a, bm.AllToAll(), 10.0, 1.1)
    with pytest.raises(bm.ConfigError, match=r"delay resolution 0.25 ms .* does not divide "
                                             r"the delay 1.1 ms"):
        compile_network(net, "seed", 1.0, substep_bits=2)
    compile_network(net, "seed", 0.1, substep_bits=2)  # 1.1 ms = 44 sub-steps of 0.025


def test_delay_below_one_step_is_refused():
    net = bm.Network("d")
    a = net.population("A", 2, "lif_exp", EXP_PARAMS)
    net.connect(a, a, bm.AllToAll(), 10.0, 0.75)
    with pytest.raises(bm.ConfigError, match=r"delay 0.75 ms is below one step \(dt=1.0"):
        compile_network(net, "seed", 1.0, substep_bits=2)


def test_store_round_trip_keeps_substeps(tmp_path):
    from brainmac.store import open_store, read_manifest, write_store

    net = small_exp_network()
    write_store(net, tmp_path / "s", "seed", 0.1, seed=7, partition_size=37, substep_bits=2)
    assert read_manifest(tmp_path / "s")["substep_bits"] == 2
    stored = Simulator(open_store(tmp_path / "s"), threads=1)
    stored.run(STEPS * 0.1)
    memory = engine_run(net, "seed", 2)
    for got, want in zip(stored.spike_arrays(), memory.spike_arrays(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_cli_run_with_substeps(tmp_path):
    import json

    from brainmac.cli import main

    args = ["run", "brunel", "--scale", "0.02", "--warmup", "0", "--duration", "20ms",
            "--dt", "0.5", "--substep-bits", "4", "--threads", "1", "--quiet",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["substep_bits"] == 4 and report["spikes"] > 0
    bad = [a if a != "4" else "9" for a in args]
    with pytest.raises(SystemExit) as refused:
        main(bad)
    assert refused.value.code == 2


@pytest.mark.parametrize("profile", ["seed", "float64"])
def test_dry_event_pools_and_checkpoints_keep_substep_spikes(profile, monkeypatch):
    """Event pools that run dry (input flushed through the tables into the dense ring) and a
    checkpoint restored mid-run give the spikes of an uninterrupted run."""
    from brainmac.backends.numba_cpu import driver

    compiled = compile_network(small_exp_network(), profile, 0.1, seed=3, substep_bits=4)
    whole = Simulator(compiled, threads=1)
    whole.run(40.0)
    monkeypatch.setattr(driver, "QUEUE_RATE_HZ", 0.0)  # 4 pages per partition: many flushes
    first = Simulator(compiled, threads=1)
    first.run(15.0)
    assert (first._queue_pages > 4).any(), "some pool must have run dry (and grown)"
    second = Simulator(compiled, threads=1)
    second.restore(first.state())
    second.run(25.0)
    gid = np.concatenate([first.spike_arrays()[0], second.spike_arrays()[0]])
    tick = np.concatenate([first.spike_arrays()[1], second.spike_arrays()[1]])
    np.testing.assert_array_equal(gid, whole.spike_arrays()[0])
    np.testing.assert_array_equal(tick, whole.spike_arrays()[1])
    np.testing.assert_array_equal(second.v, whole.v)


def test_owners_exchanging_substep_spikes_match_one_process():
    """Two simulators owning halves of the partitions and exchanging ticks in (tick, id)
    order give the single process's spikes (float64: the order of additions matters)."""
    import threading

    from test_determinism import ThreadAllgather

    compiled = compile_network(small_exp_network(), "float64", 0.1, seed=3, partition_size=30,
                               substep_bits=4)
    single = Simulator(compiled, threads=1)
    single.run(40.0)
    edges = np.linspace(0, compiled.n_partitions, 3).round().astype(int)
    hub = ThreadAllgather(2)
    sims = [Simulator(compiled, threads=1, owned=(edges[r], edges[r + 1]),
                      exchange=hub.exchange_for(r)) for r in range(2)]
    runs = [threading.Thread(target=sim.run, args=(40.0,)) for sim in sims]
    for th in runs:
        th.start()
    for th in runs:
        th.join()
    gid = np.concatenate([s.spike_arrays()[0] for s in sims])
    tick = np.concatenate([s.spike_arrays()[1] for s in sims])
    order = np.lexsort((gid, tick))
    np.testing.assert_array_equal(gid[order], single.spike_arrays()[0])
    np.testing.assert_array_equal(tick[order], single.spike_arrays()[1])


def test_stores_with_and_without_substeps_record_k(tmp_path):
    """Both are the compact layout's format (3); k is in the manifest, so a reader that
    predates sub-steps (format <= 2) refuses either by its version."""
    from brainmac.store import FORMAT_VERSION, read_manifest, write_store

    net = small_delta_network()
    write_store(net, tmp_path / "plain", "seed", 0.1, seed=1)
    write_store(net, tmp_path / "sub", "seed", 0.1, seed=1, substep_bits=3)
    for name, k in (("plain", 0), ("sub", 3)):
        manifest = read_manifest(tmp_path / name)
        assert manifest["format_version"] == FORMAT_VERSION == 4
        assert manifest["model"].get("substep_bits", 0) == k
