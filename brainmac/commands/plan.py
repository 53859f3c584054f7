"""``brainmac plan``: the hardware for real-time simulation of a brain scenario.

Examples::

    brainmac plan seed                      # the seed's arithmetic, its assumptions, designs
    brainmac plan neocortex --rate 1 --index-bytes 2 --delay-bytes 0
    brainmac plan microcircuit --json
    brainmac plan human-azevedo --gpu B200 --catalog my_hardware.toml --plot plan.png
    brainmac plan neocortex --calibrate bench.json
"""

from __future__ import annotations

import argparse
import sys

SCENARIOS = "seed, human-azevedo, neocortex, microcircuit"

#: Scenario parameter flags: (flag, parameter, help). tests/test_planner.py checks that they
#: cover every parameter of brainmac.planner.scenarios.Scenario.
PARAMETER_FLAGS = (
    ("--neurons", "neurons", "number of neurons"),
    ("--synapses-per-neuron", "synapses_per_neuron", "mean synapses per neuron"),
    ("--rate", "rate_hz", "mean firing rate (Hz); equal to --clock means every synapse every step"),
    ("--clock", "clock_hz", "simulation steps per second of model time (Hz)"),
    ("--weight-bytes", "weight_bytes", "bytes per synaptic weight"),
    ("--index-bytes", "index_bytes", "bytes per synaptic target index"),
    ("--delay-bytes", "delay_bytes", "bytes per synaptic delay"),
    ("--state-bytes", "state_bytes", "bytes of state per neuron"),
    ("--ring-slots", "ring_slots", "delay ring-buffer slots per neuron"),
    ("--ring-slot-bytes", "ring_slot_bytes", "bytes per ring-buffer slot"),
    ("--target-access-bytes", "target_access_bytes", "bytes moved to add one event to its target"),
    ("--spike-bytes", "spike_bytes", "bytes sent per spike and receiving unit"),
    ("--locality", "locality", "share of a neuron's synapses on its own unit, 0 <= x < 1"),
    (
        "--shared-bytes-per-unit",
        "shared_bytes_per_unit",
        "bytes of shared parameters, tables and runtime copied to every unit",
    ),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plan`` subcommand (argparse only: nothing heavy is imported here)."""
    p = subparsers.add_parser(
        "plan",
        help="hardware needed to simulate a brain in real time",
        description="Units of GPU, CPU-node and SSD-tier hardware needed per resource "
        "(compute, memory, bandwidth, SSD, interconnect) to simulate a brain scenario in real "
        "time; for 'seed', the seed's own arithmetic and its hidden assumptions first.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help=f"one of: {SCENARIOS}")
    group = p.add_argument_group("scenario parameters (override the preset)")
    for flag, dest, text in PARAMETER_FLAGS:
        group.add_argument(flag, dest=dest, type=float, default=None, metavar="X", help=text)
    hw = p.add_argument_group("hardware")
    hw.add_argument(
        "--catalog",
        metavar="FILE",
        help="TOML file adding or overriding "
        "hardware entries (shape of brainmac/planner/catalog.toml)",
    )
    hw.add_argument("--gpu", metavar="NAME", help="GPU of the GPU design (default H100 SXM)")
    hw.add_argument("--cpu", metavar="NAME", help="CPU node of the CPU and SSD designs")
    hw.add_argument("--ssd", metavar="NAME", help="SSD of the SSD-tier design")
    hw.add_argument(
        "--ssds-per-node",
        type=int,
        default=8,
        metavar="N",
        help="SSDs per node in the SSD-tier design (default 8)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--calibrate",
        metavar="BENCH.json",
        help="size a CPU cluster from brainmac's measured throughput (brainmac-bench/1 JSON)",
    )
    out.add_argument("--json", action="store_true", help="print the plan as JSON to stdout")
    out.add_argument(
        "--plot", metavar="FILE.png", help="write a chart of units needed per resource and design"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``brainmac plan``; bad input raises ConfigError (exit status 2)."""
    import json

    from brainmac.planner.plan import make_plan, to_dict

    overrides = {dest: getattr(args, dest) for _, dest, _ in PARAMETER_FLAGS}
    plan = make_plan(
        args.scenario,
        overrides,
        catalog=args.catalog,
        gpu=args.gpu,
        cpu=args.cpu,
        ssd=args.ssd,
        ssds_per_node=args.ssds_per_node,
        calibrate=args.calibrate,
    )
    if args.json:
        json.dump(to_dict(plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from brainmac.planner.report import render

        render(plan)
    if args.plot:
        from brainmac.planner.plot import plot

        print(f"brainmac plan: wrote {plot(plan, args.plot)}", file=sys.stderr)
    return 0
