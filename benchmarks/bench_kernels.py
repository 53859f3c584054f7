"""Microbenchmarks of the numba CPU kernels: update, delivery, per-chunk overhead, whole runs.

Usage::

    python benchmarks/bench_kernels.py                       # every figure, current code
    python benchmarks/bench_kernels.py --baseline a1a7c4a    # beside a git revision's kernels
    python benchmarks/bench_kernels.py deliver --store mc    # delivery on a stored network
    python benchmarks/bench_kernels.py simulate --model microcircuit --scale 0.1 --threads 2

Figures (one thread unless said; the median and the minimum of interleaved repeats, so that
a baseline and the current code share the machine's load):

- ``update``: ns per neuron-step of ``update_partition`` on the first partition of the
  microcircuit (L2/3E, lif_exp, Poisson drive of 1,600 x 8 Hz), and with the drive replaced
  by DC. Neuron arrays only: no synapses are built.
- ``deliver``: ns per synaptic event to deliver Poisson spike trains at the reference rates
  of the microcircuit (PEERS.md) and to bring them to the neurons: the direct ring scatter
  plus the update's read of its ring slot (baseline), or queueing plus draining (current).
  Timed after max delay + 1 steps of spikes, when every slot holds events as in a run (a
  timing from empty queues drained few of the events it queued). One thread, delivery
  and draining only: a whole run (two threads, the neuron update between) can gain less.
  Builds the microcircuit at ``--scale`` (default 0.1) or opens ``--store``.
- ``chunk``: us per chunk of the whole step loop on a tiny network with a 1-step minimum
  delay (fork-join, gather, record), 1 and 2 threads.
- ``simulate``: real-time factor of a whole run (``Simulator.run``), ``--threads``.
- ``breakdown``: the current step loop, 1 thread, whole and without delivery (the neuron
  update, drains of empty queues and the fork-join only), s per biological second.

Every figure measures the plain grid (sub-step bits k = 0); a compiled network or store
with ``substep_bits > 0`` is refused.

A baseline revision is materialized from git into ``~/.cache/brainmac-bench/<rev>`` (its
backend and engine, imports rewritten) and imported beside the current code. Three update
call conventions are told apart and each driven with its own arguments: the direct ring
scatter (a1a7c4a), the per-slot event queues (a97dc03 up to the sub-step change), and the
queues with sub-step spike times (``sub``/``subs`` arguments of ``update_partition``,
``sub_bits`` of ``gather_chunk``; run at k = 0). ``deliver``, ``chunk`` and ``simulate``
run one network compiled by the current code through every version (each version's own
``Simulator``), so they compare only versions that read the compact synapse layout
(``brainmac.compile.codes``); an older baseline is left out of them with a note.
``breakdown`` runs the current code only.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# brainmac before numba: importing it sets numba's vector width, as in a run
from brainmac import rng  # noqa: E402

# isort: split
from numba import njit  # noqa: E402

from brainmac.compile import compile_network  # noqa: E402
from brainmac.compile.compiler import Compiler  # noqa: E402
from brainmac.compile.rows import kernel_tables  # noqa: E402
from brainmac.models import build  # noqa: E402

#: Microcircuit rates (Hz) of NEST 3.10 at full scale (PEERS.md), per population.
MC_RATES_HZ = (0.86, 2.96, 4.41, 5.87, 7.72, 8.63, 1.13, 7.84)
BACKEND_FILES = ("backends/numba_cpu/neuron_kernels.py", "backends/numba_cpu/synapse_kernels.py",
                 "backends/numba_cpu/driver.py", "engine/simulator.py")


# -- code versions -----------------------------------------------------------------------
class Version:
    """One version of the kernels: the current tree, or a git revision's backend."""

    def __init__(self, rev: str | None) -> None:
        self.name = rev or "current"
        if rev is None:
            from brainmac.backends.numba_cpu import driver, neuron_kernels, synapse_kernels
            from brainmac.engine import simulator
        else:
            pkg = _materialize(rev)
            mods = __import__(pkg, fromlist=["neuron_kernels", "synapse_kernels", "driver",
                                             "simulator"])
            neuron_kernels, synapse_kernels = mods.neuron_kernels, mods.synapse_kernels
            driver, simulator = mods.driver, mods.simulator
        self.nk, self.sk, self.driver, self.simulator = (neuron_kernels, synapse_kernels,
                                                         driver, simulator)
        self.queues = hasattr(synapse_kernels, "drain_slot")  # else: direct ring scatter
        self.substep = hasattr(synapse_kernels, "drain_slot_sub")  # sub-step signatures
        self.compact = hasattr(synapse_kernels, "target_at")  # reads the compact layout
        self.row_stride = "row_stride" in inspect.signature(  # reads the neuron layout too
            synapse_kernels.deliver_partition.py_func).parameters


def compact_versions(versions: list[Version], figure: str, compiled=None) -> list[Version]:
    """The versions that can run ``compiled`` (a network compiled by the current code)."""
    neuron = getattr(compiled, "layout", "partition") == "neuron"
    out = []
    for ver in versions:
        if not ver.compact:
            print(f"{figure}: {ver.name} predates the compact synapse layout; left out")
        elif neuron and not ver.row_stride:
            print(f"{figure}: {ver.name} predates the neuron row layout; left out "
                  "(--layout partition compares it)")
        else:
            out.append(ver)
    return out


def _materialize(rev: str) -> str:
    """Copy ``rev``'s backend and engine into a cached package; returns its name."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    pkg = f"bm_baseline_{sha}"
    base = Path.home() / ".cache" / "brainmac-bench"
    target = base / pkg
    target.mkdir(parents=True, exist_ok=True)
    for path in BACKEND_FILES:
        text = subprocess.run(["git", "show", f"{sha}:brainmac/{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        for mod in ("neuron_kernels", "synapse_kernels", "driver"):
            text = text.replace(f"from brainmac.backends.numba_cpu.{mod} import",
                                f"from {pkg}.{mod} import")
        text = text.replace("from brainmac.backends.numba_cpu import driver",
                            f"from {pkg} import driver")
        out = target / Path(path).name
        if not out.exists() or out.read_text() != text:
            out.write_text(text)
    (target / "__init__.py").touch()
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    return pkg


def timed(fns: dict, repeats: int) -> dict:
    """Interleaved repeats of ``fn(r)``, which may return its amount of work (default 1);
    returns name -> (median, min) seconds per unit of work."""
    times = {k: [] for k in fns}
    for r in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            work = fn(r)
            times[k].append((time.perf_counter() - start) / (1 if work is None else work))
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


# -- update ------------------------------------------------------------------------------
def _update_loop(kernel, queues: bool, substep: bool = False):
    if substep:
        @njit
        def loop_sub(t0, steps, p, n0, n1, state, net, key, sat, spikes, scratch, acc):
            v, i_ex, i_in, refr = state
            (coef, const, levels, ref_steps, model, thr, win, bounds, weight, rec, window,
             sub, subs) = net
            total = 0
            for t in range(t0, t0 + steps):
                total += kernel(p, t, n0, n1, acc, v, i_ex, i_in, refr, coef, const, levels,
                                ref_steps, model, thr, win, bounds, weight, rec, window, key,
                                np.int64(24), np.int64(32767), sub, sat, spikes, subs, 0,
                                scratch)
            return total
        return loop_sub

    if queues:
        @njit
        def loop(t0, steps, p, n0, n1, state, net, key, sat, spikes, scratch, acc):
            v, i_ex, i_in, refr = state
            coef, const, levels, ref_steps, model, thr, win, bounds, weight, rec, window = net
            total = 0
            for t in range(t0, t0 + steps):
                total += kernel(p, t, n0, n1, acc, v, i_ex, i_in, refr, coef, const, levels,
                                ref_steps, model, thr, win, bounds, weight, rec, window, key,
                                np.int64(24), np.int64(32767), sat, spikes, 0, scratch)
            return total
        return loop

    @njit
    def loop_ring(t0, steps, p, n0, n1, state, net, key, sat, spikes, scratch, ring):
        v, i_ex, i_in, refr = state
        coef, levels, ref_steps, model, cdf, guide, table, rec = net
        total = 0
        for t in range(t0, t0 + steps):
            total += kernel(p, t, n0, n1, ring, v.size, 2, v, i_ex, i_in, refr, coef, levels,
                            ref_steps, model, cdf, guide, table, rec, key, np.int64(24),
                            np.int64(32767), sat, spikes, 0)
        return total
    return loop_ring


def bench_update(versions, repeats: int, steps: int = 10) -> list[dict]:
    rows = []
    for drive in ("poisson", "dc"):
        comp = Compiler(build("microcircuit", scale=1.0, drive=drive), "seed", 0.1, 1)
        a, _ = comp.neuron_arrays()
        n = int(a["part_start"][-1])
        n0, n1 = int(a["part_start"][0]), int(a["part_start"][1])
        key = np.uint64(rng.stream_key(1, rng.STREAM_STEP))
        fns = {}
        for ver in versions:
            state = (a["v_init"].copy(), np.zeros(n, np.int16), np.zeros(n, np.int16),
                     np.zeros(n, np.int64))
            sat = np.zeros((a["coef"].shape[0], 3), np.int64)
            spikes = np.empty(n * steps, np.int64)
            loop = _update_loop(ver.nk.update_partition, ver.queues, ver.substep)
            if ver.queues:
                no_synapses = {k: np.zeros((1, 2), np.uint32) for k in SYN_NAMES}
                neu, _ = ver.driver.kernel_arrays({**a, **no_synapses}, key, 24, 32767)
                net = neu[1:12]
                block = ver.nk.BLOCK
                # two words per neuron until session 12 (one since): room for either
                scratch = (np.empty(2 * block, np.uint64), np.empty(block, np.uint32),
                           np.empty(block, np.int32), np.empty(block, np.bool_))
                if ver.substep:  # k = 0: the plain-grid sub tuple, no offsets written
                    net = net + (neu[15:20], np.zeros(1, np.int64))
                    scratch = scratch + (np.empty(block), np.empty(block))
                extra = np.zeros(2 * (n1 - n0), np.int32)
            else:
                net = (a["coef"], a["levels"], a["ref_steps"], a["model_code"], a["drive_cdf"],
                       a["drive_guide"], a["drive_table"], a["drive_receptor"])
                scratch, extra = 0, np.zeros(2 * 2 * n, np.int32)
            args = (0, n0, n1, state, net, key, sat, spikes, scratch, extra)
            fns[ver.name] = (lambda r, loop=loop, args=args:
                             [loop(r * steps, steps, *args)] and None)
            loop(0, 1, *args)
        for name, (med, low) in timed(fns, repeats).items():
            per = steps * (n1 - n0)
            rows.append({"figure": f"update ({drive} drive)", "version": name,
                         "median": med / per * 1e9, "min": low / per * 1e9,
                         "unit": "ns/neuron-step"})
    return rows


SYN_NAMES = ("syn_base", "grp_base", "row_syn", "row_grp", "g_code", "s_index", "s_value")


# -- delivery ----------------------------------------------------------------------------
def spike_trains(compiled, steps: int, rates_hz, seed: int = 5):
    """Poisson spikes of every neuron at its population's rate: (gids, per-step offsets)."""
    gen = np.random.default_rng(seed)
    sizes = [p["size"] for p in compiled.populations]
    prob = np.repeat(np.asarray(rates_hz) * compiled.dt_ms * 1e-3, sizes)
    ids, offsets = [], np.zeros(steps + 1, np.int64)
    for t in range(steps):
        fired = np.flatnonzero(gen.random(prob.size) < prob)
        ids.append(fired)
        offsets[t + 1] = offsets[t] + fired.size
    return np.concatenate(ids).astype(np.int64), offsets


def _deliver_loop(sk):
    deliver, drain = sk.deliver_partition, sk.drain_slot

    @njit
    def replay(t0, steps, offsets, gids, store, ring, syn, part_start):
        queues_, acc, table = store
        n_total = part_start[-1]
        n_slots = ring.size // (2 * n_total)
        slot = np.empty(gids.size, np.int64)
        sub = np.zeros(gids.size, np.int64)  # k = 0: every offset is 0
        events = 0
        for t in range(t0, t0 + steps):
            m0, m1 = offsets[t], offsets[t + 1]
            slot[m0:m1] = t % n_slots
            for p in range(part_start.size - 1):
                n0, n1 = part_start[p], part_start[p + 1]
                acc_p = acc[2 * n0: 2 * n1]
                drain(p, t % n_slots, queues_, ring, n_total, n0, n1 - n0, acc_p)
                acc_p[:] = 0  # the update reads and clears its input
                events += deliver(p, gids[m0:m1], slot[m0:m1], sub[m0:m1], m1 - m0,
                                  queues_, ring, n_total, n_slots, part_start, *syn,
                                  np.int64(0), table)
        return events
    return replay


def bench_deliver(versions, repeats: int, compiled, steps: int = 40) -> list[dict]:
    a = compiled.arrays
    n = compiled.n_neurons
    n_slots = compiled.max_delay + 1
    fill = n_slots  # steps before timing: every slot then holds queued events, as in a run
    gids, offsets = spike_trains(compiled, fill + steps * repeats, MC_RATES_HZ)
    fns = {}
    for ver in compact_versions(versions, "deliver", compiled):
        tables = (kernel_tables(a, compiled.layout) if ver.row_stride  # flat, and strides
                  else (a["row_syn"], a["row_grp"]))
        syn = (a["syn_base"], a["grp_base"], *tables, *(a[k] for k in SYN_NAMES[4:]),
               a["gain_value"], a["gain_receptor"])
        ring = np.zeros(n_slots * 2 * n, compiled.profile.ring_dtype)
        pages = ver.driver.queue_pages(compiled.partition_synapses(), compiled.delay_stats()[2],
                                       compiled.dt_ms)
        packed = ((ver.driver.packed_events(a["s_value"], a["gain_value"], ring.dtype, 0),)
                  if hasattr(ver.driver, "packed_events") else ())  # older: no such flag
        store = (ver.driver.empty_queues(pages, n_slots, ring.dtype, *packed),
                 np.zeros(2 * n, ring.dtype),
                 np.zeros((compiled.n_partitions, 4, 1), ring.dtype))  # k = 0 input tables
        replay = _deliver_loop(ver.sk)
        replay(0, fill, offsets, gids, store, ring, syn, a["part_start"])
        fns[ver.name] = (lambda r, replay=replay, store=store, ring=ring, syn=syn:
                         replay(fill + r * steps, steps, offsets, gids, store, ring, syn,
                                a["part_start"]))
    return [{"figure": "deliver (+ input read)", "version": name, "median": med * 1e9,
             "min": low * 1e9, "unit": "ns/event"}
            for name, (med, low) in timed(fns, repeats).items()]


# -- chunk overhead and whole runs --------------------------------------------------------
def tiny_network():
    """20 neurons, 1-step delays, no drive: the step loop's fixed cost per chunk."""
    from brainmac.network import FixedIndegree, Network

    net = Network("tiny")
    params = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=10.0, V_th=20.0)
    e = net.population("E", 10, "lif_delta", params, v_init=0.0)
    i = net.population("I", 10, "lif_delta", params, v_init=0.0)
    net.connect(e, i, FixedIndegree(2), 0.1, 0.1)
    return net


def bench_simulate(versions, repeats: int, compiled, threads: int, piece_ms: float,
                   figure: str, unit_per_chunk: bool = False) -> list[dict]:
    sims = {v.name: v.simulator.Simulator(compiled, threads=threads, record=None)
            for v in compact_versions(versions, figure, compiled)}
    for sim in sims.values():
        sim.compile_kernels()
        sim.run(piece_ms)
    res = timed({k: (lambda r, s=s: s.run(piece_ms)) for k, s in sims.items()}, repeats)
    steps = round(piece_ms / compiled.dt_ms)
    chunks = -(-steps // max(1, compiled.min_delay))
    rows = []
    for name, (med, low) in res.items():
        if unit_per_chunk:
            rows.append({"figure": figure, "version": name, "median": med / chunks * 1e6,
                         "min": low / chunks * 1e6, "unit": "us/chunk"})
        else:
            scale = 1000.0 / piece_ms
            rows.append({"figure": figure, "version": name, "median": med * scale,
                         "min": low * scale, "unit": "s/biological s (RTF)"})
    return rows


def bench_breakdown(compiled, repeats: int, piece_ms: float) -> list[dict]:
    """Current code, 1 thread: whole step loop against the update alone (no delivery)."""
    import numba

    from brainmac.backends.numba_cpu import driver
    from brainmac.engine.simulator import Simulator

    @njit
    def update_only(t0, n_steps, cap, schedule, state, acc, queues, net, buf, samples):
        part_start = net[0][0]
        empty = np.zeros(0, np.int64)
        counters = driver.empty_counters(part_start.size - 1)
        for t in range(t0, t0 + n_steps):
            driver.chunk_region(t, 1, t0, cap, 0, empty, empty, schedule, state, acc, queues,
                                net, buf, empty, np.zeros(part_start.size, np.int64), samples,
                                counters)
            driver.gather_chunk(t, 1, cap, (0, part_start.size - 1), part_start, buf,
                                net[0][15])

    numba.set_num_threads(1)
    sim = Simulator(compiled, threads=1, record=None)
    sim.compile_kernels()
    sim.run(piece_ms)
    steps = round(piece_ms / compiled.dt_ms)
    samples = np.zeros((3, 0, 0), compiled.profile.state_dtype)

    def alone(r):
        schedule = driver.schedule(sim.owned, compiled.part_start,
                                   compiled.partition_synapses(),
                                   sim.events, sim.stats.steps, 1)
        state = (sim.v, sim.i_ex, sim.i_in, sim.refr, sim.ring)
        update_only(np.int64(sim.step), np.int64(steps), np.int64(sim._cap), schedule, state,
                    sim._acc, sim._queues, sim._net_tuple, sim._buffers, samples)

    res = timed({"whole step loop": lambda r: sim.run(piece_ms), "update only": alone},
                max(3, repeats // 5))
    return [{"figure": f"breakdown: {k}", "version": "current", "median": med * 1000 / piece_ms,
             "min": low * 1000 / piece_ms, "unit": "s/biological s, 1 thread"}
            for k, (med, low) in res.items()]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("figures", nargs="*", default=["update", "deliver", "chunk"],
                        choices=["update", "deliver", "chunk", "simulate", "breakdown"])
    parser.add_argument("--baseline", default=None, help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--store", default=None, help="deliver/simulate: a store directory")
    parser.add_argument("--model", default="microcircuit", choices=["microcircuit", "brunel"])
    parser.add_argument("--scale", type=float, default=0.1, help="microcircuit scale")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--duration", type=float, default=20.0, help="simulate: ms per repeat")
    parser.add_argument("--layout", default="neuron", choices=["neuron", "partition"],
                        help="row layout of the compiled network (brainmac.compile.rows); "
                             "a baseline before the neuron layout needs 'partition'")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    versions = ([Version(args.baseline)] if args.baseline else []) + [Version(None)]
    compiled = None
    if {"deliver", "simulate", "breakdown"} & set(args.figures):
        if args.store:
            from brainmac.store import open_store
            compiled = open_store(args.store)
        else:
            net = (build("brunel", order=round(2500 * args.scale)) if args.model == "brunel"
                   else build("microcircuit", scale=args.scale))
            compiled = compile_network(net, "seed", 0.1, 1, threads=2, layout=args.layout)
        if getattr(compiled, "substep_bits", 0):
            parser.error(f"{args.store}: substep_bits = {compiled.substep_bits}; these "
                         "figures measure the plain grid (k = 0) only")
    rows = []
    if "update" in args.figures:
        rows += bench_update(versions, args.repeats)
    if "deliver" in args.figures:
        rows += bench_deliver(versions, args.repeats, compiled)
    if "chunk" in args.figures:
        tiny = compile_network(tiny_network(), "seed", 0.1, 1, partition_size=10)
        for threads in (1, 2):
            rows += bench_simulate(versions, args.repeats, tiny, threads, 20.0,
                                   f"chunk overhead, {threads} thread(s)", unit_per_chunk=True)
    if "simulate" in args.figures:
        rows += bench_simulate(versions, max(3, args.repeats // 5), compiled, args.threads,
                               args.duration, f"simulate, {args.threads} thread(s)")
    if "breakdown" in args.figures:
        rows += bench_breakdown(compiled, args.repeats, args.duration)
    for row in rows:
        print(f"{row['figure']:<34} {row['version']:<10} median {row['median']:9.2f}  "
              f"min {row['min']:9.2f}  {row['unit']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
