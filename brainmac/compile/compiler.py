"""compile: network description -> CompiledNetwork (quantized, partitioned, packed)."""

from __future__ import annotations

import ctypes
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from brainmac import rng
from brainmac.compile.codes import padded, target_bytes
from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.drives import guide_table, poisson_cdf
from brainmac.compile.generate import (
    _draw,
    _fill_pre,
    _stochastic_rounding,
    generate,
    post_counts,
    quantize,
)
from brainmac.compile.neurons import PopulationNumerics, network_numerics
from brainmac.compile.pack import (
    MAX_DELAY_STEPS,
    MAX_PARTITION_SIZE,
    PartitionSynapses,
    RowMerger,
    SortedRows,
    sort_rows,
)
from brainmac.compile.plan import N_RECEPTORS, ProjectionPlan, choose_gain, plan_projections
from brainmac.compile.profiles import Profile, get_profile
from brainmac.compile.rows import check_layout, chosen_layout, to_neuron_layout
from brainmac.compile.substep import check_substep_bits
from brainmac.errors import CapacityError, ConfigError
from brainmac.network.distributions import Normal, check_finite
from brainmac.network.network import DCDrive, Network, PoissonDrive
from brainmac.network.neurons import SOURCE_MODELS

#: Synapses generated and sorted at once per thread (~22 bytes each while built). Full-scale
#: PD14, 2 threads, compile alone (peak RSS, build s): 2**24 1.81-1.84 GiB, 14.8-15.8 s;
#: 2**23 1.72-1.77, 15.9-16.1; 2**22 1.39-1.44, 15.6-16.4; 2**21 1.27, 17.6 (more merging).
BUILD_BLOCK_SYNAPSES = 1 << 22
#: ... but at least this many per neuron of the network: blocks' rows (one per presynaptic
#: neuron) are merged at a cost per row and block (~650 ns), which outweighs generating
#: where a block holds a few synapses per row (random 1e6 x 1,000 in blocks of 2**22: ~4).
MERGE_SYNAPSES_PER_ROW = 32
SMALLEST_DEFAULT_PARTITION = 4096  # neurons
PARTITIONS_PER_WORKER = 2  # fewer, and one thread waits for another (a schedule balances)
DEFAULT_WORKERS = 2  # the threads a default partitioning is balanced for (a 2-core machine)


def default_partition_size(net: Network) -> int:
    """The partition size a network gets unless one is given: the largest of 16,384,
    8,192 and 4,096 neurons (long rows: delivery costs per group of a row as well as per
    synapse) that gives each of DEFAULT_WORKERS threads PARTITIONS_PER_WORKER partitions
    to balance, else 4,096. It depends on the network only (a store or a checkpoint runs
    with any thread count); results do not depend on it."""
    size = MAX_PARTITION_SIZE
    while size > SMALLEST_DEFAULT_PARTITION and (partition_bounds(net, size)[1].size
                                  < PARTITIONS_PER_WORKER * DEFAULT_WORKERS):
        size //= 2
    return size


def _check_options(dt_ms: float, seed: int, partition_size: int) -> float:
    dt_ms = check_finite("dt (ms)", dt_ms)
    if dt_ms <= 0:
        raise ConfigError(f"dt must be > 0 ms, got {dt_ms}")
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    if not 1 <= int(partition_size) <= MAX_PARTITION_SIZE:
        raise ConfigError(f"partition_size must be in [1, {MAX_PARTITION_SIZE}], "
                          f"got {partition_size}")
    return dt_ms


def _drives_by_population(net: Network) -> tuple[dict[str, float], dict[str, PoissonDrive]]:
    """DC per population, and its Poisson drive (a spike source's own train included)."""
    dc: dict[str, float] = {}
    poisson: dict[str, PoissonDrive] = {}
    for pop in net.populations:
        if pop.model in SOURCE_MODELS:
            p = pop.neuron
            poisson[pop.name] = PoissonDrive(pop, p["rate_hz"], 1.0, 1, p["start_ms"],
                                             p["stop_ms"])
    for drive in net.drives:
        name = drive.target.name
        if isinstance(drive, DCDrive):
            dc[name] = dc.get(name, 0.0) + drive.amplitude_pa
        elif name in poisson:
            raise ConfigError(f"population {name!r} has two Poisson drives; merge them into one "
                              "(rates of equal-weight drives add)")
        else:
            poisson[name] = drive
    return dc, poisson


def partition_bounds(net: Network, partition_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Split every population into near-equal blocks of at most ``partition_size`` neurons.

    Returns (part_start (P+1,), part_pop (P,)). Partitions never straddle populations.
    """
    starts, pops, offset = [], [], 0
    for index, pop in enumerate(net.populations):
        n_blocks = math.ceil(pop.size / partition_size)
        edges = np.linspace(0, pop.size, n_blocks + 1).round().astype(np.int64)
        starts.extend(offset + edges[:-1])
        pops.extend([index] * n_blocks)
        offset += pop.size
    return np.array([*starts, offset], np.int64), np.array(pops, np.int64)


@njit(cache=True, nogil=True)
def _tally_block(value, weight, gain_index, lsb, top, limit, count, sum_rel, max_rel, clipped):
    """Add one block's relative weight errors and clipped weights per gain index. A weight
    is clipped when it is stored at the largest mantissa ``top`` and lies beyond ``limit``
    steps (:func:`clip_limit`); a weight that stochastic rounding moved by more than half
    a step is not."""
    for s in range(value.size):
        gi = gain_index[s]
        stored = float(value[s])
        count[gi] += 1
        if abs(stored) >= top and abs(weight[s]) > limit * lsb[gi]:
            clipped[gi] += 1
        if weight[s] != 0.0:
            rel = abs(stored * lsb[gi] - weight[s]) / abs(weight[s])
            sum_rel[gi] += rel
            if rel > max_rel[gi]:
                max_rel[gi] = rel


def clip_limit(profile: Profile) -> tuple[float, float]:
    """(largest mantissa, largest weight in steps that rounds without clipping) of a
    profile: the mantissa plus half a step with nearest rounding, the mantissa itself with
    stochastic rounding (a weight beyond it cannot round up); float profiles never clip."""
    if not profile.fixed_point:
        return math.inf, math.inf
    top = float(profile.weight_max)
    return top, top + (0.5 if profile.rounding == "nearest" else 0.0)


class _QuantizationTally:
    """Sums of the relative weight error per gain index, merged over partitions.

    The float error sums are kept per partition, shape (P, n_gains), and added up in
    partition order only when read (:meth:`mean_rel`): the report is then the same bit
    for bit whatever order threads or MPI ranks built the partitions in (a rank's
    all-reduce adds zeros to the rows it did not build). Counts and maxima are exact
    in any order.
    """

    def __init__(self, n_partitions: int, n_gains: int, profile: Profile) -> None:
        self.lock = threading.Lock()
        self.top, self.limit = clip_limit(profile)
        self.count = np.zeros(n_gains, np.int64)
        self.sum_rel = np.zeros((n_partitions, n_gains))
        self.max_rel = np.zeros(n_gains)
        self.clipped = np.zeros(n_gains, np.int64)

    def add(self, partition: int, value: np.ndarray, weight: np.ndarray,
            gain_index: np.ndarray, lsb: np.ndarray) -> None:
        """Tally synapses of ``partition``: stored values, float weights and gain
        indices, shape (n,) each."""
        with self.lock:
            _tally_block(value, weight, gain_index, lsb, self.top, self.limit, self.count,
                         self.sum_rel[partition], self.max_rel, self.clipped)

    def mean_rel(self, gain_index: int) -> float:
        """Mean relative weight error of one gain index (0 where it has no synapses)."""
        count = int(self.count[gain_index])
        total = 0.0
        for row in self.sum_rel:  # partition order, never a pairwise or vector sum
            total += float(row[gain_index])
        return total / count if count else 0.0


SUB_BLOCK_SYNAPSES = 1 << 21  # synapses generated at once: bounds the float temporaries


def _post_ranges(plan, a: int, b: int) -> list[tuple[int, int, int]]:
    """Split posts [a, b) into ranges (lo, hi, synapses) of at most SUB_BLOCK_SYNAPSES
    synapses (at least one post each)."""
    ends = np.cumsum(post_counts(plan, a, b))
    ranges, start, done = [], a, 0
    while start < b:
        stop = a + int(np.searchsorted(ends, done + SUB_BLOCK_SYNAPSES, side="right"))
        stop = min(max(stop, start + 1), b)
        ranges.append((start, stop, int(ends[stop - a - 1]) - done))
        done = int(ends[stop - a - 1])
        start = stop
    return ranges


@njit(cache=True, nogil=True)
def _put_block(pre, post, delay, gain_index, p_start, at, c_pre, c_post, c_delay, c_gain):
    """Copy one block's ids into the partition's compact columns from ``at`` on."""
    for s in range(pre.size):
        c_pre[at + s] = pre[s]
        c_post[at + s] = post[s] - p_start
        c_delay[at + s] = delay[s]
        c_gain[at + s] = gain_index[s]


def _check_delays(plan, delay: np.ndarray) -> None:
    """Refuse delays that the packed uint16 delay field cannot hold."""
    if delay.size and delay.max() > MAX_DELAY_STEPS:
        raise CapacityError(f"projection {plan.label}: a delay of {delay.max()} units exceeds "
                            f"{MAX_DELAY_STEPS}; use a larger dt (or fewer sub-step bits)")


def _is_uniform(plan) -> bool:
    """Whether every synapse of the projection has the same weight, delay and gain, and
    every post neuron the same number of them (a fixed in-degree)."""
    return (plan.code == 1 and plan.param >= 1 and plan.weight_rule[0] == 0.0
            and plan.delay_rule[0] == 0.0)


@njit(cache=True, nogil=True)
def _fill_posts(first, k, out):
    """``k`` copies of each post id first, first + 1, ... (generation order)."""
    for j in range(out.size // k):
        out[j * k:(j + 1) * k] = first + j


def _put_uniform_block(plan, lo, hi, size, profile, dt_ms, p_start, columns, at, lsb, tally,
                       partition):
    """:func:`_put_block` for a uniform projection (:func:`_is_uniform`): only the
    presynaptic ids (and stochastic rounding's uniforms) are drawn; weight, delay and gain
    come from generating one post, values from :func:`generate`'s own rounding functions."""
    c_pre, c_post, c_value, c_delay, c_gain = (c[at:at + size] for c in columns)
    probe = generate(plan, lo, lo + 1, profile, dt_ms)
    _check_delays(plan, probe.delay)
    k = int(plan.param)
    offsets = np.arange(hi - lo + 1, dtype=np.int64) * k
    skip_self = plan.same_population and not plan.autapses
    _fill_pre(plan.code, plan.keys[0], lo, hi, plan.n_pre, plan.param, skip_self, offsets,
              c_pre)
    c_pre += plan.pre_start
    _fill_posts(lo + plan.post_start - p_start, k, c_post)
    c_delay[:], c_gain[:] = probe.delay[0], probe.gain_index[0]
    weight, gain = (np.broadcast_to(x[:1], size) for x in (probe.weight, probe.gain_index))
    if plan.rounding[0] == 0.0:
        c_value[:] = probe.value[0]
    else:
        to_round, uniforms = _stochastic_rounding(plan, lo, hi, offsets, weight)
        step = np.broadcast_to(plan.lsb[gain[:1] - 2 * plan.index], size)
        c_value[:] = quantize(to_round, step, profile, uniforms)
    tally.add(partition, c_value, weight, gain, lsb)


def _build_partition(net, plans, partition, p_start, p_stop, pop_index, offsets, profile,
                     dt_ms, n_gains, lsb, tally):
    """Generate the synapses onto neurons [p_start, p_stop) block by block into compact
    columns (pre int32, post uint16, value, delay uint16, gain uint16), then sort them into
    rows (targets relative to p_start)."""
    first = offsets[net.populations[pop_index].name]
    blocks = [(plan, *r) for plan in plans if plan.post_start == first
              for r in _post_ranges(plan, p_start - first, p_stop - first)]
    n = sum(size for *_, size in blocks)
    columns = [np.empty(n, np.int32), np.empty(n, np.uint16), np.empty(n, profile.weight_dtype),
               np.empty(n, np.uint16), np.empty(n, np.uint16)]
    c_pre, c_post, c_value, c_delay, c_gain = columns
    at, block = 0, None
    for plan, lo, hi, size in blocks:
        if _is_uniform(plan):
            _put_uniform_block(plan, lo, hi, size, profile, dt_ms, p_start, columns, at, lsb,
                               tally, partition)
            at += size
            continue
        block = generate(plan, lo, hi, profile, dt_ms)
        _check_delays(plan, block.delay)
        tally.add(partition, block.value, block.weight, block.gain_index, lsb)
        _put_block(block.pre, block.post, block.delay, block.gain_index, p_start, at,
                   c_pre, c_post, c_delay, c_gain)
        c_value[at:at + size] = block.value
        at += size
    del c_pre, c_post, c_value, c_delay, c_gain, block  # sort_rows drops the columns
    return sort_rows(columns, net.n_neurons, n_gains)


def built_in_order(build: Callable[[int], PartitionSynapses], first: int, stop: int,
                    threads: int):
    """Yield ``build(p)`` for p in [first, stop) in order, ``threads`` builds running while
    the caller takes the last one: no more than ``threads + 1`` partitions are held at once
    (``Executor.map`` runs ahead and keeps every finished one until it is taken)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = deque()
        for p in range(first, stop):
            pending.append(pool.submit(build, p))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def assemble_partitions(compiler: Compiler, owned: tuple[int, int], synapses: np.ndarray,
                        threads: int = 1,
                        progress: Callable[[int, int], None] | None = None
                        ) -> dict[str, np.ndarray]:
    """Build partitions ``owned`` = (first, stop) and copy each into the synapse arrays of
    the global layout as it arrives, so that a built partition is held only until it is
    copied (concatenating them all at the end would hold a second copy of the synapses).

    ``synapses`` (P,) are the exact counts (:meth:`Compiler.synapse_counts`): the synapse
    arrays are allocated once from them (each partition padded to a multiple of 4 slots,
    ``brainmac.compile.codes``). Row pointers of partitions outside ``owned`` stay zero
    (empty rows) and are never written, so they take no memory. Returns the synapse arrays
    and their bases (ARRAY_DOCS)."""
    first, stop = owned
    n_parts = compiler.n_partitions
    slots = padded(np.asarray(synapses, np.int64))
    inside = (np.arange(n_parts) >= first) & (np.arange(n_parts) < stop)
    slots = np.where(inside, slots, 0)
    n_slots = int(slots.sum())
    arrays: dict[str, np.ndarray] = {}
    codes, n_codes, at = [], np.zeros(n_parts, np.int64), 0
    built = built_in_order(compiler.build_partition, first, stop, max(1, threads))
    for p in range(first, stop):  # not enumerate: its cached tuple would hold a partition
        part = next(built)
        if not arrays:
            arrays = {"s_value": np.empty(n_slots, part.s_value.dtype),
                      "s_index": np.empty(target_bytes(n_slots), np.uint8),
                      **{name: np.zeros((n_parts, getattr(part, name).size),
                                        getattr(part, name).dtype)
                         for name in ("row_syn", "row_grp")}}
        if part.n_synapses != synapses[p] or part.s_value.size != slots[p]:
            raise RuntimeError(f"partition {p} holds {part.n_synapses} synapses, "
                               f"{synapses[p]} were counted")
        m = int(slots[p])
        arrays["s_value"][at:at + m] = part.s_value
        arrays["s_index"][target_bytes(at):target_bytes(at + m)] = part.s_index
        arrays["row_syn"][p] = part.row_syn
        arrays["row_grp"][p] = part.row_grp
        at += m
        codes.append(part.g_code)
        n_codes[p] = part.g_code.size
        del part
        release_free_heap()  # the build's temporaries, freed in pieces the heap would keep
        if progress is not None:
            progress(p + 1 - first, stop - first)
    arrays["g_code"] = np.concatenate(codes) if codes else np.zeros(0, np.uint8)
    arrays["syn_base"] = _running_sum(slots)
    arrays["grp_base"] = _running_sum(n_codes)
    return arrays


def _running_sum(counts: np.ndarray) -> np.ndarray:
    """Bases (P,) int64: the sum of the counts before each entry."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def release_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Building partitions frees several times its result in small pieces, which
    the heap otherwise keeps: 200 MB of resident memory after the compile of PD14 at scale
    0.1 (docs/distributed.md)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _initial_potentials(net: Network, numerics, profile: Profile, seed: int) -> np.ndarray:
    key = rng.stream_key(seed, rng.STREAM_V_INIT)
    out = np.empty(net.n_neurons, profile.state_dtype)
    start = 0
    for pop in net.populations:
        v0 = pop.v_init
        rule = (np.array([1.0, v0.mean, v0.std, -math.inf if v0.low is None else v0.low,
                          math.inf if v0.high is None else v0.high])
                if isinstance(v0, Normal) else np.array([0.0, float(v0), 0, -math.inf, math.inf]))
        values = np.empty(pop.size)
        _draw(key, start, start + pop.size, np.arange(pop.size + 1, dtype=np.int64), rule, values)
        rel = (values - pop.neuron.values.get("E_L", 0.0)) / numerics[pop.name].v_lsb_mv
        if profile.fixed_point:
            smax = profile.state_max
            rel = np.clip(np.floor(rel + 0.5), -smax, smax)
        out[start:start + pop.size] = rel
        start += pop.size
    return out


def _drive_arrays(net, numerics, poisson, part_pop, profile: Profile, dt_ms: float):
    """Poisson tables and weights per partition, and the drive's quantization report."""
    tables, weights, receptors, windows, report = [], [], [], [], []
    for pop in net.populations:
        drive, num = poisson.get(pop.name), numerics[pop.name]
        if drive is None:
            tables.append(poisson_cdf(0.0))
            weights.append(0.0)
            receptors.append(0)
            windows.append((0, NEVER))
            continue
        windows.append(drive_window_steps(drive, dt_ms))
        receptor = int(num.model_code == 1 and drive.weight < 0)
        exponent = choose_gain(abs(drive.weight), num.weight_lsb, profile, f"drive->{pop.name}")
        unit = num.weight_lsb * 2.0**exponent
        value = (math.floor(drive.weight / unit + 0.5) * 2**exponent if profile.fixed_point
                 else drive.weight)
        actual = value * num.weight_lsb if profile.fixed_point else value
        # One weight serves every event of the drive: its rounding error cannot average out
        # over synapses, so the event rate is scaled to keep the mean input exact.
        events = drive.rate_hz * drive.indegree * dt_ms * 1e-3 * (
            drive.weight / actual if actual else 1.0)
        tables.append(poisson_cdf(events))
        weights.append(value)
        receptors.append(receptor)
        report.append({"drive": f"poisson->{pop.name}", "weight": drive.weight,
                       "quantized_weight": actual, "gain_exponent": exponent,
                       "rel_error": abs(actual - drive.weight) / abs(drive.weight)
                       if drive.weight else 0.0,
                       "mean_events_per_step": events})
    width = max(t.size for t in tables)
    cdf = np.ones((len(part_pop), width))
    guide = np.zeros((len(part_pop), 64), np.int64)
    for p, pop_index in enumerate(part_pop):
        table = tables[pop_index]
        cdf[p, : table.size] = table
        guide[p] = guide_table(cdf[p])
    return {"drive_cdf": cdf, "drive_guide": guide,
            "drive_table": _drive_tables(width, weights, part_pop, profile),
            "drive_receptor": np.array([receptors[i] for i in part_pop], np.int64),
            "drive_window": np.array([windows[i] for i in part_pop], np.int64)}, report


NEVER = 2**62  # a step no run reaches: the stop of an open-ended drive


def drive_window_steps(drive: PoissonDrive, dt_ms: float) -> tuple[int, int]:
    """First and stop step of a drive: steps t with start_ms <= t dt < stop_ms."""
    start = math.ceil(drive.start_ms / dt_ms - 1e-9)
    stop = NEVER if math.isinf(drive.stop_ms) else math.ceil(drive.stop_ms / dt_ms - 1e-9)
    return start, min(stop, NEVER)


def _drive_tables(width, weights, part_pop, profile: Profile) -> np.ndarray:
    """``table[p, k]`` = k Poisson events of partition p's drive, in the ring type."""
    counts = np.arange(width)
    weight = np.array([weights[i] for i in part_pop], profile.ring_dtype)
    if profile.fixed_point:
        return (weight[:, None].astype(np.int64) * counts[None, :]).astype(profile.ring_dtype)
    return weight[:, None] * counts[None, :].astype(profile.ring_dtype)


def _neuron_arrays(net, numerics: dict[str, PopulationNumerics], part_pop, profile: Profile):
    nums = [numerics[pop.name] for pop in net.populations]
    return {"model_code": np.array([nums[i].model_code for i in part_pop], np.int64),
            "coef": np.array([nums[i].coefficients for i in part_pop], profile.coef_dtype),
            "levels": np.array([nums[i].levels for i in part_pop], profile.coef_dtype),
            "ref_steps": np.array([nums[i].ref_steps for i in part_pop], np.int64)}


def _quantization_report(plans: list[ProjectionPlan], tally: _QuantizationTally) -> list[dict]:
    report = []
    for plan in plans:
        for receptor in range(N_RECEPTORS):
            gi = 2 * plan.index + receptor
            if tally.count[gi] == 0:
                continue
            report.append({
                "projection": plan.label, "receptor": ("ex", "in")[receptor] if plan.exp_target
                else "delta", "synapses": int(tally.count[gi]),
                "gain_exponent": int(plan.gain_exponent[receptor]),
                "weight_step": float(plan.lsb[receptor]),
                "mean_rel_error": tally.mean_rel(gi),
                "max_rel_error": float(tally.max_rel[gi]),
                "clipped": int(tally.clipped[gi])})
    return report


class Compiler:
    """The compile of one network, partition by partition.

    :func:`compile_network` builds every partition in memory; a store writer can instead
    call :meth:`build_partition` for one partition at a time and write it out, so that no
    more than a partition's synapses are ever held. Arguments as :func:`compile_network`.
    """

    def __init__(self, net: Network, profile: str | Profile = "seed", dt_ms: float = 0.1,
                 seed: int = 1, partition_size: int | None = None,
                 substep_bits: int = 0) -> None:
        if partition_size is None:
            partition_size = default_partition_size(net)
        self.profile = get_profile(profile)
        self.dt_ms = _check_options(dt_ms, seed, partition_size)
        self.substep_bits = check_substep_bits(substep_bits)
        if not net.populations:
            raise ConfigError("the network has no populations")
        self.net, self.seed = net, int(seed)
        self.dc, self.poisson = _drives_by_population(net)
        self.numerics = network_numerics(net, self.profile, self.dt_ms)
        self.plans = plan_projections(net, self.numerics, self.profile, self.dt_ms, seed,
                                      self.substep_bits)
        self.n_gains = max(2 * len(self.plans), 2)
        self.lsb = np.ones(self.n_gains)
        self.gain_value = np.ones(self.n_gains)
        self.gain_receptor = np.zeros(self.n_gains, np.int64)
        for plan in self.plans:
            self.lsb[2 * plan.index: 2 * plan.index + 2] = plan.lsb
            self.gain_value[2 * plan.index: 2 * plan.index + 2] = 2.0 ** plan.gain_exponent
            self.gain_receptor[2 * plan.index + 1] = 1 if plan.exp_target else 0
        self.partition_size = int(partition_size)
        self.part_start, self.part_pop = partition_bounds(net, self.partition_size)
        self.tally = _QuantizationTally(self.n_partitions, self.n_gains, self.profile)

    @property
    def n_partitions(self) -> int:
        return int(self.part_pop.size)

    def synapse_counts(self) -> np.ndarray:
        """Synapses ending on each partition, counted exactly from the connectivity plans
        without generating a synapse; shape (P,), int64."""
        return np.array([self._count(p, int(self.part_start[p]), int(self.part_start[p + 1]))
                         for p in range(self.n_partitions)], np.int64)

    def _count(self, p: int, start: int, stop: int) -> int:
        """Synapses ending on neurons [start, stop) of partition p."""
        first = self.net.offsets()[self.net.populations[int(self.part_pop[p])].name]
        return sum(int(post_counts(plan, start - first, stop - first).sum())
                   for plan in self.plans if plan.post_start == first)

    def build_partition(self, p: int) -> PartitionSynapses:
        """Generate, quantize and pack the synapses onto partition ``p`` (thread-safe), in
        blocks of neurons holding at most ~:meth:`block_synapses` synapses whose rows are
        then merged (:class:`RowMerger`): generating a block holds ~22 bytes per synapse of
        the block, the merge ~6 per synapse of the partition."""
        start, stop = int(self.part_start[p]), int(self.part_start[p + 1])
        n_blocks = min(stop - start, -(-self._count(p, start, stop) // self.block_synapses()))
        edges = np.linspace(start, stop, max(1, n_blocks) + 1)
        edges = [int(x) for x in edges.round()]
        blocks = list(zip(edges[:-1], edges[1:], strict=True))
        if len(blocks) == 1:
            return self._build_block(p, start, stop).packed()
        merger = RowMerger([self._count(p, a, b) for a, b in blocks], self.net.n_neurons,
                           self.profile.weight_dtype)
        for a, b in blocks:
            merger.add(self._build_block(p, a, b), a - start)
        return merger.packed()

    def block_synapses(self) -> int:
        """Most synapses of a build block: BUILD_BLOCK_SYNAPSES, or MERGE_SYNAPSES_PER_ROW
        per neuron of the network where that is more."""
        return max(BUILD_BLOCK_SYNAPSES, MERGE_SYNAPSES_PER_ROW * self.net.n_neurons)

    def _build_block(self, p: int, start: int, stop: int) -> SortedRows:
        """The sorted rows of the synapses onto neurons [start, stop) of partition p."""
        return _build_partition(self.net, self.plans, p, start, stop, int(self.part_pop[p]),
                                self.net.offsets(), self.profile, self.dt_ms, self.n_gains,
                                self.lsb, self.tally)

    def neuron_arrays(self) -> tuple[dict[str, np.ndarray], list[dict]]:
        """Every array but the synapse ones, and the drives' quantization report."""
        arrays, drive_report = _drive_arrays(self.net, self.numerics, self.poisson,
                                             self.part_pop, self.profile, self.dt_ms)
        arrays.update(_neuron_arrays(self.net, self.numerics, self.part_pop, self.profile))
        arrays.update(part_start=self.part_start, part_pop=self.part_pop,
                      gain_value=self.gain_value.astype(self.profile.ring_dtype),
                      gain_receptor=self.gain_receptor,
                      v_init=_initial_potentials(self.net, self.numerics, self.profile,
                                                 self.seed))
        return arrays, drive_report

    def manifest(self, drive_report: list[dict]) -> dict:
        """The manifest; complete once every partition has been built."""
        manifest = _manifest(self.net, self.numerics, self.plans, self.tally, drive_report,
                             self.profile, self.dt_ms, self.seed)
        manifest["substep_bits"] = self.substep_bits
        return manifest


def compile_network(net: Network, profile: str | Profile = "seed", dt_ms: float = 0.1,
                    seed: int = 1, partition_size: int | None = None,
                    threads: int = 1,
                    progress: Callable[[int, int], None] | None = None,
                    substep_bits: int = 0, layout: str = "neuron") -> CompiledNetwork:
    """Quantize, partition and pack ``net`` for one precision profile and time step.

    Parameters
    ----------
    net : Network
    profile : str or Profile
        ``"seed"``, ``"wide"``, ``"float32"`` or ``"float64"``.
    dt_ms : float
        Time step (ms). Constant delays must be whole multiples of it.
    seed : int
        Seeds every random draw (connectivity, weights, delays, initial potentials, drive).
    partition_size : int, optional
        Most neurons per partition (<= 16,384: targets are 14-bit); by default
        :func:`default_partition_size`. Results do not depend on it.
    threads : int
        Partitions built in parallel.
    progress : callable(done, total), optional
        Called after each partition.
    substep_bits : int
        k in [0, 8]: spikes carry a k-bit offset within their step and delays are whole
        sub-steps of dt / 2**k (``brainmac.compile.substep``); 0 is the plain grid.
    layout : {"neuron", "partition"}
        The order of the rows (:mod:`brainmac.compile.rows`): "neuron" delivers faster
        where few neurons spike per step (PD14 at dt 0.1 ms: 7-9 %), "partition" where
        many do (PD14 at dt 1 ms: ~8 %), and is a store's. A network of one partition,
        or of 2**32 synapse slots or more, keeps the partition layout. Results do not
        depend on it.
    """
    check_layout(layout)  # before the build, which may take minutes
    compiler = Compiler(net, profile, dt_ms, seed, partition_size, substep_bits)
    arrays = assemble_partitions(compiler, (0, compiler.n_partitions),
                                 compiler.synapse_counts(), threads, progress)
    release_free_heap()
    layout = chosen_layout(layout, arrays)
    if layout == "neuron":
        to_neuron_layout(arrays)
        release_free_heap()
    neuron_arrays, drive_report = compiler.neuron_arrays()
    arrays.update(neuron_arrays)
    manifest = compiler.manifest(drive_report)
    manifest["row_layout"] = layout
    return CompiledNetwork(compiler.profile, compiler.dt_ms, compiler.seed, arrays, manifest)


def _manifest(net, numerics, plans, tally, drive_report, profile, dt_ms, seed) -> dict:
    offsets = net.offsets()
    populations = [{"name": pop.name, "start": offsets[pop.name], "size": pop.size,
                    "model": pop.model, "params": dict(pop.neuron.values),
                    "v_lsb_mv": numerics[pop.name].v_lsb_mv,
                    "i_lsb_pa": numerics[pop.name].i_lsb_pa} for pop in net.populations]
    projections = [{"label": plan.label, "synapses": int(tally.count[2 * plan.index]
                                                          + tally.count[2 * plan.index + 1])}
                   for plan in plans]
    return {"network": net.name, "profile": profile.name,
            "weight_rounding": profile.rounding, "dt_ms": dt_ms, "seed": int(seed),
            "populations": populations, "projections": projections,
            "quantization": _quantization_report(plans, tally), "drives": drive_report,
            "metadata": net.metadata}
