"""The compiled store larger than RAM: compile to disk, open, run 1 s from the memory map.

Usage::

    python benchmarks/bench_store.py --neurons 1e6 --indegree 1000 --dir /work/bench \\
        --threads 2 --json benchmarks/results/store_1e9.json

A Brunel-like network (``brainmac.models.brunel`` with epsilon = K / N: C_E = 0.8 K,
C_I = 0.2 K, delay ``--delay-ms`` (2 ms), dt 1 ms, the seed profile) is compiled with
:func:`brainmac.store.write_store` and run for ``--bio-ms`` of biological time. Each phase
runs in a child process, so that its peak RSS and its ``/proc/self/io`` counters are its own:

- ``drive``: the disk's sequential (1 MiB) and random (4 KiB, queue depth 1 and 32) read
  bandwidth with fio, O_DIRECT, on the store's largest file (dd if fio is missing);
- ``compile``: wall time, synapses/s, peak RSS, bytes written, store size;
- ``open``: the store evicted from the page cache, then ``open_store`` (every index check
  reads the index arrays once): wall time and bytes read;
- ``run``: evicted again, then the run from the memory map, its first ``--first-ms``
  (which faults the store in) and the rest apart: wall time, bytes read from disk, page
  faults, synaptic events, firing rate;
- ``cold``: the store evicted before every step (the page cache holds nothing between steps,
  as when the store is many times RAM): time and bytes read per step, for ``--cold-steps``.

Eviction is ``madvise(MADV_DONTNEED)`` on the process's mappings plus
``posix_fadvise(POSIX_FADV_DONTNEED)`` on every file, which needs no privileges.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DT_MS = 1.0
RECORD_FRACTION = 0.02  # neurons whose spikes give the firing rate


def io_counters() -> dict[str, int]:
    """This process's /proc/self/io (read_bytes: fetched from the storage layer)."""
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, value = line.split(":")
        out[key.strip()] = int(value)
    return out


def rss_now() -> dict[str, int]:
    """Resident memory now, anonymous (heap) and file-backed (the mapped store) apart."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            key, value = line.split(":")
            out[key.lower() + "_bytes"] = int(value.split()[0]) * 1024
    return out


def usage() -> dict:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    io = io_counters()
    return {**rss_now(), "peak_rss_bytes": ru.ru_maxrss * 1024, "major_faults": ru.ru_majflt,
            "minor_faults": ru.ru_minflt, "read_bytes": io["read_bytes"],
            "write_bytes": io["write_bytes"]}


def delta(before: dict, after: dict) -> dict:
    keys = ("major_faults", "minor_faults", "read_bytes", "write_bytes")
    return {k: after[k] - before[k] for k in keys}


def network(neurons: int, indegree: int, delay_ms: float):
    from brainmac.models import build

    order = neurons // 5
    return build("brunel", order=order, epsilon=indegree / (5 * order), delay_ms=delay_ms)


def log_line(args, **fields) -> None:
    """Append one JSON line to ``--log`` (progress of long phases; survives a kill)."""
    if args.log is not None:
        with open(args.log, "a") as f:
            f.write(json.dumps({"time": time.time(), **fields}) + "\n")


def evict(store: Path, arrays: dict | None = None) -> None:
    """Drop the store's pages from this process's mappings and from the page cache."""
    for values in (arrays or {}).values():
        base = values
        while base is not None and not isinstance(base, mmap.mmap):
            base = getattr(base, "_mmap", None) or getattr(base, "base", None)
        if isinstance(base, mmap.mmap):
            base.madvise(mmap.MADV_DONTNEED)
    for file in store.iterdir():
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def store_bytes(store: Path) -> int:
    return sum(f.stat().st_size for f in store.iterdir())


# -- phases (each in its own process) -----------------------------------------------------
def phase_compile(args) -> dict:
    from brainmac.store import write_store

    net = network(args.neurons, args.indegree, args.delay_ms)
    before, start = usage(), time.perf_counter()

    def progress(done: int, total: int) -> None:
        log_line(args, phase="compile", partitions=done, of=total,
                 wall_s=time.perf_counter() - start, loadavg=os.getloadavg()[0],
                 **delta(before, usage()))

    write_store(net, args.store, dt_ms=DT_MS, threads=args.threads, overwrite=True,
                partition_size=args.partition_size, progress=progress)
    wall = time.perf_counter() - start
    manifest = json.loads((args.store / "manifest.json").read_text())
    n = manifest["synapses"]
    arrays = {name: int(Path(args.store / e["file"]).stat().st_size)
              for name, e in manifest["arrays"].items()}
    return {"wall_s": wall, "synapses": n, "neurons": manifest["neurons"],
            "partitions": manifest["partitions"], "groups": manifest["groups"],
            "synapses_per_s": n / wall, "store_bytes": store_bytes(args.store),
            "bytes_per_synapse": manifest["bytes_per_synapse"],
            "array_bytes": dict(sorted(arrays.items(), key=lambda kv: -kv[1])[:8]),
            **usage(), **{"io": delta(before, usage())}}


def phase_open(args) -> dict:
    from brainmac.store import open_store

    evict(args.store)
    before, start = usage(), time.perf_counter()
    open_store(args.store)
    return {"wall_s": time.perf_counter() - start, "io": delta(before, usage())}


def phase_run(args) -> dict:
    """The run from an evicted store: the first ``--first-ms`` (which faults the store in)
    and the rest, measured apart."""
    from brainmac.engine import Simulator
    from brainmac.store import open_store

    compiled = open_store(args.store)
    pool_bytes = int(args.max_queue_gib * 2**30) if args.max_queue_gib else None
    sim = Simulator(compiled, threads=args.threads, record=RECORD_FRACTION,
                    event_pool_bytes=pool_bytes)
    sim.compile_kernels()
    evict(args.store, compiled.arrays)
    parts = {}
    for name, ms in (("first", args.first_ms), ("rest", args.bio_ms - args.first_ms)):
        before, start, events = usage(), time.perf_counter(), sim.stats.events
        run_logged(sim, ms, args, name)
        wall = time.perf_counter() - start
        parts[name] = {"bio_ms": ms, "wall_s": wall, "events": sim.stats.events - events,
                       "events_per_s": (sim.stats.events - events) / wall,
                       "io": delta(before, usage())}
    recorded = int(sim.rec_mask.sum())
    wall = parts["first"]["wall_s"] + parts["rest"]["wall_s"]
    return {"bio_ms": args.bio_ms, "wall_s": wall, "real_time_factor": wall / args.bio_ms * 1e3,
            "events": sim.stats.events, "events_per_s": sim.stats.events / wall,
            "rate_hz": sim.stats.spikes / recorded / args.bio_ms * 1e3, **parts, **usage()}


def run_logged(sim, ms: float, args, part: str) -> None:
    """``sim.run(ms)``, one chunk (the minimum delay) at a time when ``--log`` is given,
    logging each chunk's wall time, bytes read and events."""
    if args.log is None:
        sim.run(ms)
        return
    chunk_ms = sim.chunk * DT_MS
    done = 0.0
    while done < ms:
        step_ms = min(chunk_ms, ms - done)
        before, start = usage(), time.perf_counter()
        events, spikes = sim.stats.events, sim.stats.spikes
        sim.run(step_ms)
        done += step_ms
        log_line(args, phase="run", part=part, bio_ms=done, wall_s=time.perf_counter() - start,
                 events=sim.stats.events - events, spikes_recorded=sim.stats.spikes - spikes,
                 loadavg=os.getloadavg()[0], **delta(before, usage()))


def phase_cold(args) -> dict:
    """Steps with an empty page cache: what each step costs when the store is >> RAM."""
    from brainmac.engine import Simulator
    from brainmac.store import open_store

    compiled = open_store(args.store)
    sim = Simulator(compiled, threads=args.threads, record=None)
    sim.compile_kernels()
    sim.run(args.warm_ms)  # reach the steady state first (from the page cache)
    steps = []
    chunk_ms = sim.chunk * DT_MS
    for _ in range(args.cold_steps):
        evict(args.store, compiled.arrays)
        before, start, events = usage(), time.perf_counter(), sim.stats.events
        sim.run(chunk_ms)
        steps.append({"wall_s": time.perf_counter() - start, "events": sim.stats.events - events,
                      **delta(before, usage())})
    return {"chunk_steps": sim.chunk, "warm_ms": args.warm_ms, "chunks": steps}


# -- drive ----------------------------------------------------------------------------------
def fio(file: Path, rw: str, bs: str, depth: int, seconds: int) -> float:
    """Read bandwidth (bytes/s) of one fio job on ``file`` (read-only, O_DIRECT)."""
    cmd = ["fio", "--name=bench", f"--filename={file}", "--readonly", f"--rw={rw}",
           f"--bs={bs}", "--direct=1", "--ioengine=libaio", f"--iodepth={depth}",
           f"--runtime={seconds}", "--time_based", "--output-format=json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["jobs"][0]["read"]["bw_bytes"]


def dd(file: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["dd", f"if={file}", "of=/dev/null", "bs=1M", "iflag=direct"],
                   capture_output=True, check=True)
    return file.stat().st_size / (time.perf_counter() - start)


def phase_drive(args) -> dict:
    file = max(args.store.iterdir(), key=lambda f: f.stat().st_size)
    if shutil.which("fio") is None:
        return {"tool": "dd", "file_bytes": file.stat().st_size, "seq_read_bytes_per_s": dd(file)}
    return {"tool": "fio (libaio, O_DIRECT)", "file_bytes": file.stat().st_size,
            "seq_read_bytes_per_s": fio(file, "read", "1M", 4, 10),
            "rand_read_4k_qd1_bytes_per_s": fio(file, "randread", "4k", 1, 10),
            "rand_read_4k_qd32_bytes_per_s": fio(file, "randread", "4k", 32, 10)}


PHASES = {"compile": phase_compile, "drive": phase_drive, "open": phase_open,
          "run": phase_run, "cold": phase_cold}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--neurons", type=float, default=1e6)
    p.add_argument("--indegree", type=int, default=1000)
    p.add_argument("--dir", type=Path, required=True, help="where the store is written")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--partition-size", type=int, default=4096,
                   help="neurons per partition; row pointers and groups grow as N / size")
    p.add_argument("--delay-ms", type=float, default=2.0,
                   help="delay of every synapse = the run's chunk (one pass over the store)")
    p.add_argument("--bio-ms", type=float, default=1000.0)
    p.add_argument("--first-ms", type=float, default=10.0)
    p.add_argument("--warm-ms", type=float, default=100.0)
    p.add_argument("--cold-steps", type=int, default=5)
    p.add_argument("--phases", default="compile,drive,open,run,cold")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    p.add_argument("--max-queue-gib", type=float, default=None,
                   help="cap the engine's event pools (GiB in all) in the run phase")
    p.add_argument("--log", type=Path, default=None, help="JSON lines of per-partition and "
                   "per-chunk progress")
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.neurons = int(args.neurons)
    args.store = args.dir / (f"brunel_n{args.neurons}_k{args.indegree}_d{args.delay_ms:g}"
                             f"_p{args.partition_size}.store")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    results = {"neurons": args.neurons, "indegree": args.indegree, "threads": args.threads,
               "partition_size": args.partition_size,
               "dt_ms": DT_MS, "delay_ms": args.delay_ms, "cpu_count": os.cpu_count(),
               "mem_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")}
    for name in args.phases.split(","):
        cmd = [sys.executable, __file__, "--phase", name, *(argv or sys.argv[1:])]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            return done.returncode
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[name]["loadavg_1min_after"] = os.getloadavg()[0]  # the machine is shared
        print(name, json.dumps(results[name]), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    if not args.keep:
        shutil.rmtree(args.store, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
