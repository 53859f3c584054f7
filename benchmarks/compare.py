"""Run brainmac and NEST on the same network, alternately, and print medians and ratios.

Usage::

    python benchmarks/compare.py --model brunel --order 2500 --threads 2 --repeats 3
    python benchmarks/compare.py --model microcircuit --scale 0.1 --repeats 3 --warmup 100

Each run is a fresh subprocess (clean peak RSS, no shared caches); brainmac and NEST runs
alternate so that a noisy neighbour hurts both alike. Writes the raw runs and the medians
to ``benchmarks/results/<date>-<host>-<model>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = [("build_s", "build (s)", ".2f"), ("simulate_s", "simulate (s)", ".2f"),
          ("rtf", "real-time factor", ".2f"), ("syn_events_per_s", "synaptic events/s", ".3g"),
          ("bytes_per_synapse", "bytes/synapse (store)", ".2f"),
          ("peak_rss_bytes", "peak RSS (GiB)", ".2f")]


def run_peer(script: str, args: list[str]) -> dict:
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    keys = {k for r in runs for k, v in r.items() if isinstance(v, int | float)}
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys}


def table(brainmac: dict, nest: dict) -> str:
    lines = [f"{'figure':24} {'brainmac':>12} {'NEST 3.10':>12} {'NEST/brainmac':>14}"]
    for key, label, fmt in FIELDS:
        b, n = brainmac.get(key), nest.get(key)
        if key == "peak_rss_bytes":
            b, n = b / 2**30, n / 2**30
        ratio = f"{n / b:.1f}x" if b and n else "-"
        lines.append(f"{label:24} {format(b, fmt) if b is not None else '-':>12} "
                     f"{format(n, fmt) if n is not None else '-':>12} {ratio:>14}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["brunel", "microcircuit"], default="brunel")
    parser.add_argument("--order", type=int, default=2500)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--dt", type=float, default=0.1)
    parser.add_argument("--precision", default="seed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-nest", action="store_true", help="brainmac only")
    args = parser.parse_args()
    common = ["--model", args.model, "--order", str(args.order), "--scale", str(args.scale),
              "--threads", str(args.threads), "--duration", str(args.duration),
              "--warmup", str(args.warmup), "--dt", str(args.dt)]
    runs: dict[str, list[dict]] = {"brainmac": [], "nest": []}
    for i in range(args.repeats):
        runs["brainmac"].append(run_peer("brainmac_peer.py",
                                         [*common, "--precision", args.precision]))
        if not args.no_nest:
            runs["nest"].append(run_peer("nest_peer.py", common))
        print(f"run {i + 1}/{args.repeats} done", file=sys.stderr)
    med = {k: medians(v) for k, v in runs.items() if v}
    print(table(med["brainmac"], med.get("nest", {})))
    stamp = dt.date.today().isoformat()
    path = HERE / "results" / f"{stamp}-{platform.node()}-{args.model}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "machine": {
        "node": platform.node(), "cpu_count": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version()}, "runs": runs, "medians": med}, indent=2))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
