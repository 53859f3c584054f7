"""Calibration: size a CPU cluster from brainmac's own measured throughput.

``brainmac bench --export bench.json`` writes, and ``brainmac plan SCENARIO --calibrate
bench.json`` reads, one JSON object of this schema (``brainmac-bench/1``)::

    {
      "schema": "brainmac-bench/1",
      "machine": {"cores": 16, "ram_gib": 64.0, "cpu": "AMD Ryzen 9 7950X"},
      "synaptic_events_per_s_per_core": 2.5e7,
      "bytes_per_synapse": 3.1,
      "step_overhead_s_per_neuron": 4.0e-9,
      "source": "brainmac 0.1.0, microcircuit, seed profile, 16 threads, 10 s model time"
    }

Fields
------
schema : str
    Exactly ``"brainmac-bench/1"``.
machine : object
    The machine measured: ``cores`` (int > 0, cores used), ``ram_gib`` (float > 0, GiB),
    ``cpu`` (str, model name).
synaptic_events_per_s_per_core : float > 0
    Synaptic events delivered per second of wall time per core, over the whole run
    (events/s/core).
bytes_per_synapse : float > 0
    Memory of the compiled synapse store divided by its synapse count, all-in (B/synapse).
step_overhead_s_per_neuron : float >= 0
    Wall time per neuron per step on one core that does not scale with events: neuron update,
    ring-buffer rotation, spike collection (s/neuron/step).
source : str
    What was measured: version, model, profile, threads, duration.

Unknown keys are an error, so a misspelled field cannot pass silently.

With these figures, one second of model time costs, in core-seconds,

    events/s / synaptic_events_per_s_per_core + neurons x clock x step_overhead_s_per_neuron,

so real time needs that many cores, that is ``ceil(core-seconds / cores per node)`` CPU nodes
of the catalog's kind for compute; memory needs ``neurons x synapses x bytes_per_synapse`` plus
neuron state in RAM; the interconnect is as in the uncalibrated CPU design.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainmac.errors import ConfigError
from brainmac.planner import demand as dm
from brainmac.planner import designs
from brainmac.planner import units as un
from brainmac.planner.catalog import Catalog
from brainmac.planner.scenarios import Scenario

SCHEMA = "brainmac-bench/1"
_TOP = {
    "schema": str,
    "machine": dict,
    "synaptic_events_per_s_per_core": float,
    "bytes_per_synapse": float,
    "step_overhead_s_per_neuron": float,
    "source": str,
}
_MACHINE = {"cores": int, "ram_gib": float, "cpu": str}
_MAY_BE_ZERO = {"step_overhead_s_per_neuron"}


@dataclass(frozen=True)
class Bench:
    """A validated benchmark export (units as in the module docstring)."""

    cores: int
    ram_gib: float
    cpu: str
    synaptic_events_per_s_per_core: float
    bytes_per_synapse: float
    step_overhead_s_per_neuron: float
    source: str


def _check(where: str, key: str, value: Any, kind: type) -> Any:
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {key!r} must be non-empty text, got {value!r}")
        return value
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key!r} must be an object, got {value!r}")
        return value
    ok = int if kind is int else int | float
    if isinstance(value, bool) or not isinstance(value, ok):
        raise ConfigError(
            f"{where}: {key!r} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
        )
    low_ok = value >= 0 if key in _MAY_BE_ZERO else value > 0
    if not low_ok or not math.isfinite(value):
        bound = ">= 0" if key in _MAY_BE_ZERO else "> 0"
        raise ConfigError(f"{where}: {key!r} must be finite and {bound}, got {value!r}")
    return kind(value)


def _fields(where: str, data: dict[str, Any], spec: dict[str, type]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(spec)}")
    missing = [key for key in spec if key not in data]
    if missing:
        raise ConfigError(f"{where}: missing key {missing[0]!r}")
    return {key: _check(where, key, data[key], kind) for key, kind in spec.items()}


def parse_bench(data: Any, where: str = "benchmark") -> Bench:
    """Validate a decoded ``brainmac-bench/1`` object; raise ConfigError naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of schema {SCHEMA}")
    top = _fields(where, data, _TOP)
    if top["schema"] != SCHEMA:
        raise ConfigError(f"{where}: schema must be {SCHEMA!r}, got {top['schema']!r}")
    machine = _fields(f"{where}: machine", top["machine"], _MACHINE)
    return Bench(
        machine["cores"],
        machine["ram_gib"],
        machine["cpu"],
        top["synaptic_events_per_s_per_core"],
        top["bytes_per_synapse"],
        top["step_overhead_s_per_neuron"],
        top["source"],
    )


def load_bench(path: str | Path) -> Bench:
    """Read and validate a benchmark export file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"benchmark {path}: no such file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"benchmark {path}: not valid JSON: {err}") from None
    return parse_bench(data, f"benchmark {path}")


@dataclass(frozen=True)
class Calibrated:
    """Real time for a scenario with brainmac as measured: cores, nodes, what binds."""

    bench: Bench
    core_seconds_per_s: float
    cores_needed: float
    design: designs.Design
    rtf_on_bench_machine: float


def core_seconds_per_model_second(s: Scenario, bench: Bench) -> float:
    """Core-seconds of wall time per second of model time (see the module docstring)."""
    events = dm.events_per_s(s) / bench.synaptic_events_per_s_per_core
    updates = s.neurons * s.clock_hz * bench.step_overhead_s_per_neuron
    return events + updates


def calibrate(s: Scenario, bench: Bench, catalog: Catalog, cpu: str | None = None) -> Calibrated:
    """Size a real-time CPU cluster for ``s`` from measured throughput and memory.

    The measured bytes per synapse replace the scenario's weight/index/delay split; compute is
    the core-seconds per model second spread over the catalog node's cores.
    """
    measured = s.replace(weight_bytes=bench.bytes_per_synapse, index_bytes=0.0, delay_bytes=0.0)
    core_s = core_seconds_per_model_second(s, bench)
    equivalent_rate = dm.events_per_s(s) / core_s
    design = designs.cpu_design(measured, catalog, cpu, events_per_s_per_core=equivalent_rate)
    return Calibrated(bench, core_s, core_s, design, rtf_on_bench_machine=core_s / bench.cores)


def fits_bench_machine(s: Scenario, bench: Bench) -> bool:
    """Whether the scenario's synapses (at the measured bytes/synapse) and neuron state fit in
    the measured machine's RAM."""
    held = s.synapses * bench.bytes_per_synapse + dm.neuron_bytes(s)
    return held <= un.gib_to_bytes(bench.ram_gib)


def sentence(s: Scenario, c: Calibrated) -> str:
    """One-line answer: 'with brainmac as measured today, real time for ... needs N ...'."""
    d = c.design
    nodes = "node" if d.units == 1 else "nodes"
    there = (
        f"on the measured machine it runs {c.rtf_on_bench_machine:.3g}x slower than real time"
        if fits_bench_machine(s, c.bench)
        else f"it does not fit in the measured machine's {c.bench.ram_gib:g} GiB"
    )
    return (
        f"With brainmac as measured today ({c.bench.synaptic_events_per_s_per_core:.3g} "
        f"synaptic events/s per core, {c.bench.bytes_per_synapse:.3g} B/synapse, "
        f"source: {c.bench.source}), real time for {s.name} needs {d.units:,} CPU {nodes} "
        f"of the kind {d.unit!r} ({c.cores_needed:,.0f} cores busy; bound by {d.binding}): "
        f"{un.si(d.power_w, 'W')}, {un.usd(d.cost_usd)}; {there}."
    )
