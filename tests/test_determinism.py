"""The contract: spikes are bit-identical for any thread count, partitioning and run split."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import small_delta_network, small_exp_network

from brainmac import models
from brainmac.compile import compile_network
from brainmac.compile.compiler import Compiler
from brainmac.engine import Simulator

STEPS_MS = 80.0


def run(make, profile, partition_size, threads, splits=1):
    compiled = compile_network(make(), profile, 0.1, seed=3, partition_size=partition_size,
                               threads=threads)
    sim = Simulator(compiled, threads=threads)
    for _ in range(splits):
        sim.run(STEPS_MS / splits)
    gid, step = sim.spike_arrays()
    return gid, step, sim.v.copy()


@pytest.mark.parametrize("profile", ["seed", "float32"])
@pytest.mark.parametrize("make", [small_delta_network, small_exp_network])
def test_partitions_and_threads_do_not_change_spikes(make, profile):
    reference = run(make, profile, 4096, 1)
    assert reference[0].size > 100
    for partition_size, threads in [(1000, 2), (17, 2), (3, 1)]:
        other = run(make, profile, partition_size, threads)
        for a, b in zip(reference, other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_quantization_report_does_not_depend_on_build_order():
    """Threads and MPI ranks finish partitions in any order; the manifest's float error
    means must not change in the last bit with it."""
    def report(order):
        compiler = Compiler(models.build("brunel", order=50), partition_size=17)
        for p in order:
            compiler.build_partition(p)
        return compiler.manifest([])["quantization"]

    n_partitions = Compiler(models.build("brunel", order=50), partition_size=17).n_partitions
    forward = report(range(n_partitions))
    assert forward == report(reversed(range(n_partitions)))
    assert forward == report(np.random.default_rng(5).permutation(n_partitions))


def test_run_can_continue_in_pieces(exp_net):
    whole = run(small_exp_network, "seed", 64, 2, splits=1)
    pieces = run(small_exp_network, "seed", 64, 2, splits=4)
    for a, b in zip(whole, pieces, strict=True):
        np.testing.assert_array_equal(a, b)


def test_seed_changes_the_network(delta_net):
    a = compile_network(delta_net, "seed", 0.1, seed=1)
    b = compile_network(delta_net, "seed", 0.1, seed=2)
    assert not np.array_equal(a.s_index, b.s_index)


_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from conftest import small_exp_network
from brainmac import models
from brainmac.compile import compile_network
from brainmac.compile.compiler import Compiler
from brainmac.engine import Simulator
sim = Simulator(compile_network(small_exp_network(), "seed", 0.1, seed=3, partition_size=20),
                threads={threads})
sim.run(80.0)
gid, step = sim.spike_arrays()
print(json.dumps([gid.tolist(), step.tolist()]))
"""


def _child_spikes(threads: int):
    env = dict(os.environ, NUMBA_NUM_THREADS="4")
    code = _CHILD.format(tests=os.path.dirname(__file__), threads=threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("profile", ["seed", "float64"])
def test_event_pool_bound_holds_and_keeps_spikes(profile):
    """Pools bounded to a few pages (``event_pool_bytes``) run dry, flush into the ring and
    never grow past the bound; the spikes and state equal an unbounded run's."""
    compiled = compile_network(small_exp_network(), profile, 0.1, seed=3, partition_size=64)
    free = Simulator(compiled, threads=1)
    free.run(STEPS_MS)
    bounded = Simulator(compiled, threads=1, event_pool_bytes=1)
    bounded.run(STEPS_MS)
    assert bounded._queues[8][:, 0].any(), "the bounded pools must have run dry"
    assert (bounded._queue_pages <= bounded._pool_cap).all()
    for ours, theirs in zip(bounded.spike_arrays(), free.spike_arrays(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(bounded.v, free.v)


@pytest.mark.parametrize("pool_bytes", [None, 1])
def test_packed_events_equal_two_word_events(monkeypatch, pool_bytes):
    """The fixed-point profiles queue one packed word per event; the same run with the
    (index, input) pairs of the float profiles gives the same spikes and state, also when
    tiny pools flush the packed words into the ring."""
    from brainmac.backends.numba_cpu import driver

    compiled = compile_network(small_exp_network(), "seed", 0.1, seed=3, partition_size=64)
    packed = Simulator(compiled, threads=1, event_pool_bytes=pool_bytes)
    monkeypatch.setattr(driver, "packed_events", lambda *args: False)
    pairs = Simulator(compiled, threads=1, event_pool_bytes=pool_bytes)
    assert packed._packed and not pairs._packed
    assert packed._queues[1].size == 1 < pairs._queues[1].size
    for sim in (packed, pairs):
        sim.run(STEPS_MS)
    assert packed.spike_arrays()[0].size > 100
    ours, theirs = packed.state(), pairs.state()
    for name in ("v", "i_ex", "i_in", "ring", "sat", "events"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    for a, b in zip(packed.spike_arrays(), pairs.spike_arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_events_are_packed_only_where_every_input_fits():
    from brainmac.backends.numba_cpu.driver import packed_events
    from brainmac.backends.numba_cpu.synapse_kernels import PACKED_VALUE_BITS

    weights = np.zeros(3, np.int8)
    assert PACKED_VALUE_BITS == 17  # 32 bits less the 15 of receptor * size + target
    assert packed_events(weights, np.array([1, 8, 256]), np.int32, 0)  # 128 x 256 = 2**15
    assert not packed_events(weights, np.array([1, -512]), np.int32, 0)  # 128 x 512 = 2**16
    assert not packed_events(weights, np.array([1]), np.int32, 2)  # sub-steps: offsets
    assert not packed_events(weights.astype(np.float32), np.array([1.0]), np.float32, 0)
    assert not packed_events(weights.astype(np.int16), np.array([8]), np.int64, 0)


def test_one_and_four_threads_identical():
    one, four = _child_spikes(1), _child_spikes(4)
    assert len(one[0]) > 100
    assert one == four


@pytest.mark.parametrize("int64_counters", [False, True])
def test_restored_state_continues_identically(int64_counters):
    """Also from a checkpoint of a brainmac that kept the refractory counters in int64."""
    compiled = compile_network(small_exp_network(), "seed", 0.1, seed=3)
    whole = Simulator(compiled, threads=1)
    whole.run(80.0)
    first = Simulator(compiled, threads=1)
    first.run(30.0)
    saved = first.state()
    if int64_counters:
        saved["refr"] = saved["refr"].astype(np.int64)
    second = Simulator(compiled, threads=1)
    second.restore(saved)
    second.run(50.0)
    gid_w, step_w = whole.spike_arrays()
    gid_a, step_a = first.spike_arrays()
    gid_b, step_b = second.spike_arrays()
    np.testing.assert_array_equal(np.concatenate([gid_a, gid_b]), gid_w)
    np.testing.assert_array_equal(np.concatenate([step_a, step_b]), step_w)
    np.testing.assert_array_equal(second.v, whole.v)


def test_state_of_another_partitioning_is_refused_in_words():
    from brainmac.errors import ConfigError

    net = small_exp_network()
    saved = Simulator(compile_network(net, "seed", 0.1, seed=3, partition_size=64)).state()
    other = Simulator(compile_network(net, "seed", 0.1, seed=3, partition_size=128))
    with pytest.raises(ConfigError, match="another network, profile or partitioning"):
        other.restore(saved)


class ThreadAllgather:
    """An in-process stand-in for MPI's allgather: ranks are threads, meeting at a barrier."""

    def __init__(self, n_ranks: int) -> None:
        self.barrier = threading.Barrier(n_ranks)
        self.boxes: list = [None] * n_ranks

    def exchange_for(self, rank: int):
        def exchange(gid, step):
            self.boxes[rank] = (gid, step)
            self.barrier.wait()
            gid_all = np.concatenate([g for g, _ in self.boxes])
            step_all = np.concatenate([t for _, t in self.boxes])
            self.barrier.wait()
            order = np.argsort(step_all, kind="stable")  # rank order = id order per step
            return gid_all[order], step_all[order]

        return exchange


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_owners_exchanging_spikes_match_one_process(n_ranks):
    """Simulators that each own a range of partitions and exchange spikes once per chunk
    (as MPI ranks do) give the single process's spikes, bit for bit."""
    compiled = compile_network(small_exp_network(), "seed", 0.1, seed=3, partition_size=30)
    single = Simulator(compiled, threads=1)
    single.run(60.0)
    edges = np.linspace(0, compiled.n_partitions, n_ranks + 1).round().astype(int)
    hub = ThreadAllgather(n_ranks)
    sims = [Simulator(compiled, threads=1, owned=(edges[r], edges[r + 1]),
                      exchange=hub.exchange_for(r)) for r in range(n_ranks)]
    threads = [threading.Thread(target=sim.run, args=(60.0,)) for sim in sims]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    gid = np.concatenate([s.spike_arrays()[0] for s in sims])
    step = np.concatenate([s.spike_arrays()[1] for s in sims])
    order = np.lexsort((gid, step))
    gid_s, step_s = single.spike_arrays()
    assert gid_s.size > 50
    np.testing.assert_array_equal(gid[order], gid_s)
    np.testing.assert_array_equal(step[order], step_s)


@pytest.mark.parametrize("sizes", [(3,), (4, 3), (2, 0, 5), (1, 1, 1, 1)])
def test_every_worker_visits_every_partition_once_its_own_first(sizes):
    from numba import njit

    from brainmac.backends.numba_cpu.driver import visit

    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    order = njit(lambda ptr, w, n: [visit(ptr, w, i) for i in range(n)])
    for w in range(len(sizes)):
        seen = order(ptr, w, int(ptr[-1]))
        assert sorted(seen) == list(range(ptr[-1]))
        assert seen[:sizes[w]] == list(range(ptr[w], ptr[w + 1]))


def test_a_partition_is_claimed_once_until_cleared():
    from numba import njit

    from brainmac.backends.numba_cpu.driver import claim

    take = njit(lambda flags, p: claim(flags, p))
    flags = np.zeros(3, np.int64)
    assert [take(flags, 1), take(flags, 1), take(flags, 2)] == [True, False, True]
    flags[1] = 0
    assert take(flags, 1)
