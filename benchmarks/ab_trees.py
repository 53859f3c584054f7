"""Two source trees of brainmac, run alternately on one network: the same-session ratio.

Usage::

    git worktree add /tmp/old 3835119
    python benchmarks/ab_trees.py /tmp/old . --pairs 2 -- --model microcircuit \\
        --duration 300 --warmup 50 --threads 2

Each run is a fresh ``brainmac_peer.py`` process of one tree (it imports that tree's
``brainmac``), old and new alternating, so that a noisy neighbour slows both alike. Prints
one line per run (build s, RTF, bytes per synapse, peak RSS, mean rate: equal rates are a
quick sign of identical spikes), the medians, and each pair's RTF ratio (new / old) with
their median and the number of pairs in which new was faster. Arguments after ``--`` go to
``brainmac_peer.py`` (see its ``--help``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

FIELDS = (("build_s", "build s", ".1f"), ("rtf", "RTF", ".2f"),
          ("bytes_per_synapse", "B/syn", ".2f"), ("peak_rss_bytes", "peak GiB", ".2f"),
          ("mean_rate_hz", "rate Hz", ".3f"))


def run_peer(tree: Path, peer_args: list[str]) -> dict:
    """One ``brainmac_peer.py`` run of ``tree``; its JSON line as a dict."""
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / "brainmac_peer.py"),
                           *peer_args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: brainmac_peer.py failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["peak_rss_bytes"] /= 2**30
    return result


def line(name: str, result: dict) -> str:
    return f"{name:<6}" + "  ".join(f"{label} {result[key]:{fmt}}" for key, label, fmt in FIELDS)


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path, help="the baseline tree (e.g. a git worktree)")
    parser.add_argument("new", type=Path, help="the tree under test")
    parser.add_argument("--pairs", type=int, default=3, help="old/new runs each")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args, peer_args = parser.parse_args(argv[:cut]), argv[cut + 1:]
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.pairs):
        for name, tree in (("old", args.old), ("new", args.new)):
            runs[name].append(run_peer(tree.resolve(), peer_args))
            print(line(name, runs[name][-1]), flush=True)
    for name, results in runs.items():
        median = {key: statistics.median(r[key] for r in results) for key, _, _ in FIELDS}
        print(line(f"{name}~", median), "(medians)")
    print(pair_summary(runs))
    return runs


def pair_summary(runs: dict[str, list[dict]]) -> str:
    """The RTF ratio new / old of each pair, their median, and in how many pairs new was
    faster: on a shared machine the pairs' ratios are steadier than the medians of the
    runs (a neighbour's burst slows both runs of a pair)."""
    ratios = [n["rtf"] / o["rtf"] for o, n in zip(runs["old"], runs["new"], strict=True)]
    faster = sum(r < 1.0 for r in ratios)
    return (f"new/old RTF per pair {' '.join(f'{r:.2f}' for r in ratios)}; median "
            f"{statistics.median(ratios):.2f}; new faster in {faster} of {len(ratios)}")


if __name__ == "__main__":
    main()
