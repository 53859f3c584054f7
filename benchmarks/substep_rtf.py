"""Real-time factor of the microcircuit (scale 0.1) by dt and sub-step bits, interleaved.

    python benchmarks/substep_rtf.py --configs 0.1:0,1:0,1:4,1:8,0.5:4 --repeats 3

Every configuration is compiled once (seed 1), warmed up (kernel compile, 200 ms), then run
in pieces of ``--piece`` ms in turn, ``--repeats`` rounds, so that a loaded machine slows
all alike; prints the median RTF (wall / biological time) and its ratio to the first one.
"""

from __future__ import annotations

import argparse
import statistics
import time

from brainmac import models
from brainmac.compile import compile_network
from brainmac.engine import Simulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="0.1:0,1:0,1:4,1:8,0.5:4")
    ap.add_argument("--profile", default="seed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--piece", type=float, default=200.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sims = {}
    for item in args.configs.split(","):
        dt, bits = float(item.split(":")[0]), int(item.split(":")[1])
        net = models.build("microcircuit", scale=0.1, k_scale=1.0, drive="poisson", dt_ms=dt)
        compiled = compile_network(net, args.profile, dt, 1, threads=args.threads,
                                   substep_bits=bits)
        sim = Simulator(compiled, threads=args.threads, record=None)
        sim.compile_kernels()
        sim.run(200.0)
        sims[item] = (sim, compiled.bytes_per_synapse())
    times = {item: [] for item in sims}
    for _ in range(args.repeats):
        for item, (sim, _) in sims.items():
            start = time.perf_counter()
            sim.run(args.piece)
            times[item].append((time.perf_counter() - start) / (args.piece / 1000.0))
    first = statistics.median(next(iter(times.values())))
    for item, rtfs in times.items():
        med = statistics.median(rtfs)
        print(f"dt:k {item:7s} {args.profile}: RTF median {med:6.2f} (runs "
              f"{', '.join(f'{r:.2f}' for r in rtfs)}), x{first / med:.2f} faster than the "
              f"first; {sims[item][1]:.2f} bytes/synapse", flush=True)


if __name__ == "__main__":
    main()
