"""Run brainmac and NEST on one network, alternately, and print medians and ratios.

Usage::

    python benchmarks/compare.py --model brunel --order 2500 --threads 2 --repeats 3
    python benchmarks/compare.py --model microcircuit --scale 0.1 --repeats 3 --warmup 100
    python benchmarks/compare.py --model random --neurons 100000 --duration 200 --no-nest

One case of the suite (``suite.py``, which runs the issue's whole list) with the network
given on the command line; same subprocess peers, same table. Writes the raw runs and the
medians to ``benchmarks/results/<date>-<HHMM>-<host>-<model>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

from networks import add_network_args, add_run_args
from suite import HERE, Case, machine, run_case, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_network_args(parser)
    add_run_args(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-nest", action="store_true", help="brainmac only")
    parser.add_argument("--nest-memory-gib", type=float, default=16.0)
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/)")
    args = parser.parse_args()
    network = ["--model", args.model, "--order", str(args.order), "--scale", str(args.scale),
               "--k-scale", str(args.k_scale), "--drive", args.drive,
               "--neurons", str(args.neurons), "--indegree", str(args.indegree)]
    case = Case(args.model, network, synapses=0.0, dt_ms=args.dt, duration_ms=args.duration,
                warmup_ms=args.warmup, threads=args.threads)
    result = run_case(case, args.repeats, args.nest_memory_gib, args.no_nest,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    print(table([result]))
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    path = args.out or HERE / "results" / f"{stamp}-{platform.node()}-{args.model}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "machine": machine(), **result}, indent=1,
                               default=str))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
