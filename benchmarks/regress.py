"""Compare a new suite result with a committed baseline; flag brainmac's slowdowns.

Usage::

    python benchmarks/regress.py benchmarks/results/BASELINE.json benchmarks/results/NEW.json
    python benchmarks/regress.py BASE.json NEW.json --threshold 0.10 --normalize-by-nest

For every case present in both files, brainmac's medians are compared figure by figure
(build and simulate wall time, peak RSS, bytes per synapse: for all of them larger is
worse). A figure more than ``--threshold`` (default 10%) worse than the baseline is flagged,
and the exit status is 1 if any is. This is a tool for a person reading two benchmark runs,
not a timed test: run it on the same machine, and on a shared machine prefer
``--normalize-by-nest``, which divides each time by NEST's time in the same file (NEST ran
alternately with brainmac, so a noisy neighbour slows both alike).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: (median key, label, is a wall time)
FIGURES = [("build_s", "build", True), ("simulate_s", "simulate", True),
           ("peak_rss_bytes", "peak RSS", False), ("bytes_per_synapse", "bytes/synapse", False)]


def load(path: Path) -> dict[str, dict]:
    """The suite file's results by case name."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"regress: cannot read {path}: {err}") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise SystemExit(f"regress: {path} is not a benchmarks/suite.py result file")
    return {r["case"]["name"]: r for r in results}


def figure(result: dict, key: str, is_time: bool, by_nest: bool) -> float | None:
    """brainmac's median of ``key``; over NEST's when ``by_nest`` and it is a time."""
    ours = result["medians"].get("brainmac", {}).get(key)
    if ours is None or not (by_nest and is_time):
        return ours
    theirs = result["medians"].get("nest", {}).get(key)
    return ours / theirs if theirs else None


def compare(base: dict[str, dict], new: dict[str, dict], threshold: float,
            by_nest: bool) -> tuple[list[str], int]:
    """Table rows (Markdown) and the number of flagged figures."""
    rows = ["| case | figure | baseline | new | change | |", "|---|---|---|---|---|---|"]
    flagged = 0
    for name in [n for n in new if n in base]:
        for key, label, is_time in FIGURES:
            old_value = figure(base[name], key, is_time, by_nest)
            new_value = figure(new[name], key, is_time, by_nest)
            if not old_value or new_value is None:
                continue
            change = new_value / old_value - 1.0
            slow = change > threshold
            flagged += slow
            rows.append(f"| {name} | {label} | {old_value:.4g} | {new_value:.4g} | "
                        f"{change:+.1%} | {'**SLOWER**' if slow else ''} |")
    return rows, flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--threshold", type=float, default=0.10,
                        help="relative worsening that is flagged (default 0.10)")
    parser.add_argument("--normalize-by-nest", action="store_true",
                        help="compare times as brainmac/NEST ratios (cases with NEST only)")
    args = parser.parse_args(argv)
    base, new = load(args.baseline), load(args.new)
    common = [n for n in new if n in base]
    if not common:
        raise SystemExit("regress: the two files have no case in common")
    rows, flagged = compare(base, new, args.threshold, args.normalize_by_nest)
    print("\n".join(rows))
    missing = sorted(set(base) - set(new))
    if missing:
        print(f"not in the new run: {', '.join(missing)}", file=sys.stderr)
    print(f"{flagged} figure(s) worse by more than {args.threshold:.0%}", file=sys.stderr)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
