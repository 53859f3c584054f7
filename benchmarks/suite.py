"""The benchmark suite: brainmac beside NEST on the issue's networks, one command.

Usage::

    python benchmarks/suite.py                       # the full suite (hours on 2 cores)
    python benchmarks/suite.py --tier quick          # small versions of every case (minutes)
    python benchmarks/suite.py --only brunel --repeats 5 --no-nest
    python benchmarks/suite.py --plot docs/img       # also the two figures of performance.md

Cases (``--tier full``; every one at 2 threads unless it says otherwise):

- ``mc-dt0.1``, ``mc-dt1``: the full-scale microcircuit at dt 0.1 and 1 ms;
- ``brunel``: Brunel order 2500 (12,500 neurons, 1.56e7 synapses), dt 0.1 ms;
- ``random-N``: the scaling sweep, random networks of N = 1e4, 1e5, 1e6 neurons with 1,000
  synapses each (``networks.random_network``), dt 0.1 ms; the measured window shrinks as N
  grows so that each run delivers ~1e9-2e9 synaptic events;
- ``brunel-tT``: the thread sweep, Brunel at T = 1 and 2 threads.

Each case runs ``--repeats`` times, brainmac and NEST alternating, each run a fresh
subprocess (``brainmac_peer.py``, ``nest_peer.py``: clean peak RSS, no shared caches), and
reports the medians: build and simulate wall time, real-time factor, synaptic events per
second (total and per core), wall nanoseconds per event, bytes per synapse, peak RSS, and
NEST's time over brainmac's. NEST is skipped (and the table says why) where its memory,
estimated at ``NEST_BYTES_PER_SYNAPSE``, would not fit in ``--nest-memory-gib``, or for cases
whose NEST run would exceed the time budget (``nest_duration_ms`` shortens those).
Results: ``benchmarks/results/<date>-<machine>[-<tier>].json``; compare two such files with
``benchmarks/regress.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: NEST 3.10's peak RSS per synapse on this machine (PEERS.md: 54 B at PD14 scale 0.1,
#: ~47 B at full scale, 79 B for Brunel 2500, where fixed costs weigh more), the figure
#: used to decide whether a case fits.
NEST_BYTES_PER_SYNAPSE = 50.0


@dataclass
class Case:
    """One benchmark network and run length.

    ``network`` holds the peers' network options (``networks.add_network_args``);
    ``synapses`` the approximate synapse count (for NEST's memory estimate);
    ``nest_duration_ms`` a shorter measured window for NEST where its run would be too long.
    """

    name: str
    network: list[str]
    synapses: float
    dt_ms: float = 0.1
    duration_ms: float = 1000.0
    warmup_ms: float = 100.0
    threads: int = 2
    nest_duration_ms: float | None = None
    group: str = "models"  # "models", "scaling" or "threads"
    n_neurons: int = 0
    skip_nest: str = field(default="", repr=False)


def _random(n: int, duration_ms: float, tier: str) -> Case:
    return Case(f"random-{n:.0e}".replace("+0", ""), ["--model", "random", "--neurons", str(n),
                "--indegree", "1000"], n * 1000.0, duration_ms=duration_ms, warmup_ms=20.0,
                group="scaling", n_neurons=n,
                nest_duration_ms=duration_ms if tier == "quick" else min(duration_ms, 100.0))


def cases(tier: str) -> list[Case]:
    """The suite's cases for a tier (``full``: the issue's sizes; ``quick``: a smoke run)."""
    if tier == "quick":
        mc = ["--model", "microcircuit", "--scale", "0.05"]
        brunel = ["--model", "brunel", "--order", "500"]
        return [
            Case("mc-dt0.1", mc, 1.5e7, duration_ms=200.0, warmup_ms=50.0, n_neurons=3858),
            Case("mc-dt1", mc, 1.5e7, dt_ms=1.0, duration_ms=200.0, warmup_ms=50.0,
                 n_neurons=3858),
            *(_random(n, 100.0, tier) for n in (10_000, 30_000)),
            *(Case(f"brunel-t{t}", brunel, 6.25e5, threads=t, duration_ms=200.0,
                   group="threads", n_neurons=2500) for t in (1, 2)),
        ]
    mc = ["--model", "microcircuit", "--scale", "1"]
    brunel = ["--model", "brunel", "--order", "2500"]
    return [  # cheapest first: an interrupted suite still has most of its rows
        Case("brunel", brunel, 1.56e7, n_neurons=12500),
        *(Case(f"brunel-t{t}", brunel, 1.56e7, threads=t, duration_ms=300.0,
               group="threads", n_neurons=12500) for t in (1, 2)),
        *(_random(n, d, tier) for n, d in ((10_000, 1000.0), (100_000, 200.0))),
        Case("mc-dt0.1", mc, 2.99e8, n_neurons=77169, nest_duration_ms=200.0),
        Case("mc-dt1", mc, 2.99e8, dt_ms=1.0, n_neurons=77169, nest_duration_ms=200.0),
        _random(1_000_000, 50.0, tier),
    ]


def run_peer(script: str, args: list[str]) -> dict:
    """Run one peer in a fresh subprocess; its last stdout line is its JSON result."""
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                         text=True)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": f"exit status {out.returncode}: " + " | ".join(tail)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    """Per numeric field, the median over the runs that have it."""
    good = [r for r in runs if "error" not in r]
    keys = {k for r in good for k, v in r.items() if isinstance(v, int | float)}
    return {k: statistics.median(r[k] for r in good if k in r) for k in sorted(keys)}


def derived(m: dict) -> dict:
    """Figures computed from a peer's medians: wall ns per event and events/s per core."""
    if not m.get("syn_events"):
        return m
    m = dict(m)
    m["ns_per_event"] = m["simulate_s"] * 1e9 / m["syn_events"]
    m["syn_events_per_s_per_core"] = m["syn_events_per_s"] / m["threads"]
    return m


def peer_args(case: Case, duration_ms: float) -> list[str]:
    return [*case.network, "--threads", str(case.threads), "--dt", str(case.dt_ms),
            "--duration", str(duration_ms), "--warmup", str(case.warmup_ms)]


def nest_skip_reason(case: Case, memory_gib: float, no_nest: bool) -> str:
    """Why NEST does not run this case ("" if it does)."""
    if no_nest:
        return "--no-nest"
    need = case.synapses * NEST_BYTES_PER_SYNAPSE / 2**30
    if need > memory_gib:
        return (f"needs ~{need:.0f} GiB at {NEST_BYTES_PER_SYNAPSE:.0f} B/synapse, "
                f"more than --nest-memory-gib {memory_gib:g}")
    return ""


def run_case(case: Case, repeats: int, memory_gib: float, no_nest: bool,
             log=print, nest_repeats: int | None = None) -> dict:
    """Run one case ``repeats`` times, alternating the peers (NEST in the first
    ``nest_repeats`` of them, default all); the raw runs and medians."""
    skip = nest_skip_reason(case, memory_gib, no_nest)
    nest_repeats = repeats if nest_repeats is None else nest_repeats
    runs: dict[str, list[dict]] = {"brainmac": [], "nest": []}
    for i in range(repeats):
        runs["brainmac"].append(run_peer("brainmac_peer.py",
                                         peer_args(case, case.duration_ms)))
        if not skip and i < nest_repeats:
            runs["nest"].append(run_peer("nest_peer.py", peer_args(
                case, case.nest_duration_ms or case.duration_ms)))
        errors = [r["error"] for rs in runs.values() for r in rs[-1:] if "error" in r]
        log(f"{case.name}: run {i + 1}/{repeats} done" + (f" ({errors})" if errors else ""))
    return {"case": asdict(case), "nest_skipped": skip, "runs": runs,
            "medians": {k: derived(medians(v)) for k, v in runs.items() if v}}


COLUMNS = [("build_s", "build s", "{:.1f}"), ("simulate_s", "sim s", "{:.1f}"),
           ("rtf", "RTF", "{:.2f}"), ("syn_events_per_s", "events/s", "{:.3g}"),
           ("syn_events_per_s_per_core", "/core", "{:.3g}"), ("ns_per_event", "ns/event", "{:.1f}"),
           ("bytes_per_synapse", "B/syn", "{:.2f}"), ("peak_rss_bytes", "peak GiB", "{:.2f}")]


def _cell(m: dict, key: str, fmt: str) -> str:
    value = m.get(key)
    if value is None:
        return "-"
    return fmt.format(value / 2**30 if key == "peak_rss_bytes" else value)


def table(results: list[dict]) -> str:
    """A Markdown table: one row per case and simulator, NEST's simulate time over ours."""
    head = ["case", "simulator", *(c[1] for c in COLUMNS), "NEST/brainmac"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        b, n = r["medians"].get("brainmac", {}), r["medians"].get("nest", {})
        # Compare per biological second: NEST may have measured a shorter window.
        ratio = f"{n['rtf'] / b['rtf']:.1f}x" if b.get("rtf") and n.get("rtf") else "-"
        lines.append("| " + " | ".join([r["case"]["name"], "brainmac",
                                         *(_cell(b, k, f) for k, _, f in COLUMNS), ratio]) + " |")
        if n:
            lines.append("| " + " | ".join(["", "NEST", *(_cell(n, k, f) for k, _, f in COLUMNS),
                                             ""]) + " |")
        elif r["nest_skipped"]:
            lines.append(f"| | NEST | not run: {r['nest_skipped']} |" + " |" * len(COLUMNS))
    return "\n".join(lines)


def machine() -> dict:
    return {"node": platform.node(), "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "processor": platform.processor(),
            "load_average": os.getloadavg()}


def plot(results: list[dict], out: Path) -> list[Path]:
    """ns per event against N (scaling) and RTF against threads; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for group, xkey, ykey, xlabel, ylabel, name in (
            ("scaling", "n_neurons", "ns_per_event", "neurons (1,000 synapses each)",
             "wall ns per synaptic event", "ns_per_event_vs_n.png"),
            ("threads", "threads", "rtf", "threads", "real-time factor", "rtf_vs_threads.png")):
        rows = [r for r in results if r["case"]["group"] == group]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for sim, style in (("brainmac", "o-"), ("nest", "s--")):
            pts = [(r["case"][xkey], r["medians"][sim][ykey]) for r in rows
                   if ykey in r["medians"].get(sim, {})]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label="brainmac (seed)" if sim == "brainmac"
                        else "NEST 3.10")
        if group == "scaling":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", choices=["full", "quick"], default="full")
    parser.add_argument("--only", nargs="*", help="case names or prefixes to run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nest-repeats", type=int,
                        help="NEST runs per case (default --repeats; its large cases are slow)")
    parser.add_argument("--no-nest", action="store_true", help="brainmac only")
    parser.add_argument("--nest-memory-gib", type=float, default=16.0,
                        help="skip NEST where its estimated peak exceeds this")
    parser.add_argument("--plot", type=Path, help="write the two figures into this folder")
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/)")
    args = parser.parse_args(argv)
    chosen = [c for c in cases(args.tier)
              if not args.only or any(c.name.startswith(p) for p in args.only)]
    if not chosen:
        parser.error(f"no case matches --only {args.only}")
    started = machine()
    suffix = "" if args.tier == "full" else f"-{args.tier}"
    path = args.out or HERE / "results" / f"{dt.date.today()}-{platform.node()}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for case in chosen:  # the file is rewritten after every case: a killed suite keeps rows
        results.append(run_case(case, args.repeats, args.nest_memory_gib, args.no_nest,
                                log=lambda s: print(s, file=sys.stderr, flush=True),
                                nest_repeats=args.nest_repeats))
        path.write_text(json.dumps({"tier": args.tier, "repeats": args.repeats,
                                    "nest_repeats": args.nest_repeats or args.repeats,
                                    "machine_start": started, "machine_end": machine(),
                                    "results": results}, indent=1))
    print(table(results))
    print(f"wrote {path}", file=sys.stderr)
    if args.plot:
        for p in plot(results, args.plot):
            print(f"wrote {p}", file=sys.stderr)


if __name__ == "__main__":
    main()
