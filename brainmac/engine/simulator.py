"""The engine: owns the dynamic state of a compiled network and steps it in blocks.

>>> sim = Simulator(compiled, threads=2)
>>> sim.run(1000.0)             # ms; call again to continue
>>> spikes = sim.spikes()       # {population: (times_ms, node_ids)}
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numba
import numpy as np

from brainmac import rng
from brainmac.backends.numba_cpu import driver
from brainmac.compile import substep
from brainmac.compile.compiled import CompiledNetwork
from brainmac.errors import ConfigError

MAX_RECORD_PER_BLOCK = 20_000_000  # spikes a block may record; bounds the block length
DEFAULT_BLOCK_MS = 100.0  # progress is reported once per block


@dataclass
class RunStats:
    """Counters of everything run so far."""

    steps: int = 0
    wall_s: float = 0.0
    spikes: int = 0
    events: int = 0


class Simulator:
    """Step a compiled network.

    Parameters
    ----------
    net : CompiledNetwork
    threads : int, optional
        Numba threads (default: all cores). Results do not depend on it.
    record : "all", None, iterable of population names, or float in (0, 1]
        Which neurons' spikes are kept: all, none, whole populations, or the first fraction
        of every population.
    samples : mapping population -> iterable of local ids, optional
        Neurons whose V and currents are sampled every step (state units converted to
        mV and pA by :meth:`samples`).
    spike_sink : callable(gid, tick), optional
        Receives each block's recorded spikes (global ids and ticks, in (tick, id) order;
        a tick is the step on the plain grid, see :meth:`spike_arrays`, and
        :meth:`ticks_to_ms` gives times), e.g. to write them to disk as the run goes; they
        are kept in memory as well.
    owned : (first, stop) partitions, optional
        The partitions this process steps (default: all). With several processes (MPI
        ranks), each owns a contiguous range and records only its own neurons' spikes.
    exchange : callable(gid, tick) -> (gid, tick), optional
        Called once per chunk with this process's spikes; must return every process's
        spikes of the chunk in (tick, id) order. Required when ``owned`` is not all.
    event_pool_bytes : int, optional
        Bound on the memory of the per-partition event queues (bytes; default an eighth of
        the machine's memory). Pools start at the events expected in flight and double
        when they run dry, up to this bound; a dry pool at the bound flushes into the ring
        buffer, which changes speed, never results.
    """

    def __init__(self, net: CompiledNetwork, threads: int | None = None,
                 record: str | float | Iterable[str] | None = "all",
                 samples: dict[str, Iterable[int]] | None = None,
                 spike_sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
                 owned: tuple[int, int] | None = None,
                 exchange: Callable[[np.ndarray, np.ndarray],
                                    tuple[np.ndarray, np.ndarray]] | None = None,
                 event_pool_bytes: int | None = None) -> None:
        self.net = net
        self.threads = _check_threads(threads)
        a = net.arrays
        n = net.n_neurons
        profile = net.profile
        self.chunk = max(1, net.min_delay)
        self.n_slots = net.max_delay + self.chunk
        self.substep_bits = net.substep_bits
        channels = 3 if self.substep_bits else 2
        input_dtype = substep.accumulator_dtype(profile, self.substep_bits)
        self.v = a["v_init"].copy()
        self.i_ex = np.zeros(n, profile.state_dtype)
        self.i_in = np.zeros(n, profile.state_dtype)
        self.refr = np.zeros(n, np.int32)  # steps left; 4 bytes, as read every step
        self.ring = np.zeros(self.n_slots * channels * n, input_dtype)
        self.step = 0
        self.stats = RunStats()
        self.sat = np.zeros((net.n_partitions, 3), np.int64)
        self.events = np.zeros(net.n_partitions, np.int64)
        self.owned = self._check_owned(owned, exchange)
        self.exchange = exchange
        self.rec_mask = self._record_mask(record)
        first, stop = net.part_start[self.owned[0]], net.part_start[self.owned[1]]
        self.rec_mask[:first] = False
        self.rec_mask[stop:] = False
        self.spike_sink = spike_sink
        self._spike_gid: list[np.ndarray] = []
        self._spike_step: list[np.ndarray] = []
        self._sample_gid, self._sample_part = self._sample_index(samples or {})
        self._samples: list[np.ndarray] = []
        self._cap = driver.spike_capacity_per_neuron(self.chunk, int(a["ref_steps"].min()))
        self._buffers = driver.empty_buffers(n, net.n_partitions, self.threads, self.chunk,
                                             self._cap, self.substep_bits)
        self._net_tuple = driver.kernel_arrays(
            a, rng.stream_key(net.seed, rng.STREAM_STEP), profile.frac_bits, profile.state_max,
            net, net.layout)
        self._acc = driver.empty_accumulator(net.part_start, input_dtype, self.threads,
                                             channels)
        self._packed = driver.packed_events(a["s_value"], a["gain_value"], profile.ring_dtype,
                                            self.substep_bits)
        self._pool_cap = driver.pool_page_cap(event_pool_bytes, net.n_partitions,
                                              profile.ring_dtype, self._packed)
        self._queue_pages = np.minimum(driver.queue_pages(
            net.partition_synapses(), net.delay_stats()[2] / 2**self.substep_bits, net.dt_ms),
            self._pool_cap)
        self._queues = self._empty_queues()

    # -- setup -------------------------------------------------------------------------
    def _check_owned(self, owned, exchange) -> tuple[int, int]:
        n_parts = self.net.n_partitions
        if owned is None:
            return (0, n_parts)
        first, stop = (int(x) for x in owned)
        if not 0 <= first < stop <= n_parts:
            raise ConfigError(f"owned partitions {owned} are not a range inside [0, {n_parts}]")
        if (first, stop) != (0, n_parts) and exchange is None:
            raise ConfigError("a simulator that owns part of the network needs an exchange")
        return first, stop

    def _population_slices(self) -> dict[str, slice]:
        return {p["name"]: slice(p["start"], p["start"] + p["size"])
                for p in self.net.populations}

    def _record_mask(self, record) -> np.ndarray:
        mask = np.zeros(self.net.n_neurons, bool)
        slices = self._population_slices()
        if record is None:
            return mask
        if isinstance(record, str) and record == "all":
            mask[:] = True
        elif isinstance(record, int | float) and not isinstance(record, bool):
            if not 0 < record <= 1:
                raise ConfigError(f"record fraction must be in (0, 1], got {record}")
            for sl in slices.values():
                mask[sl.start: sl.start + max(1, round((sl.stop - sl.start) * record))] = True
        else:
            for name in [record] if isinstance(record, str) else record:
                if name not in slices:
                    raise ConfigError(f"cannot record unknown population {name!r}; "
                                      f"known: {list(slices)}")
                mask[slices[name]] = True
        return mask

    def _sample_index(self, samples) -> tuple[np.ndarray, np.ndarray]:
        slices = self._population_slices()
        gids = []
        for name, ids in samples.items():
            if name not in slices:
                raise ConfigError(f"cannot sample unknown population {name!r}")
            sl = slices[name]
            for i in ids:
                if not 0 <= int(i) < sl.stop - sl.start:
                    raise ConfigError(f"sample id {i} is outside population {name!r} "
                                      f"(size {sl.stop - sl.start})")
                gids.append(sl.start + int(i))
        gid = np.array(sorted(gids), np.int64)
        part = np.searchsorted(gid, self.net.part_start).astype(np.int64)
        return gid, part

    # -- running -----------------------------------------------------------------------
    def steps_for(self, duration_ms: float) -> int:
        """Whole steps in ``duration_ms``; a ConfigError if it is not a multiple of dt."""
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise ConfigError(f"duration must be a finite number of ms >= 0, got {duration_ms}")
        steps = duration_ms / self.net.dt_ms
        n = int(math.floor(steps + 0.5))
        if abs(steps - n) > 1e-6 * max(1.0, steps):
            raise ConfigError(f"duration {duration_ms} ms is not a multiple of dt="
                              f"{self.net.dt_ms} ms")
        return n

    def _block_steps(self) -> int:
        n_rec = max(int(self.rec_mask.sum()), 1)
        ref = int(self.net.ref_steps.min())
        by_memory = MAX_RECORD_PER_BLOCK * (ref + 1) // n_rec
        by_progress = max(1, round(DEFAULT_BLOCK_MS / self.net.dt_ms))
        return max(self.chunk, min(by_memory, by_progress))

    def compile_kernels(self) -> float:
        """Compile (or load from numba's cache) the kernels for this network's types, so that
        the first block's wall time is simulation only. Returns the seconds it took."""
        start = time.perf_counter()
        saved = self.stats.wall_s, self.stats.steps
        self._run_block(0)
        self._flush_all()  # what a pool that runs dry calls; a no-op on empty queues
        self.stats.wall_s, self.stats.steps = saved
        self._spike_gid.pop()
        self._spike_step.pop()
        return time.perf_counter() - start

    def run(self, duration_ms: float,
            progress: Callable[[int, int, Simulator], None] | None = None) -> None:
        """Advance by ``duration_ms`` (a multiple of dt). May be called again to continue.

        ``progress(done_steps, total_steps, simulator)`` is called after every block.
        """
        total = self.steps_for(duration_ms)
        block = self._block_steps()
        done = 0
        numba.set_num_threads(self.threads)
        while done < total:
            n = min(block, total - done)
            self._run_block(n)
            done += n
            if progress is not None:
                progress(done, total, self)

    def _run_block(self, n_steps: int) -> None:
        n_rec = int(self.rec_mask.sum())
        ref = int(self.net.ref_steps.min())
        capacity = n_rec * -(-n_steps // (ref + 1)) if n_rec else 0
        rec_gid = np.empty(capacity, np.int64)
        rec_step = np.empty(capacity, np.int64)
        samples = np.zeros((3, n_steps if self._sample_gid.size else 0, self._sample_gid.size),
                           self.net.profile.state_dtype)
        start = time.perf_counter()
        events_before = int(self.events.sum())
        state = (self.v, self.i_ex, self.i_in, self.refr, self.ring)
        schedule = driver.schedule(self.owned, self.net.part_start, self.net.partition_synapses(),
                                   self.events, self.stats.steps, self.threads)
        if self.exchange is None:
            got = driver.run_steps(
                np.int64(self.step), np.int64(n_steps), np.int64(self.chunk),
                np.int64(self._cap), schedule, state, self._acc, self._queues,
                self._net_tuple, self._buffers, self.rec_mask, rec_gid, rec_step,
                self._sample_gid, self._sample_part, samples, (self.sat, self.events))
        else:
            got = self._run_exchanging(n_steps, schedule, state, rec_gid, rec_step, samples)
        self._grow_queues()
        self.stats.wall_s += time.perf_counter() - start
        self.stats.steps += n_steps
        self.stats.spikes += int(got)
        self.stats.events += int(self.events.sum()) - events_before
        self.step += n_steps
        self._spike_gid.append(rec_gid[:got].copy())
        self._spike_step.append(rec_step[:got].copy())
        if self.spike_sink is not None:
            self.spike_sink(self._spike_gid[-1], self._spike_step[-1])
        if self._sample_gid.size:
            self._samples.append(samples)

    def _run_exchanging(self, n_steps, schedule, state, rec_gid, rec_step, samples) -> int:
        """The step loop with a spike exchange per chunk (several processes)."""
        owned = (np.int64(self.owned[0]), np.int64(self.owned[1]))
        chunk_gid, chunk_step = self._buffers[2], self._buffers[3]
        n_rec, t, stop = 0, self.step, self.step + n_steps
        gid = step = np.zeros(0, np.int64)
        counters = driver.empty_counters(self.net.n_partitions)
        while t <= stop:
            d = min(self.chunk, stop - t)
            if d == 0 and gid.size == 0:
                break
            driver.chunk_region(np.int64(t), np.int64(d), np.int64(self.step),
                                np.int64(self._cap), np.int64(gid.size), gid, step, schedule,
                                state, self._acc, self._queues, self._net_tuple, self._buffers,
                                self._sample_gid, self._sample_part, samples, counters)
            if d == 0:
                break
            m = driver.gather_chunk(np.int64(t), np.int64(d), np.int64(self._cap), owned,
                                    self.net.part_start, self._buffers,
                                    np.int64(self.substep_bits))
            n_rec = driver.record_chunk(m, chunk_gid, chunk_step, self.rec_mask, rec_gid,
                                        rec_step, np.int64(n_rec))
            gid, step = self.exchange(chunk_gid[:m].copy(), chunk_step[:m].copy())
            gid = np.ascontiguousarray(gid, np.int64)
            step = np.ascontiguousarray(step, np.int64)
            t += d
        driver.add_counters(counters, (self.sat, self.events))
        return n_rec

    def _grow_queues(self) -> None:
        """Double the event pools of the partitions whose pool ran dry in the last block, up
        to the cap (after moving every queued event into the ring: exact, see
        synapse_kernels)."""
        flushes = self._queues[8][:, 0]
        grown = np.where(flushes > 0, np.minimum(2 * self._queue_pages, self._pool_cap),
                         self._queue_pages)
        if np.array_equal(grown, self._queue_pages):
            return
        self._flush_all()
        self._queue_pages = grown
        self._queues = self._empty_queues()
        self._queues[7][:] = True  # the ring may hold input of any slot

    def _empty_queues(self) -> tuple:
        return driver.empty_queues(self._queue_pages, self.n_slots, self.net.profile.ring_dtype,
                                   self._packed)

    def _flush_all(self) -> None:
        neurons = self._net_tuple[0]
        driver.flush_all(self._queues, self.ring, self.net.part_start, neurons[15], neurons[17])

    # -- checkpoints ---------------------------------------------------------------------
    DYNAMIC_STATE = ("v", "i_ex", "i_in", "refr", "ring", "sat", "events")

    def state(self) -> dict[str, np.ndarray]:
        """The whole dynamic state (copies): neuron state, ring buffers, counters, and the
        step (the random streams are counter-based: the step is their only state)."""
        self._flush_all()  # queued input -> ring
        out = {name: getattr(self, name).copy() for name in self.DYNAMIC_STATE}
        out["step"] = np.array(self.step, np.int64)
        out["stats"] = np.array([self.stats.steps, self.stats.wall_s, self.stats.spikes,
                                 self.stats.events], np.float64)
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state` of a simulator of the same compiled network."""
        for name in self.DYNAMIC_STATE:
            current = getattr(self, name)
            value = np.asarray(state[name])
            if name == "refr" and value.dtype == np.int64:  # brainmac before 2026-12-06
                value = value.astype(current.dtype)  # counters <= ref_steps < 2**31
            if value.shape != current.shape or value.dtype != current.dtype:
                raise ConfigError(f"checkpoint array {name!r} has shape {value.shape} "
                                  f"{value.dtype}, expected {current.shape} {current.dtype}: "
                                  "it belongs to another network, profile or partitioning "
                                  "(brainmac before store format 4 cut networks into "
                                  "partitions of 4,096 neurons)")
            current[...] = value
        self._queues = self._empty_queues()
        self._queues[7][:] = True  # the input is in the ring
        self.step = int(state["step"])
        steps, wall, spikes, events = np.asarray(state["stats"]).tolist()
        self.stats = RunStats(int(steps), wall, int(spikes), int(events))

    # -- results -----------------------------------------------------------------------
    @property
    def time_ms(self) -> float:
        return self.step * self.net.dt_ms

    @property
    def tick_ms(self) -> float:
        """The sub-step, dt / 2**substep_bits (ms): the unit of spike ticks."""
        return self.net.dt_ms / 2**self.substep_bits

    def ticks_to_ms(self, ticks: np.ndarray) -> np.ndarray:
        """Spike times (ms) of spike ticks (:meth:`spike_arrays`): a spike of step t with
        offset sub is at (t - 1 + (sub + 1) / 2**k) dt, the end of its sub-step; with k = 0
        at t dt (``brainmac.compile.substep``)."""
        top = (1 << self.substep_bits) - 1
        return (ticks - top) * self.tick_ms

    def spike_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All recorded spikes as (global neuron id, tick), in (tick, id) order; a tick is
        ``step * 2**substep_bits + offset`` (the step itself on the plain grid)."""
        if not self._spike_gid:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        gid = np.concatenate(self._spike_gid)
        step = np.concatenate(self._spike_step)
        self._spike_gid, self._spike_step = [gid], [step]
        return gid, step

    def spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Recorded spikes per population: (times_ms, node_ids within the population)."""
        gid, step = self.spike_arrays()
        out = {}
        for name, sl in self._population_slices().items():
            sel = (gid >= sl.start) & (gid < sl.stop)
            out[name] = (self.ticks_to_ms(step[sel]), gid[sel] - sl.start)
        return out

    def samples(self) -> dict[str, np.ndarray]:
        """Sampled state in physical units: ``v_mV`` (absolute), ``i_ex_pA``, ``i_in_pA``;
        each of shape (steps, n_samples), columns in global neuron id order."""
        if not self._samples:
            return {}
        raw = np.concatenate(self._samples, axis=1).astype(np.float64)
        pops = self.net.populations
        starts = np.array([p["start"] for p in pops])
        owner = [pops[i] for i in np.searchsorted(starts, self._sample_gid, side="right") - 1]
        v_lsb = np.array([p["v_lsb_mv"] for p in owner])
        i_lsb = np.array([p["i_lsb_pa"] for p in owner])
        e_l = np.array([p["params"]["E_L"] for p in owner])
        return {"gid": self._sample_gid.copy(), "v_mV": raw[0] * v_lsb + e_l,
                "i_ex_pA": raw[1] * i_lsb, "i_in_pA": raw[2] * i_lsb}

    def saturation_counts(self) -> dict[str, int]:
        """Saturations so far, per state variable (fixed-point profiles; zero in float)."""
        total = self.sat.sum(axis=0)
        return {"v": int(total[0]), "i_ex": int(total[1]), "i_in": int(total[2])}


def _check_threads(threads: int | None) -> int:
    available = numba.config.NUMBA_NUM_THREADS
    if threads is None:
        return available
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
    if threads > available:
        raise ConfigError(f"threads={threads} exceeds the {available} numba can use here "
                          "(NUMBA_NUM_THREADS)")
    return int(threads)
