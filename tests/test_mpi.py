"""Distributed runs: `mpiexec -n R brainmac run` gives the one-process spikes, bit for bit.

The MPI tests (marker ``mpi``) start real MPI jobs with ``mpiexec`` in subprocesses and
skip when mpi4py or mpiexec is missing (``pip install brainmac[mpi]``). More ranks than
cores is fine: MPICH oversubscribes, and ``MPIR_CVAR_ENABLE_HEAVY_YIELD`` keeps waiting ranks
from spinning on the cores the working ones need.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import small_delta_network
from test_determinism import ThreadAllgather
from test_store import damage_codes, last_slot, set_target

from brainmac.cli import main
from brainmac.compile import compile_network
from brainmac.compile.compiler import Compiler
from brainmac.engine import Simulator
from brainmac.errors import ConfigError, StoreError
from brainmac.io import read_spikes
from brainmac.models import build
from brainmac.parallel.assign import assign_partitions, partition_costs, rank_loads
from brainmac.parallel.exchange import SpikeCodec
from brainmac.parallel.partial import RankNetwork
from brainmac.store import open_store, write_store
from brainmac.store.checkpoint import CHECKPOINT_DIR, INDEX
from brainmac.store.reader import open_partitions


def _mpiexec() -> str | None:
    found = shutil.which("mpiexec")
    beside = Path(sys.executable).parent / "mpiexec"
    return found or (str(beside) if beside.exists() else None)


MPIEXEC = _mpiexec()
HAVE_MPI = MPIEXEC is not None and importlib.util.find_spec("mpi4py") is not None


def _with_mpi(test):
    """Marker ``mpi``, and a skip where mpi4py or mpiexec is missing."""
    skip = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec "
                              "(pip install brainmac[mpi])")
    return pytest.mark.mpi(skip(test))


BRUNEL = ["brunel", "--scale", "0.02", "--warmup", "0ms", "--duration", "200ms", "--quiet"]
TIMEOUT_S = 240  # a hung job fails the test instead of hanging it


def mpirun(n_ranks: int, args: list[str], env: dict | None = None,
           timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """``mpiexec -n R python ARGS`` with a timeout; the completed process."""
    full_env = dict(os.environ, MPIR_CVAR_ENABLE_HEAVY_YIELD="1", **(env or {}))
    return subprocess.run([MPIEXEC, "-n", str(n_ranks), sys.executable, *args],
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def brainmac_mpi(n_ranks: int, argv: list[str], **kw) -> subprocess.CompletedProcess:
    """``mpiexec -n R brainmac run ARGV``."""
    return mpirun(n_ranks, ["-m", "brainmac.cli", "run", *argv], **kw)


def assert_same_spikes(a: Path, b: Path) -> None:
    left, right = read_spikes(a / "spikes.h5"), read_spikes(b / "spikes.h5")
    assert list(left) == list(right)
    for name in left:
        np.testing.assert_array_equal(left[name][0], right[name][0], err_msg=name)
        np.testing.assert_array_equal(left[name][1], right[name][1], err_msg=name)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process, one thread."""
    out = tmp_path_factory.mktemp("one") / "brunel"
    assert main(["run", *BRUNEL, "--threads", "1", "--out", str(out)]) == 0
    assert sum(t.size for t, _ in read_spikes(out / "spikes.h5").values()) > 1000
    return out


def test_one_process_two_threads_match(one_process, tmp_path):
    assert main(["run", *BRUNEL, "--threads", "2", "--out", str(tmp_path / "b")]) == 0
    assert_same_spikes(one_process, tmp_path / "b")


TWO_RUNS = """
import sys
from brainmac.cli import main
for threads in (1, 2):
    code = main(["run", *sys.argv[2:], "--threads", str(threads), "--out",
                 f"{sys.argv[1]}/t{threads}"])
    if code:
        sys.exit(code)
"""


@_with_mpi
@pytest.mark.parametrize("n_ranks", [2, 4])
def test_ranks_and_threads_give_the_one_process_spikes(one_process, tmp_path, n_ranks):
    """One MPI job per rank count runs 1 and then 2 threads per rank (one start-up)."""
    done = mpirun(n_ranks, ["-c", TWO_RUNS, str(tmp_path), *BRUNEL])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("output:") == 2  # only rank 0 prints the summary
    reference = json.loads((one_process / "report.json").read_text())
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        assert_same_spikes(one_process, out)
        report = json.loads((out / "report.json").read_text())
        mpi = report["mpi"]
        assert mpi["ranks"] == n_ranks and mpi["threads_per_rank"] == threads
        for key in ("spikes", "synaptic_events", "synapses", "saturation"):
            assert report[key] == reference[key], key
        assert report["quantization_summary"] == pytest.approx(
            reference["quantization_summary"])
        assert mpi["bytes_exchanged_per_bio_s"] > 0
        assert 0 <= mpi["communication_fraction"] <= 1


@_with_mpi
def test_microcircuit_two_ranks_match(tmp_path):
    """Eight populations, a one-step minimum delay (an exchange every step), and the
    alltoallv exchange, which sends a rank only spikes with targets there."""
    argv = ["microcircuit", "--scale", "0.02", "--k-scale", "0.1", "--warmup", "0ms",
            "--duration", "30ms", "--threads", "1", "--quiet"]
    assert main(["run", *argv, "--out", str(tmp_path / "one")]) == 0
    done = brainmac_mpi(2, [*argv, "--out", str(tmp_path / "two")],
                        env={"BRAINMAC_MPI_EXCHANGE": "alltoallv"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_spikes(tmp_path / "one", tmp_path / "two")
    assert json.loads((tmp_path / "two" / "report.json").read_text())["mpi"]["exchanges"] == 300


EXCHANGES = """
import numpy as np
from mpi4py import MPI
from brainmac.parallel.context import MPIContext
from brainmac.parallel.exchange import METHODS, make_exchange

comm = MPI.COMM_WORLD
rank, size, n, chunk = comm.rank, comm.size, 500, 3
edges = [n * r // size for r in range(size + 1)]
row_syn = np.zeros((size, n + 1), np.uint32)
for r in range(size):  # every partition has synapses from the even ids only
    row_syn[r, 1:] = np.cumsum(np.arange(n) % 2 == 0)
arrays = {"part_start": np.array(edges, np.int64), "row_syn": row_syn}
context = MPIContext(comm, rank, size, size)


def chunk_spikes(r, t, d, burst):
    gen = np.random.default_rng([r, t])
    s, g = np.nonzero(gen.random((d, edges[r + 1] - edges[r])) < (0.9 if burst else 0.02))
    return (g + edges[r]).astype(np.int64), (s + t).astype(np.int64)


for method in METHODS:
    ex = make_exchange(method, context, arrays, (rank, rank + 1), chunk)
    t, largest = 0, 0
    for block in (7, 3600):  # a partial chunk at the first block's end
        ex.begin_block(t, block)
        stop = t + block
        while t < stop:
            d = min(chunk, stop - t)
            burst = t == 10
            gid, step = ex(*chunk_spikes(rank, t, d, burst))
            every = [chunk_spikes(r, t, d, burst) for r in range(size)]
            g = np.concatenate([e[0] for e in every])
            s = np.concatenate([e[1] for e in every])
            order = np.lexsort((g, s))
            g, s = g[order], s[order]
            if method == "alltoallv":
                keep = g % 2 == 0
                g, s = g[keep], s[keep]
            assert np.array_equal(gid, g) and np.array_equal(step, s), (method, t)
            t += d
            largest = max(largest, getattr(ex, "slot", 0))
    if method == "fixed":
        assert largest >= 512 and ex.slot <= 64, (largest, ex.slot)  # grew, then shrank
    if rank == 0:
        print(method, "ok", ex.stats.calls)
"""


@_with_mpi
def test_every_exchange_method_delivers_all_spikes_in_order():
    """Blocks that end inside a chunk, bursts that overflow the fixed slot, and the
    alltoallv filter (only neurons with targets on a rank reach it)."""
    done = mpirun(3, ["-c", EXCHANGES], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for method in ("allgatherv", "fixed", "alltoallv"):
        assert f"{method} ok 1203" in done.stdout


@_with_mpi
def test_a_failing_rank_aborts_every_rank(tmp_path):
    done = brainmac_mpi(2, [*BRUNEL, "--threads", "1", "--out", str(tmp_path / "o")],
                        env={"BRAINMAC_TEST_FAIL_RANK": "1"}, timeout=120)
    assert done.returncode != 0
    err = done.stderr
    assert "error on MPI rank 1 of 2" in err and "failure injected on rank 1" in err, \
        (done.returncode, done.stdout[-2000:], err)


TOO_MANY = """
import sys
from brainmac.errors import ConfigError
from brainmac.runner import JobConfig, execute
try:
    execute(JobConfig(model="brunel", scale=0.02, warmup_ms=0.0, duration_ms=10.0,
                      threads=1, out=sys.argv[1], partition_size=4096))
except ConfigError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
"""


@_with_mpi
def test_more_ranks_than_partitions_is_one_clear_error(tmp_path):
    done = mpirun(3, ["-c", TOO_MANY, str(tmp_path / "o")], timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("3 MPI ranks but the network has only 2 partitions") == 1, \
        done.stderr


def test_missing_mpi4py_under_a_launcher_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None; from brainmac.cli import main; "
            f"sys.exit(main(['run', 'brunel', '--out', {str(tmp_path / 'o')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PMI_SIZE="2", PMI_RANK="0"), timeout=120)
    assert done.returncode == 2
    assert "MPI runs need: pip install brainmac[mpi]" in done.stderr


# -- no MPI needed ----------------------------------------------------------------------
def test_assignment_is_contiguous_balanced_and_complete():
    costs = np.array([5, 1, 1, 1, 9, 2, 2, 2, 2, 3])
    for n_ranks in range(1, costs.size + 1):
        edges = assign_partitions(costs, n_ranks)
        assert edges[0] == 0 and edges[-1] == costs.size and np.all(np.diff(edges) >= 1)
        loads = rank_loads(costs, edges)
        assert loads.sum() == costs.sum()
        assert loads.max() >= costs.max()
    np.testing.assert_array_equal(rank_loads(costs, assign_partitions(costs, 2)), [17, 11])


def test_too_many_ranks_names_both_numbers():
    with pytest.raises(ConfigError, match="5 MPI ranks but the network has only 4 partitions"):
        assign_partitions(np.ones(4, np.int64), 5)


def test_synapse_costs_count_every_synapse():
    net = small_delta_network()
    compiler = Compiler(net, "seed", 0.1, 3, partition_size=30)
    costs = partition_costs(compiler)
    compiled = compile_network(net, "seed", 0.1, seed=3, partition_size=30)
    assert costs.sum() == compiled.n_synapses + compiled.n_neurons
    np.testing.assert_array_equal(partition_costs(compiler, "neurons"),
                                  np.diff(compiled.part_start))


def test_codec_round_trips_in_step_then_id_order():
    codec = SpikeCodec(n_neurons=1000, chunk=15)
    gid = np.array([3, 999, 0, 5])
    step = np.array([100, 100, 107, 114])
    keys = codec.encode(gid, step, 100)
    assert keys.dtype == np.uint32 and np.all(np.diff(keys.astype(np.int64)) > 0)
    back = codec.decode(keys, 100)
    np.testing.assert_array_equal(back[0], gid)
    np.testing.assert_array_equal(back[1], step)
    assert SpikeCodec(n_neurons=2**31, chunk=4).dtype == np.uint64


def test_allgather_volume_tends_to_every_spike_per_rank():
    from brainmac.parallel.model import allgather_cost, fixed_slot_cost

    assert allgather_cost(1000, 5.0, 1).bytes_received == 0
    two, many = allgather_cost(77169, 4.0, 2), allgather_cost(77169, 4.0, 1024)
    assert two.bytes_received == pytest.approx(4 * 77169 * 4.0 / 2 + 8 * 10_000)
    assert many.bytes_received > 1.9 * two.bytes_received  # not shrinking with R
    assert many.collectives == 2 * 10_000 == 2 * many.chunks_per_s
    fixed = fixed_slot_cost(77169, 4.0, 2, slot=63)
    assert fixed.bytes_received == 4 * 64 * 10_000 and fixed.collectives == 10_000


@_with_mpi
def test_a_launcher_whose_ranks_mpi_cannot_see_is_refused(tmp_path):
    """A foreign launcher (its size in the environment, MPI sees one rank) would start R
    independent runs into one directory: refused."""
    done = subprocess.run([sys.executable, "-m", "brainmac.cli", "run", *BRUNEL, "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PMI_SIZE="2", PMI_RANK="0"))
    assert done.returncode == 2
    assert "the launcher started 2 ranks but MPI sees 1" in done.stderr


# -- stores over MPI ---------------------------------------------------------------------
STORE_PARTITION = 100  # brunel order 50 (250 neurons): partitions E 0-99, 100-199, I 200-249


@pytest.fixture(scope="module")
def brunel_store(tmp_path_factory):
    """The network of BRUNEL as a store, in 3 partitions."""
    path = tmp_path_factory.mktemp("store") / "brunel.store"
    write_store(build("brunel", order=50), path, partition_size=STORE_PARTITION)
    return path


def _owners(path: Path, edges: list[int], full) -> list[RankNetwork]:
    """Each rank's partial open of the store, with the whole store's delay range."""
    ranges = list(zip(edges[:-1], edges[1:], strict=True))
    shares = [open_partitions(path, owned) for owned in ranges]
    return [RankNetwork(n.profile, n.dt_ms, n.seed, n.arrays, n.manifest,
                        owned=owned, global_delays=(full.min_delay, full.max_delay),
                        global_synapses=full.n_synapses)
            for n, owned in zip(shares, ranges, strict=True)]


@pytest.mark.parametrize("edges", [[0, 1, 3], [0, 2, 3], [0, 1, 2, 3]])
def test_partial_opens_of_a_store_give_the_one_process_spikes(brunel_store, edges):
    """Ranks (here threads) that each open only their partitions of a store and exchange
    spikes give the spikes of the whole store in one process."""
    full = open_store(brunel_store)
    single = Simulator(full, threads=1)
    single.run(60.0)
    owners = _owners(brunel_store, edges, full)
    slots = [*full.syn_base, full.s_value.size]  # s_index holds 7/4 bytes per slot
    for net in owners:
        a, b = net.owned
        np.testing.assert_array_equal(net.s_value, full.s_value[slots[a]:slots[b]])
        np.testing.assert_array_equal(net.s_index,
                                      full.s_index[7 * slots[a] // 4:7 * slots[b] // 4])
        assert not net.row_syn[:a].any() and not net.row_syn[b:].any()
    hub = ThreadAllgather(len(owners))
    sims = [Simulator(net, threads=1, owned=net.owned, exchange=hub.exchange_for(r))
            for r, net in enumerate(owners)]
    runs = [threading.Thread(target=sim.run, args=(60.0,)) for sim in sims]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    gid = np.concatenate([sim.spike_arrays()[0] for sim in sims])
    step = np.concatenate([sim.spike_arrays()[1] for sim in sims])
    order = np.lexsort((gid, step))
    gid_one, step_one = single.spike_arrays()
    assert gid_one.size > 100
    np.testing.assert_array_equal(gid[order], gid_one)
    np.testing.assert_array_equal(step[order], step_one)


def _poke(path: Path, name: str, index, value) -> None:
    array = np.load(path / f"{name}.npy", mmap_mode="r+")
    assert not np.array_equal(array[index], value), "the poke changes nothing"
    array[index] = value
    array.flush()


def _damage(path: Path, name: str, index, value) -> None:
    """Set ``name[index] = value``; for s_index the 12-bit target of slot ``index`` (-1: the
    last synapse of partition 2), for g_code damage ``value`` (test_store.damage_codes) to
    the first row of partition ``index``."""
    if name == "s_index":
        set_target(path, last_slot(path, 2) if index == -1 else index, value)
    elif name == "g_code":
        damage_codes(path, value, index)
    else:
        _poke(path, name, index, value)


@pytest.mark.parametrize("name,index,value,found_by,message", [
    ("s_index", -1, 4095, [(2, 3)],
     r"s_index\.npy: synapse slot \d+ targets neuron 4095, outside partition 2"),
    ("s_index", 5, 150, [(0, 1), (0, 2)],
     r"s_index\.npy: synapse slot 5 targets neuron 150, outside partition 0"),
    ("g_code", 0, "count", [(0, 1)],
     r"g_code\.npy: the codes of row \d+ of partition 0 count other synapses"),
    ("g_code", 2, "gain index past gain_value", [(2, 3), (1, 3)],
     r"g_code\.npy: the codes of row \d+ of partition 2 .* names a gain index outside"),
    ("row_syn", (1, 40), 4_000_000_000, [(1, 2), (1, 3)], r"row_syn\.npy: row 1 must start"),
    ("syn_base", 1, 0, [(0, 1), (2, 3)], r"syn_base\.npy: must be the running sum"),
    ("row_grp", (2, -1), 60_000, [(0, 1), (2, 3)], r"grp_base\.npy: must be the running sum"),
    ("drive_cdf", (1, -1), 0.5, [(0, 1), (2, 3)], r"drive_cdf\.npy: every row must be a CDF"),
])
def test_partial_open_checks_what_it_maps(brunel_store, tmp_path, name, index, value,
                                          found_by, message):
    """A damaged synapse array is found by the rank whose partitions it lies in (the others
    never map it); damaged bases, row totals or global arrays by every rank."""
    copy = Path(shutil.copytree(brunel_store, tmp_path / "copy.store"))
    _damage(copy, name, index, value)
    for owned in found_by:
        with pytest.raises(StoreError, match=message):
            open_partitions(copy, owned)
    if name in ("s_index", "g_code") and found_by[0][0] == 2:
        open_partitions(copy, (0, 2))  # partitions 0-1 do not hold the damaged entry


def test_partial_open_refuses_a_range_outside_the_store(brunel_store):
    with pytest.raises(StoreError, match=r"partitions \[2, 4\) are not a range inside"):
        open_partitions(brunel_store, (2, 4))


@_with_mpi
def test_store_over_two_ranks_gives_the_one_process_spikes(one_process, brunel_store,
                                                           tmp_path):
    """``mpiexec -n 2 brainmac run STORE``: each rank opens its partitions of the store."""
    out = tmp_path / "store2"
    done = brainmac_mpi(2, [str(brunel_store), *BRUNEL[3:], "--threads", "1",
                            "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_spikes(one_process, out)
    report = json.loads((out / "report.json").read_text())
    assert report["mpi"]["partitions_per_rank"] == [[0, 1], [1, 3]]
    assert report["synapses"] == open_store(brunel_store).n_synapses


@_with_mpi
def test_a_store_damaged_in_one_ranks_share_is_one_clear_error(brunel_store, tmp_path):
    """Only rank 1 maps partition 2, so only rank 1 finds the damage: the job still ends
    with one line naming that rank and the file, and exit status 2 (no hang)."""
    copy = Path(shutil.copytree(brunel_store, tmp_path / "copy.store"))
    _damage(copy, "s_index", -1, 4095)
    done = brainmac_mpi(2, [str(copy), *BRUNEL[3:], "--threads", "1",
                            "--out", str(tmp_path / "o")], timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.count("on MPI rank 1 of 2: StoreError") == 1, done.stderr
    assert "s_index.npy: synapse slot" in done.stderr


# -- checkpoints over MPI ------------------------------------------------------------------
CHECKPOINTED = ["brunel", "--scale", "0.02", "--warmup", "0ms", "--duration", "1s",
                "--threads", "1", "--quiet"]
EVERY = ["--checkpoint-every", "100ms"]


def _checkpoint_step(out: Path) -> int:
    try:
        return json.loads((out / CHECKPOINT_DIR / INDEX).read_text())["step"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1


def _killed_after_a_checkpoint(out: Path, first_step: int) -> int:
    """Start ``mpiexec -n 2 brainmac run`` with checkpoints, SIGKILL its process group once
    a checkpoint at ``first_step`` or later is written; returns the checkpoint's step."""
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "brainmac.cli", "run", *CHECKPOINTED,
           *EVERY, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            env=dict(os.environ, MPIR_CVAR_ENABLE_HEAVY_YIELD="1"))
    deadline = time.monotonic() + TIMEOUT_S
    while proc.poll() is None and _checkpoint_step(out) < first_step \
            and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.03)  # land between two checkpoints
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the job ended before it could be killed"
    return _checkpoint_step(out)


RESUME_TWO = """
import sys
from brainmac.cli import main
for out in sys.argv[1:]:
    if main(["run", "--resume", out, "--quiet"]):
        sys.exit(1)
"""


@_with_mpi
def test_checkpoint_resume_over_mpi_is_bit_identical(tmp_path):
    """A 2-rank run killed (SIGKILL of mpiexec's process group) after a checkpoint and
    resumed on 2 ranks, or in one process, writes the spikes of an uninterrupted run; a
    one-process checkpoint resumes on 2 ranks."""
    whole = tmp_path / "whole"
    assert main(["run", *CHECKPOINTED, "--out", str(whole)]) == 0
    one = tmp_path / "one"  # a one-process checkpoint (its last, at 900 ms)
    assert main(["run", *CHECKPOINTED, *EVERY, "--out", str(one)]) == 0
    killed = tmp_path / "killed"
    assert 3000 <= _killed_after_a_checkpoint(killed, 3000) < 10_000
    alone = Path(shutil.copytree(killed, tmp_path / "killed-alone"))
    done = mpirun(2, ["-c", RESUME_TWO, str(killed), str(one)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["run", "--resume", str(alone), "--quiet"]) == 0
    reference = json.loads((whole / "report.json").read_text())
    for out, ranks in ((killed, 2), (one, 2), (alone, None)):
        assert_same_spikes(whole, out)
        report = json.loads((out / "report.json").read_text())
        assert report.get("mpi", {}).get("ranks") == ranks
        if out == killed:  # resumed before its last checkpoint: writes the later ones
            assert report["mpi"]["checkpoints"] >= 1
        for key in ("spikes", "synaptic_events", "saturation", "populations"):
            assert report[key] == reference[key], (out.name, key)

