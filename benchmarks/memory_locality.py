"""Latency of a cache-missing load by how the loads cluster in memory: a property of the
machine that decides what a synapse layout can gain.

Usage::

    python benchmarks/memory_locality.py [--gib 1] [--loads 200000] [--repeats 5]
    python benchmarks/memory_locality.py --levels     # ns per load by working-set size

A pointer chase through a 1 GiB array (numpy gives it transparent huge pages where the
kernel allows) visits lines in four orders: every load in a random 4 KB page; eight
distinct lines of one 4 KB page, then another page; eight loads in distinct 4 KB pages of
one 64 KB block; eight in distinct 4 KB pages of one 2 MB page. Each load depends on the
previous one, so the time per load is the full latency. Prints ns per load, best of the
repeats. If clustering within 2 MB pages gains nothing over random pages while
clustering within 4 KB pages does, the huge pages do not shorten a miss here (the host
maps the guest's memory in small pages, or the DRAM rows favour close lines).

``--levels`` chases random lines of working sets from 1 MB to 256 MB instead: where the
time per load steps up are the cache levels a kernel's data (event queues, accumulators,
rows) can live in.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import brainmac  # noqa: F401  (brainmac's CPU settings, before numba is imported)

# isort: split
from numba import njit

LINE, PAGE, BLOCK, HUGE = 8, 512, 8192, 1 << 18  # in uint64: 64 B, 4 KB, 64 KB, 2 MB
GROUP = 8  # loads per cluster


@njit(cache=True)
def chase(a, start, n):
    """Follow ``a[i]`` n times from ``start``; returns the last index."""
    i = start
    for _ in range(n):
        i = a[i]
    return i


def clustered(rng, n_elems: int, span: int, n_loads: int) -> np.ndarray:
    """Indices of about n_loads lines in clusters of GROUP, each cluster inside one random
    region of ``span`` uint64 (span = LINE: no clustering), no line twice."""
    if span == LINE:
        pages = rng.choice(n_elems // PAGE, n_loads, replace=False)
        return pages * PAGE + rng.integers(0, PAGE // LINE, n_loads) * LINE
    n_regions, n_groups = n_elems // span, n_loads // GROUP
    regions = rng.choice(n_regions, n_groups, replace=n_groups > n_regions)
    if span == PAGE:  # distinct lines of one page
        inner = np.stack([rng.choice(PAGE // LINE, GROUP, replace=False) * LINE
                          for _ in regions])
    else:  # one line in each of GROUP distinct pages of the region
        inner = np.stack([rng.choice(span // PAGE, GROUP, replace=False) * PAGE
                          + rng.integers(0, PAGE // LINE, GROUP) * LINE for _ in regions])
    idx = (regions[:, None] * span + inner).ravel()
    _, first = np.unique(idx, return_index=True)  # a region drawn twice may repeat a line
    return idx[np.sort(first)]


def time_chase(a, idx: np.ndarray, repeats: int, min_loads: int = 200_000) -> list[float]:
    """ns per load of chasing the cycle ``idx`` (written into ``a``, cleared after), round
    it as often as needed for at least ``min_loads`` loads per timing."""
    a[idx[:-1]] = idx[1:]
    a[idx[-1]] = idx[0]
    chase(a, idx[0], 1000)
    n_loads = max(idx.size, min_loads)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        chase(a, idx[0], n_loads)
        times.append((time.perf_counter() - start) / n_loads * 1e9)
    a[idx] = 0
    return times


def report(name: str, times: list[float]) -> None:
    """One line: the best time per load, then every repeat's."""
    print(f"{name:24s} {min(times):6.1f} ns/load  (all: "
          f"{' '.join(f'{t:.1f}' for t in times)})")


def levels(rng, a, repeats: int) -> None:
    """Random lines of working sets of 1 MB to 256 MB, each line once per cycle."""
    for mb in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        n_lines = min(mb * 2**20, a.size * 8) // 64
        idx = (rng.permutation(n_lines) * LINE).astype(np.uint64)
        report(f"working set {mb} MB", time_chase(a, idx, repeats))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--loads", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--levels", action="store_true",
                    help="time working sets of 1-256 MB instead of clusters")
    args = ap.parse_args(argv)
    n_elems = int(args.gib * 2**30) // 8 // HUGE * HUGE
    a = np.zeros(n_elems, np.uint64)
    a[::PAGE] = 1  # every page resident before timing
    rng = np.random.default_rng(1)
    if args.levels:
        levels(rng, a, args.repeats)
        return
    for name, span in (("random 4 KB page each", LINE), ("8 in one 4 KB page", PAGE),
                       ("8 in one 64 KB block", BLOCK), ("8 in one 2 MB page", HUGE)):
        idx = clustered(rng, n_elems, span, args.loads).astype(np.uint64)
        report(name, time_chase(a, idx, args.repeats))


if __name__ == "__main__":
    main()
