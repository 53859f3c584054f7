"""``brainmac bench``: measure this machine's throughput; ``--export`` for the planner."""

from __future__ import annotations

import argparse

from brainmac.commands.options import duration_ms, positive_int


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure synaptic events/s and update cost on this machine",
        description="Runs Brunel (order 2500 by default) twice: with its synapses, and with "
        "its neurons alone, to split the time into synaptic events and neuron updates. "
        "--export writes the planner's calibration file (schema brainmac-bench/1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--order", type=positive_int, default=2500, help="Brunel order")
    p.add_argument("--duration", type=duration_ms, default=500.0, help="biological time")
    p.add_argument("--threads", type=positive_int, default=None, help="default: all cores")
    p.add_argument("--export", default=None, help="write the calibration JSON here")


def main(args) -> int:
    import json
    import os
    import platform

    import psutil

    from brainmac import models
    from brainmac.compile import compile_network
    from brainmac.engine import Simulator
    from brainmac.planner.calibration import load_bench

    threads = args.threads or len(os.sched_getaffinity(0))
    net = models.build("brunel", order=args.order)
    full = _timed_run(Simulator, compile_network(net, "seed", 0.1, threads=threads), threads,
                      args.duration)
    net.projections.clear()
    alone = _timed_run(Simulator, compile_network(net, "seed", 0.1, threads=threads), threads,
                       args.duration)
    steps = args.duration / 0.1
    per_neuron_step = alone["wall_s"] * threads / (alone["neurons"] * steps)
    event_s = max(full["wall_s"] - alone["wall_s"], 1e-9) * threads
    result = {
        "schema": "brainmac-bench/1",
        "machine": {"cores": threads, "ram_gib": psutil.virtual_memory().total / 2**30,
                    "cpu": platform.processor() or platform.machine()},
        "synaptic_events_per_s_per_core": full["events"] / event_s,
        "bytes_per_synapse": full["bytes_per_synapse"],
        "step_overhead_s_per_neuron": per_neuron_step,
        "source": f"brainmac bench: brunel order {args.order}, {args.duration:g} ms, dt 0.1 "
                  f"ms, seed profile, {threads} threads",
    }
    print(json.dumps(result, indent=2))
    if args.export:
        with open(args.export, "w") as f:
            json.dump(result, f, indent=2)
        load_bench(args.export)  # the planner must accept what we wrote
    return 0


def _timed_run(simulator, compiled, threads: int, duration: float) -> dict:
    sim = simulator(compiled, threads=threads, record=None)
    sim.compile_kernels()
    sim.run(duration)
    return {"wall_s": sim.stats.wall_s, "events": sim.stats.events,
            "neurons": compiled.n_neurons, "bytes_per_synapse": compiled.bytes_per_synapse()}
