"""Rich tables of a plan: the scenario, the seed's arithmetic, its assumptions, the designs."""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from brainmac.planner import demand as dm
from brainmac.planner import designs as ds
from brainmac.planner import units as un
from brainmac.planner.calibration import sentence
from brainmac.planner.plan import Plan, SeedPart
from brainmac.planner.scenarios import PARAMETERS, Scenario


def count(x: float) -> str:
    """Units needed, readable: '0.021', '17.2', '5,100'."""
    if x == 0:
        return "0"
    if x < 0.01:
        return f"{x:.1e}"
    if x < 100:
        return f"{x:.3g}"
    return f"{math.ceil(x - 1e-9):,}"


def scenario_table(s: Scenario) -> Table:
    """The scenario's parameters and the totals that follow from them."""
    table = Table(
        title=f"Scenario {s.name}",
        caption=s.description,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for name, meta in PARAMETERS.items():
        table.add_row(name, f"{getattr(s, name):,.6g}", meta["unit"])
    table.add_section()
    table.add_row("synaptic events", un.si(dm.events_per_s(s)), "events/s")
    table.add_row("spikes", un.si(dm.spikes_per_s(s)), "spikes/s")
    table.add_row("synapse store", un.si(dm.synapse_bytes(s), "B"), "")
    table.add_row("state + ring buffers", un.si(dm.neuron_bytes(s), "B"), "")
    table.add_row("memory traffic", un.si(dm.bytes_touched_per_s(s), "B/s"), "")
    return table


def _value(value: float, unit: str) -> str:
    if unit == "USD":
        return un.usd(value)
    if unit in ("B", "MAC/s"):
        return un.si(value, unit)
    return f"{value:,.6g} {unit}"


def reproduction_table(part: SeedPart) -> Table:
    """The seed's arithmetic, redone: each step next to the seed's own figure."""
    table = Table(
        title="The seed's arithmetic, reproduced from its own assumptions", title_justify="left"
    )
    for name in ("step", "arithmetic", "planner", "seed says", ""):
        table.add_column(name, justify="right" if name in ("planner", "seed says") else "left")
    for step in part.steps:
        table.add_row(
            step.label,
            step.formula,
            _value(step.value, step.unit),
            _value(step.claim, step.unit),
            "ok" if step.matches else "DIFFERS",
        )
    return table


def _sizing(sz) -> list[str]:
    return [f"{sz.gpus:,}", sz.binding, un.usd(sz.cost_usd)]


def walk_table(part: SeedPart, gpu: str) -> Table:
    """Each hidden assumption made realistic, alone and cumulatively (GPU design only)."""
    r = part.realistic
    title = (
        f"The seed's hidden assumptions, each made realistic ({gpu}; {r.rate_hz:g} Hz, "
        f"{r.bytes_per_synapse:g} B/synapse)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("assumption made realistic", max_width=52)
    for name in ("alone: GPUs", "binds", "cost"):
        table.add_column(name, justify="right" if name != "binds" else "left")
    for name in ("cumulative: compute", "memory", "GPUs", "binds", "GPU cost"):
        table.add_column(name, justify="right" if name != "binds" else "left")
    b = part.baseline
    table.add_row(
        "none: the seed's assumptions, no roundings",
        *_sizing(b),
        count(b.compute_gpus),
        count(b.memory_gpus),
        *_sizing(b),
    )
    for row in part.walk:
        c = row.cumulative
        table.add_row(
            row.text, *_sizing(row.alone), count(c.compute_gpus), count(c.memory_gpus), *_sizing(c)
        )
    return table


def designs_table(found: list[ds.Design], title: str) -> Table:
    """Units needed per resource (rows) and design (columns); the binding one in bold."""
    table = Table(title=title, title_justify="left")
    table.add_column("units needed for")
    for d in found:
        table.add_column(f"{d.name}: {d.unit}", justify="right", max_width=30)
    for resource in ds.RESOURCES:
        cells = []
        for d in found:
            if resource not in d.needs:
                cells.append("-")
            else:
                text = count(d.needs[resource])
                cells.append(f"[bold]{text} *[/bold]" if resource == d.binding else text)
        table.add_row(resource, *cells)
    table.add_section()
    table.add_row("units (whole design)", *[f"[bold]{d.units:,}[/bold]" for d in found])
    table.add_row("binds", *[d.binding for d in found])
    table.add_row("power", *[un.si(d.power_w, "W") for d in found])
    table.add_row("cost", *[un.usd(d.cost_usd) for d in found])
    return table


def console() -> Console:
    """A console that does not squeeze tables when stdout is not a terminal."""
    return Console(width=None if sys.stdout.isatty() else 160)


def render(plan: Plan, out: Console | None = None) -> None:
    """Print the plan as rich tables."""
    out = out or console()
    out.print(scenario_table(plan.scenario))
    if plan.seed is not None:
        part = plan.seed
        out.print(reproduction_table(part))
        out.print(
            "'17' GPUs = 68,000 TOPS / "
            + "; or ".join(part.gpus_giving_17)
            + ". That figure assumes 2:4 structured sparsity; the seed then prices A100s."
        )
        out.print(walk_table(part, plan.hardware["gpu"]))
        out.print(
            designs_table(
                part.realistic_designs,
                "The seed's network made realistic: units needed per resource (* binds)",
            )
        )
    out.print(
        designs_table(
            plan.designs, f"{plan.scenario.name} as given: units needed per resource (* binds)"
        )
    )
    if plan.calibrated is not None:
        out.print(Panel(sentence(plan.scenario, plan.calibrated), title="calibrated"))
