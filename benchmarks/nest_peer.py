"""NEST 3.10 as the peer of brainmac's benchmarks: one model, built and run in this process.

Usage::

    python benchmarks/nest_peer.py --model brunel --order 2500 --threads 2 \\
        --duration 1000 --dt 0.1 --json out.json

Prints one JSON line (and writes it to ``--json``): build and simulate wall times, real-time
factor, synaptic events per second, synapse count, peak RSS of this process and peak RSS per
synapse. ``measure`` does the same from Python; run it in a fresh subprocess for a clean
peak-RSS figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

# Runnable as a script from a checkout without installing brainmac.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from networks import add_network_args, add_run_args, network_from_args  # noqa: E402

from brainmac.network import Network, PoissonDrive  # noqa: E402
from brainmac.reference.nest import run_nest  # noqa: E402


def measure(
    network: Network,
    duration_ms: float,
    dt_ms: float,
    threads: int,
    warmup_ms: float = 0.0,
    seed: int = 1,
) -> dict:
    """Run ``network`` in NEST and return the benchmark figures.

    Returns
    -------
    dict
        ``build_s``, ``warmup_s``, ``simulate_s`` (wall s); ``rtf`` (simulate_s per second of
        biological time, recorded part only); ``syn_events`` and ``syn_events_per_s``
        (recurrent: sum over projections of the pre-population's spikes times the
        projection's synapses per pre-neuron, per simulate second); ``drive_events_per_s``
        (expected Poisson-drive events, rate * indegree * neurons * time, per simulate
        second); ``n_synapses`` (projections only); ``n_connections`` (NEST's total, devices
        included); ``peak_rss_bytes`` and ``peak_rss_bytes_per_synapse`` (whole-process
        peak RSS divided by n_synapses: an upper bound, not a store size); ``rates_hz``.
    """
    result = run_nest(
        network, duration_ms, dt_ms, threads=threads, seed=seed, warmup_ms=warmup_ms, record=True
    )
    n_spikes = {name: len(times) for name, (times, _) in result.spikes.items()}
    syn_events = sum(
        n_spikes[p.pre.name] * count / p.pre.size
        for p, count in zip(network.projections, result.synapses_per_projection, strict=True)
    )
    drive_events = sum(
        d.rate_hz * d.indegree * d.target.size * duration_ms * 1e-3
        for d in network.drives
        if isinstance(d, PoissonDrive)
    )
    sim_s = max(result.simulate_s, 1e-12)
    return {
        "simulator": f"NEST {result.nest_version}",
        "network": network.name,
        "n_neurons": network.n_neurons,
        "threads": threads,
        "dt_ms": dt_ms,
        "warmup_ms": warmup_ms,
        "duration_ms": duration_ms,
        "seed": seed,
        "build_s": result.build_s,
        "warmup_s": result.warmup_s,
        "simulate_s": result.simulate_s,
        "rtf": result.simulate_s / (duration_ms * 1e-3),
        "n_spikes": sum(n_spikes.values()),
        "syn_events": syn_events,
        "syn_events_per_s": syn_events / sim_s,
        "drive_events_per_s": drive_events / sim_s,
        "n_synapses": result.n_synapses,
        "n_connections": result.n_connections,
        "peak_rss_bytes": result.peak_rss_bytes,
        "peak_rss_bytes_per_synapse": result.peak_rss_bytes / max(result.n_synapses, 1),
        "rates_hz": result.rates_hz(),
        "machine": platform.node(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_network_args(parser)
    add_run_args(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the JSON line to this file")
    args = parser.parse_args(argv)
    network = network_from_args(args)
    out = measure(network, args.duration, args.dt, args.threads, args.warmup, args.seed)
    line = json.dumps(out)
    print(line, flush=True)
    if args.json:
        args.json.write_text(line + "\n")
    return out


if __name__ == "__main__":
    main()
