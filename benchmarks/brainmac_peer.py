"""brainmac's side of a benchmark: one model, compiled and run in this process.

Usage::

    python benchmarks/brainmac_peer.py --model brunel --order 2500 --threads 2 \\
        --duration 1000 --dt 0.1 --precision seed

Prints one JSON line with the same fields as ``nest_peer.py`` plus ``bytes_per_synapse``
(the compiled synapse arrays, all-in) and ``kernel_compile_s`` (numba compile or cache load,
excluded from the simulate time). Run it in a fresh subprocess for a clean peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from networks import add_network_args, add_run_args, network_from_args  # noqa: E402

from brainmac.compile import compile_network  # noqa: E402
from brainmac.engine import Simulator  # noqa: E402


def measure(network, duration_ms: float, dt_ms: float, threads: int, profile: str = "seed",
            warmup_ms: float = 0.0, seed: int = 1, partition_size: int | None = None) -> dict:
    """Compile and run ``network``; returns the benchmark figures (wall s, events/s, bytes)."""
    start = time.perf_counter()
    sizing = {"partition_size": partition_size} if partition_size else {}
    compiled = compile_network(network, profile, dt_ms, seed, threads=threads, **sizing)
    build_s = time.perf_counter() - start
    sim = Simulator(compiled, threads=threads)
    kernel_s = sim.compile_kernels()
    sim.run(warmup_ms)
    wall0, events0, spikes0 = sim.stats.wall_s, sim.stats.events, sim.stats.spikes
    sim.run(duration_ms)
    simulate_s = sim.stats.wall_s - wall0
    events = sim.stats.events - events0
    n_spikes = sim.stats.spikes - spikes0
    return {
        "simulator": "brainmac", "profile": profile, "threads": threads, "dt_ms": dt_ms,
        "duration_ms": duration_ms, "build_s": build_s, "kernel_compile_s": kernel_s,
        "simulate_s": simulate_s, "rtf": simulate_s / (duration_ms / 1000.0),
        "syn_events": events, "syn_events_per_s": events / simulate_s,
        "syn_events_per_s_per_core": events / simulate_s / threads,
        "partitions": compiled.n_partitions, "n_synapses": compiled.n_synapses,
        "n_neurons": compiled.n_neurons,
        "bytes_per_synapse": compiled.bytes_per_synapse(),
        "mean_rate_hz": n_spikes / compiled.n_neurons / (duration_ms / 1000.0),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_network_args(parser)
    add_run_args(parser)
    parser.add_argument("--precision", default="seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partition-size", type=int, default=None,
                        help="most neurons per partition (default: the compiler's)")
    args = parser.parse_args(argv)
    result = measure(network_from_args(args), args.duration, args.dt, args.threads,
                     args.precision, args.warmup, args.seed, args.partition_size)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
