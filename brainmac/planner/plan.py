"""A whole plan: scenario, designs, the seed's arithmetic, calibration; and its JSON form.

:func:`make_plan` is the planner's API: it validates its inputs, runs the pieces
(:mod:`~brainmac.planner.designs`, :mod:`~brainmac.planner.seed`,
:mod:`~brainmac.planner.calibration`) and returns a :class:`Plan`, which :func:`to_dict` turns
into plain JSON-ready data. Parameter overrides apply to every network the plan computes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainmac.planner import calibration, designs, seed
from brainmac.planner import demand as dm
from brainmac.planner.catalog import Catalog, figure_names, load_catalog
from brainmac.planner.scenarios import PARAMETERS, Scenario, preset

JSON_SCHEMA = "brainmac-plan/1"


@dataclass(frozen=True)
class SeedPart:
    """The seed's arithmetic reproduced, and its assumptions relaxed."""

    steps: list[seed.Step]
    gpus_giving_17: list[str]
    baseline: seed.Sizing
    walk: list[seed.WalkRow]
    realistic: Scenario
    realistic_designs: list[designs.Design]


@dataclass(frozen=True)
class Plan:
    """Everything ``brainmac plan`` reports."""

    scenario: Scenario
    catalog: Catalog
    hardware: dict[str, str]
    designs: list[designs.Design]
    seed: SeedPart | None
    calibrated: calibration.Calibrated | None


def make_plan(
    scenario: str,
    overrides: dict[str, float | None] | None = None,
    catalog: str | Path | None = None,
    gpu: str | None = None,
    cpu: str | None = None,
    ssd: str | None = None,
    ssds_per_node: int = 8,
    calibrate: str | Path | None = None,
) -> Plan:
    """Plan the hardware for real-time simulation of a scenario.

    Parameters
    ----------
    scenario : str
        A preset name: ``seed``, ``human-azevedo``, ``neocortex``, ``microcircuit``.
    overrides : dict, optional
        Scenario parameters to change (``None`` values are ignored); see
        :data:`brainmac.planner.scenarios.PARAMETERS` for names and units.
    catalog : path, optional
        A TOML file adding or overriding hardware entries.
    gpu, cpu, ssd : str, optional
        Catalog names of the GPU, CPU node and SSD; the catalog's defaults otherwise.
    ssds_per_node : int
        SSDs per node of the SSD-tier design.
    calibrate : path, optional
        A ``brainmac-bench/1`` JSON file of measured throughput.

    Raises
    ------
    ConfigError
        For an unknown scenario or hardware name, a bad parameter, catalog or benchmark file.
    """
    overrides = overrides or {}
    cat = load_catalog(catalog)
    hardware = {
        "gpu": cat.get("gpu", gpu).name,
        "cpu_node": cat.get("cpu_node", cpu).name,
        "ssd": cat.get("ssd", ssd).name,
        "network": cat.get("network").name,
        "gpu_server": cat.get("gpu_server").name,
    }
    s = preset(scenario, **overrides)
    found = designs.all_designs(s, cat, gpu, cpu, ssd, ssds_per_node)
    seed_part = None
    if scenario == "seed":
        realistic = seed.realistic_seed(**overrides)
        baseline, rows = seed.walk(cat, realistic, gpu)
        seed_part = SeedPart(
            seed.reproduce(),
            seed.gpus_giving(cat),
            baseline,
            rows,
            realistic,
            designs.all_designs(realistic, cat, gpu, cpu, ssd, ssds_per_node),
        )
    calibrated = None
    if calibrate is not None:
        calibrated = calibration.calibrate(s, calibration.load_bench(calibrate), cat, cpu)
    return Plan(s, cat, hardware, found, seed_part, calibrated)


def scenario_dict(s: Scenario) -> dict[str, Any]:
    """A scenario's parameters and what follows from them (base units)."""
    return {
        "name": s.name,
        "description": s.description,
        "sources": s.sources,
        "parameters": {name: getattr(s, name) for name in PARAMETERS},
        "units": {name: meta["unit"] for name, meta in PARAMETERS.items()},
        "derived": {
            "synapses": s.synapses,
            "bytes_per_synapse": s.bytes_per_synapse,
            "events_per_s": dm.events_per_s(s),
            "dense_macs_per_s": dm.dense_macs_per_s(s),
            "spikes_per_s": dm.spikes_per_s(s),
            "synapse_bytes": dm.synapse_bytes(s),
            "neuron_bytes": dm.neuron_bytes(s),
            "bytes_touched_per_s": dm.bytes_touched_per_s(s),
        },
    }


def design_dict(d: designs.Design) -> dict[str, Any]:
    """A design as plain data: units, binding resource, needs, demands, power and cost."""
    return {
        "design": d.name,
        "unit": d.unit,
        "units": d.units,
        "binding": d.binding,
        "units_needed": d.needs,
        "demand": {key: {"value": value, "unit": unit} for key, (value, unit) in d.demands.items()},
        "power_per_unit_w": d.power_per_unit_w,
        "cost_per_unit_usd": d.cost_per_unit_usd,
        "power_w": d.power_w,
        "cost_usd": d.cost_usd,
    }


def _hardware_dict(plan: Plan) -> dict[str, Any]:
    out = {}
    for kind, name in plan.hardware.items():
        entry = plan.catalog.get(kind, name)
        out[kind] = {
            "name": name,
            **{f: getattr(entry, f) for f in figure_names(type(entry))},
            "sources": entry.sources,
        }
    return out


def _seed_dict(part: SeedPart) -> dict[str, Any]:
    return {
        "reproduction": [
            dataclasses.asdict(step) | {"matches": step.matches} for step in part.steps
        ],
        "figure_giving_17_gpus": part.gpus_giving_17,
        "baseline": dataclasses.asdict(part.baseline),
        "assumptions": [
            {
                "key": row.key,
                "text": row.text,
                "alone": dataclasses.asdict(row.alone),
                "cumulative": dataclasses.asdict(row.cumulative),
            }
            for row in part.walk
        ],
        "realistic_scenario": scenario_dict(part.realistic),
        "realistic_designs": [design_dict(d) for d in part.realistic_designs],
    }


def _calibration_dict(plan: Plan) -> dict[str, Any] | None:
    c = plan.calibrated
    if c is None:
        return None
    return {
        "bench": dataclasses.asdict(c.bench),
        "core_seconds_per_s": c.core_seconds_per_s,
        "cores_needed": c.cores_needed,
        "rtf_on_bench_machine": c.rtf_on_bench_machine,
        "design": design_dict(c.design),
        "answer": calibration.sentence(plan.scenario, c),
    }


def to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (schema ``brainmac-plan/1``; base units: B, B/s, W, USD)."""
    return {
        "schema": JSON_SCHEMA,
        "scenario": scenario_dict(plan.scenario),
        "hardware": _hardware_dict(plan),
        "designs": [design_dict(d) for d in plan.designs],
        "seed": _seed_dict(plan.seed) if plan.seed else None,
        "calibration": _calibration_dict(plan),
    }
