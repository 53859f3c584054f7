"""Build and run any brainmac ``Network`` in NEST 3.10, with brainmac's own translation.

The translation is one-to-one:

=========================  ==============================================================
brainmac                   NEST
=========================  ==============================================================
``lif_delta``/``lif_exp``  ``iaf_psc_delta``/``iaf_psc_exp``, parameters by the same names
``v_init`` Normal          ``V_m = nest.math.redraw(nest.random.normal(mean, std), lo, hi)``
FixedTotalNumber(n)        ``fixed_total_number`` (multapses allowed)
FixedIndegree(k)           ``fixed_indegree``
PairwiseBernoulli(p)       ``pairwise_bernoulli``
OneToOne / AllToAll        ``one_to_one`` / ``all_to_all``
Explicit                   ``nest.Connect`` with arrays of node ids, weights and delays
weight/delay Normal        ``nest.math.redraw(nest.random.normal(...), low, high)``; a delay
                           Normal without ``low`` is redrawn below one step
PoissonDrive               one ``poisson_generator`` of rate ``rate_hz * indegree``,
                           ``all_to_all`` (NEST sends an independent train to each target)
DCDrive                    added to the target population's ``I_e``
=========================  ==============================================================

With ``precise=True`` the same network is built from NEST's precise-spike-timing models
(NEST's guide "Simulations with precise spike times"): ``iaf_psc_delta_ps`` /
``iaf_psc_exp_ps`` neurons, ``poisson_generator_ps`` drives and ``parrot_neuron_ps`` Poisson
sources; creating them turns on NEST's off-grid spike communication. Spikes then carry
their time within the step; delays stay multiples of the resolution.

Each projection gets its own copy of ``static_synapse``: NEST allows at most 2**27 - 2
connections per thread and synapse model, which the full-scale microcircuit exceeds on two
threads with a single model. ``nest`` is imported only when a function here runs.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass, field

import numpy as np

from brainmac.errors import ConfigError
from brainmac.network import (
    AllToAll,
    DCDrive,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    Network,
    Normal,
    OneToOne,
    PairwiseBernoulli,
    PoissonDrive,
)

NEST_MODELS = {"lif_delta": "iaf_psc_delta", "lif_exp": "iaf_psc_exp"}
#: ``precise=True``: NEST's models with spike times off the grid.
NEST_PRECISE_MODELS = {"lif_delta": "iaf_psc_delta_ps", "lif_exp": "iaf_psc_exp_ps"}


@dataclass
class NestResult:
    """What one NEST run gives back.

    Attributes
    ----------
    spikes : dict of str -> (ndarray, ndarray)
        Per recorded population: spike times (ms, float64, relative to the end of the
        warm-up, in (0, duration_ms]) and node ids (int64, 0-based within the population),
        sorted by time.
    build_s : float
        Wall time of creating and connecting the network, including NEST's preparation of the
        connection infrastructure (``nest.Prepare``), s.
    simulate_s : float
        Wall time of simulating ``duration_ms`` (after the warm-up), s.
    warmup_s : float
        Wall time of simulating the warm-up, s.
    peak_rss_bytes : int
        Peak resident memory of this process so far (``getrusage``), bytes.
    n_synapses : int
        Synapses of the network's projections (devices excluded).
    n_connections : int
        All NEST connections (``nest.num_connections``), devices included.
    synapses_per_projection : list of int
        In the order of ``network.projections``.
    """

    spikes: dict[str, tuple[np.ndarray, np.ndarray]]
    build_s: float
    simulate_s: float
    warmup_s: float
    peak_rss_bytes: int
    n_synapses: int
    n_connections: int
    synapses_per_projection: list[int]
    duration_ms: float
    dt_ms: float
    threads: int
    seed: int
    nest_version: str
    sizes: dict[str, int] = field(default_factory=dict)

    def rates_hz(self) -> dict[str, float]:
        """Mean firing rate per recorded population (Hz)."""
        return {
            name: len(times) / self.sizes[name] / (self.duration_ms * 1e-3)
            for name, (times, _) in self.spikes.items()
        }


def import_nest():
    """Import NEST quietly (no banner, warnings and errors only) and return the module.

    Raises
    ------
    ConfigError
        If NEST is not installed.
    """
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except ImportError:
        raise ConfigError("NEST is not installed: pip install brainmac[reference]") from None
    nest.verbosity = nest.VerbosityLevel.WARNING
    return nest


def run_nest(
    network: Network,
    duration_ms: float,
    dt_ms: float,
    threads: int = 2,
    seed: int = 1,
    warmup_ms: float = 0.0,
    record: bool | list[str] = True,
    precise: bool = False,
) -> NestResult:
    """Build ``network`` in a fresh NEST kernel, simulate, and return spikes and timings.

    Parameters
    ----------
    network : Network
    duration_ms, warmup_ms : float
        Recorded time after an unrecorded warm-up (ms); both multiples of ``dt_ms``.
    dt_ms : float
        NEST's resolution (ms).
    threads : int
        NEST's ``local_num_threads``.
    seed : int
        NEST's ``rng_seed``, in [1, 2**31 - 1].
    record : bool or list of str
        Record every population, none, or the named ones.
    precise : bool
        Build with NEST's precise-spike-timing models (``*_ps``, see the module notes):
        spike times are then the threshold crossings within the step, not the grid.
    """
    _check_run(network, duration_ms, dt_ms, threads, seed, warmup_ms)
    names = _recorded(network, record)
    nest = import_nest()
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.set(
        resolution=float(dt_ms),
        local_num_threads=int(threads),
        rng_seed=int(seed),
        print_time=False,
    )
    nodes = _create_populations(nest, network, precise)  # a *_ps model turns on NEST's
    # (read-only) off_grid_spiking, so that spikes travel with their offsets
    counts = [_connect(nest, network, i, nodes, dt_ms) for i in range(len(network.projections))]
    _connect_drives(nest, network, nodes, dt_ms, precise)
    recorders = {}
    for name in names:
        recorders[name] = nest.Create("spike_recorder", params={"start": float(warmup_ms)})
        nest.Connect(nodes[name], recorders[name])
    nest.Prepare()
    nest.Cleanup()
    build_s = time.perf_counter() - t0
    warmup_s = _timed_simulate(nest, warmup_ms)
    simulate_s = _timed_simulate(nest, duration_ms)
    spikes = {}
    for name, rec in recorders.items():
        events = rec.get("events")
        times = np.asarray(events["times"], float) - warmup_ms
        ids = np.asarray(events["senders"], np.int64) - nodes[name][0].global_id
        order = np.argsort(times, kind="stable")
        spikes[name] = (times[order], ids[order])
    return NestResult(
        spikes=spikes,
        build_s=build_s,
        simulate_s=simulate_s,
        warmup_s=warmup_s,
        peak_rss_bytes=peak_rss_bytes(),
        n_synapses=int(sum(counts)),
        n_connections=int(nest.num_connections),
        synapses_per_projection=counts,
        duration_ms=float(duration_ms),
        dt_ms=float(dt_ms),
        threads=int(threads),
        seed=int(seed),
        nest_version=str(nest.__version__),
        sizes={p.name: p.size for p in network.populations},
    )


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (bytes; Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if os.uname().sysname == "Darwin" else int(peak) * 1024


def _timed_simulate(nest, t_ms: float) -> float:
    if t_ms <= 0:
        return 0.0
    t0 = time.perf_counter()
    nest.Simulate(float(t_ms))
    return time.perf_counter() - t0


def _create_populations(nest, network: Network, precise: bool = False) -> dict:
    dc = {p.name: 0.0 for p in network.populations}
    for drive in network.drives:
        if isinstance(drive, DCDrive):
            dc[drive.target.name] += drive.amplitude_pa
    nodes = {}
    for pop in network.populations:
        if pop.model == "poisson_source":
            nodes[pop.name] = _poisson_source(nest, pop, precise)
            continue
        params = {k: v for k, v in pop.neuron.values.items() if math.isfinite(v)}
        params["I_e"] = params.get("I_e", 0.0) + dc[pop.name]
        models = NEST_PRECISE_MODELS if precise else NEST_MODELS
        created = nest.Create(models[pop.model], pop.size, params=params)
        created.set(V_m=_parameter(nest, pop.v_init))
        nodes[pop.name] = created
    return nodes


def _poisson_source(nest, pop, precise: bool = False):
    """parrot_neurons, each repeating its own train of one poisson_generator (NEST's
    generators give every target an independent train) active in [start_ms, stop_ms)."""
    p = pop.neuron
    params = {"rate": p["rate_hz"], "start": p["start_ms"]}
    if math.isfinite(p["stop_ms"]):
        params["stop"] = p["stop_ms"]
    suffix = "_ps" if precise else ""
    generator = nest.Create("poisson_generator" + suffix, params=params)
    parrots = nest.Create("parrot_neuron" + suffix, pop.size)
    nest.Connect(generator, parrots, "all_to_all", {"delay": nest.resolution})
    return parrots


def _parameter(nest, value, default_low: float | None = None):
    """A float, or a NEST random parameter for a Normal (redrawn inside its bounds)."""
    if not isinstance(value, Normal):
        return float(value)
    low = value.low if value.low is not None else default_low
    if value.std == 0.0:
        mean = value.mean if low is None else max(value.mean, low)
        return float(mean if value.high is None else min(mean, value.high))
    param = nest.random.normal(mean=value.mean, std=value.std)
    if low is None and value.high is None:
        return param
    return nest.math.redraw(
        param,
        min=-math.inf if low is None else float(low),
        max=math.inf if value.high is None else float(value.high),
    )


def _connect(nest, network: Network, index: int, nodes: dict, dt_ms: float) -> int:
    """Connect projection ``index`` with its own synapse model; return its synapse count."""
    proj = network.projections[index]
    model = f"brainmac_syn_{index}"
    nest.CopyModel("static_synapse", model)
    pre, post, conn = nodes[proj.pre.name], nodes[proj.post.name], proj.connector
    if isinstance(conn, Explicit):
        if conn.pre.size == 0:
            return 0
        sources = pre[0].global_id + conn.pre  # one Create call gives contiguous ids
        targets = post[0].global_id + conn.post
        nest.Connect(
            sources,
            targets,
            "one_to_one",
            {"synapse_model": model, "weight": conn.weight, "delay": conn.delay},
        )
        return nest.GetDefaults(model)["num_connections"]
    syn = {
        "synapse_model": model,
        "weight": _parameter(nest, proj.weight),
        "delay": _parameter(nest, proj.delay, default_low=dt_ms),
    }
    conn_spec = _conn_spec(conn)
    if conn_spec is None:
        return 0
    nest.Connect(pre, post, conn_spec, syn)
    return nest.GetDefaults(model)["num_connections"]


def _conn_spec(conn) -> dict | None:
    """NEST's conn_spec for a rule, or None for a rule that makes no synapse."""
    if isinstance(conn, FixedTotalNumber):
        return {"rule": "fixed_total_number", "N": int(conn.n)} if conn.n > 0 else None
    if isinstance(conn, FixedIndegree):
        return (
            {"rule": "fixed_indegree", "indegree": int(conn.k), "allow_autapses": conn.autapses}
            if conn.k > 0
            else None
        )
    if isinstance(conn, PairwiseBernoulli):
        return (
            {"rule": "pairwise_bernoulli", "p": float(conn.p), "allow_autapses": conn.autapses}
            if conn.p > 0
            else None
        )
    if isinstance(conn, OneToOne):
        return {"rule": "one_to_one"}
    if isinstance(conn, AllToAll):
        return {"rule": "all_to_all", "allow_autapses": conn.autapses}
    raise ConfigError(f"the NEST reference cannot translate connector {type(conn).__name__}")


def _connect_drives(nest, network: Network, nodes: dict, dt_ms: float,
                    precise: bool = False) -> None:
    # The generators' delay does not change their statistics; the smallest network delay
    # keeps NEST's min_delay (its communication interval) as the network alone sets it.
    delay = _min_delay(network, dt_ms)
    for drive in network.drives:
        if not isinstance(drive, PoissonDrive) or drive.rate_hz * drive.indegree == 0:
            continue
        params = {"rate": drive.rate_hz * drive.indegree, "start": drive.start_ms}
        if math.isfinite(drive.stop_ms):
            params["stop"] = drive.stop_ms
        gen = nest.Create("poisson_generator_ps" if precise else "poisson_generator",
                          params=params)
        nest.Connect(
            gen,
            nodes[drive.target.name],
            "all_to_all",
            {"weight": float(drive.weight), "delay": delay},
        )


def _min_delay(network: Network, dt_ms: float) -> float:
    lows = []
    for proj in network.projections:
        if isinstance(proj.connector, Explicit):
            if proj.connector.delay.size:
                lows.append(float(proj.connector.delay.min()))
        elif isinstance(proj.delay, Normal):
            lows.append(proj.delay.low if proj.delay.low is not None else dt_ms)
        else:
            lows.append(float(proj.delay))
    steps = max(1, round(min(lows, default=dt_ms) / dt_ms))
    return steps * dt_ms


def _recorded(network: Network, record) -> list[str]:
    names = [p.name for p in network.populations]
    if record is True:
        return names
    if record is False or record is None:
        return []
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise ConfigError(f"record: unknown population(s) {unknown}; known: {names}")
    return [n for n in names if n in set(record)]


def _check_run(network, duration_ms, dt_ms, threads, seed, warmup_ms) -> None:
    for name, value in (("dt_ms", dt_ms), ("duration_ms", duration_ms), ("warmup_ms", warmup_ms)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"run_nest: {name} must be a finite number >= 0 ms, got {value!r}")
    if dt_ms <= 0:
        raise ConfigError(f"run_nest: dt_ms must be > 0 ms, got {dt_ms!r}")
    for name, value in (("duration_ms", duration_ms), ("warmup_ms", warmup_ms)):
        steps = value / dt_ms
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
            raise ConfigError(f"run_nest: {name}={value} ms is not a multiple of dt_ms={dt_ms} ms")
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ConfigError(f"run_nest: threads must be an integer >= 1, got {threads!r}")
    if isinstance(seed, bool) or int(seed) != seed or not (1 <= seed <= 2**31 - 1):
        raise ConfigError(f"run_nest: seed must be an integer in [1, 2**31 - 1], got {seed!r}")
    if not network.populations:
        raise ConfigError("run_nest: the network has no populations")
    for proj in network.projections:
        if isinstance(proj.connector, Explicit):
            delays = proj.connector.delay
            smallest = float(delays.min()) if delays.size else math.inf
        else:
            smallest = math.inf if isinstance(proj.delay, Normal) else float(proj.delay)
        if smallest < dt_ms * (1 - 1e-9):
            raise ConfigError(
                f"run_nest: projection {proj.label} has a delay of {smallest} ms, below one "
                f"time step (dt_ms={dt_ms}); use delays >= dt_ms"
            )
