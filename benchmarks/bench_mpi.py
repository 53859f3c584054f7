"""MPI benchmark: ranks vs threads on the microcircuit, and the spike exchange alone.

Two parts (results and their discussion: ``docs/distributed.md``):

``runs``
    ``brainmac run microcircuit`` once per configuration RANKSxTHREADS (default 1x2 and 2x1,
    the same two cores used either way), then a table of real-time factor, time in
    communication, bytes exchanged per biological second, and the model's prediction
    (:func:`brainmac.parallel.model.allgather_cost`)::

        python benchmarks/bench_mpi.py runs --scale 1.0 --configs 1x2,2x1 --out bench-mpi

``exchange``
    The exchange alone, under ``mpiexec``: every method of
    :data:`brainmac.parallel.exchange.METHODS` on synthetic Poisson spikes of N neurons at
    rate nu, chunk by chunk; time per exchange and bytes per rank::

        mpiexec -n 2 python benchmarks/bench_mpi.py exchange --neurons 77169 --rate 4

``memory``
    Resident memory per rank, stage by stage, for 1 and 2 ranks (one thread each), of a
    model compiled on the ranks or of a store (``brainmac compile``) opened partially:
    at start-up, when the network is built or opened (peak so far and resident), while
    simulating, and the peak of the whole job::

        python benchmarks/bench_mpi.py memory --scale 0.1 --ranks 1,2
        python benchmarks/bench_mpi.py memory --store mc01.store --ranks 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from brainmac.parallel.model import allgather_cost


def _config(text: str) -> tuple[int, int]:
    ranks, threads = text.lower().split("x")
    return int(ranks), int(threads)


def run_one(ranks: int, threads: int, args, out: Path) -> dict:
    """One ``brainmac run`` (under mpiexec when ranks > 1); its report and wall time."""
    command = [sys.executable, "-m", "brainmac.cli", "run", "microcircuit", "--scale",
               str(args.scale), "--warmup", args.warmup, "--duration", args.duration,
               "--threads", str(threads), "--out", str(out), "--quiet"]
    if ranks > 1:
        command = [shutil.which("mpiexec") or "mpiexec", "-n", str(ranks), *command]
    env = dict(os.environ, MPIR_CVAR_ENABLE_HEAVY_YIELD="1",
               **({"BRAINMAC_MPI_EXCHANGE": args.method} if args.method else {}))
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    total = time.perf_counter() - start
    report = json.loads((out / "report.json").read_text())
    report["bench_total_wall_s"] = total
    return report


def _row(ranks: int, threads: int, report: dict) -> dict:
    mpi = report.get("mpi") or {}
    bio = report["biological_s"]
    rate = report["spikes"] / max(report["neurons"], 1) / bio
    chunk = 1 if not mpi else max(1, round(bio * 1000 / report["dt_ms"] / mpi["exchanges"]))
    model = allgather_cost(report["neurons"], rate, ranks, report["dt_ms"], chunk)
    return {
        "config": f"{ranks}x{threads}", "ranks": ranks, "threads": threads,
        "build_s": report["wall_s"]["build"], "simulate_s": report["wall_s"]["simulate"],
        "real_time_factor": report["real_time_factor"], "mean_rate_hz": rate,
        "spikes": report["spikes"], "synaptic_events": report["synaptic_events"],
        "peak_rss_bytes": report["peak_rss_bytes"], "total_wall_s": report["bench_total_wall_s"],
        "exchange": mpi.get("exchange"),
        "communication_fraction": mpi.get("communication_fraction", 0.0),
        "communication_s_per_rank": mpi.get("communication_s_per_rank"),
        "mpi_call_s_per_rank": mpi.get("mpi_call_s_per_rank"),
        "load_imbalance": mpi.get("load_imbalance"),
        "bytes_exchanged_per_bio_s": mpi.get("bytes_exchanged_per_bio_s", 0.0),
        "bytes_received_per_rank_per_bio_s": mpi.get("bytes_received_per_rank_per_bio_s", 0.0),
        "model_bytes_received_per_rank_per_bio_s": model.bytes_received,
        "exchanges_per_bio_s": mpi.get("exchanges", 0) / bio,
        "peak_rss_bytes_per_rank": mpi.get("peak_rss_bytes_per_rank"),
    }


def runs(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for text in args.configs.split(","):
        ranks, threads = _config(text)
        report = run_one(ranks, threads, args, out / f"r{ranks}t{threads}")
        rows.append(_row(ranks, threads, report))
        print(json.dumps(rows[-1]), flush=True)
    summary = {"scale": args.scale, "warmup": args.warmup, "duration": args.duration,
               "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{'config':>7} {'build s':>8} {'sim s':>7} {'RTF':>6} {'comm %':>7} "
          f"{'B/bio s':>10} {'model B/rank/s':>15}")
    for r in rows:
        print(f"{r['config']:>7} {r['build_s']:8.1f} {r['simulate_s']:7.1f} "
              f"{r['real_time_factor']:6.2f} {100 * r['communication_fraction']:7.1f} "
              f"{r['bytes_exchanged_per_bio_s']:10.3g} "
              f"{r['model_bytes_received_per_rank_per_bio_s']:15.3g}")


def _synthetic_spikes(args, rank: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chunk: this rank's Poisson spikes (ids in its contiguous range, (step, id) order)."""
    rng = np.random.default_rng(rank)
    first = args.neurons * rank // size
    stop = args.neurons * (rank + 1) // size
    p = args.rate * args.dt * 1e-3
    chunks = []
    for c in range(args.chunks):
        gids, steps = [], []
        for s in range(args.chunk):
            fired = first + np.flatnonzero(rng.random(stop - first) < p)
            gids.append(fired)
            steps.append(np.full(fired.size, c * args.chunk + s, np.int64))
        chunks.append((np.concatenate(gids).astype(np.int64), np.concatenate(steps)))
    return chunks


def exchange(args) -> None:
    from mpi4py import MPI

    from brainmac.parallel.context import MPIContext
    from brainmac.parallel.exchange import METHODS, make_exchange

    comm = MPI.COMM_WORLD
    context = MPIContext(comm, comm.Get_rank(), comm.Get_size(), comm.Get_size())
    spikes = _synthetic_spikes(args, context.rank, context.size)
    n = args.neurons
    size = context.size
    owned = (context.rank, context.rank + 1)
    edges = [n * r // size for r in range(size + 1)]
    row_syn = np.zeros((size, n + 1), np.uint32)  # every neuron has targets everywhere
    row_syn[:, 1:] = np.arange(1, n + 1, dtype=np.uint32)
    arrays = {"part_start": np.array(edges, np.int64), "row_syn": row_syn}
    results = {}
    for method in args.methods.split(",") if args.methods else METHODS:
        ex = make_exchange(method, context, arrays, owned, args.chunk)
        ex.begin_block(0, args.chunk * args.chunks)
        comm.Barrier()
        start = time.perf_counter()
        for gid, step in spikes:
            ex(gid, step)
        wall = time.perf_counter() - start
        bio_s = args.chunks * args.chunk * args.dt * 1e-3
        stats = comm.gather(ex.stats.as_dict(), root=0)
        walls = comm.gather(wall, root=0)
        if context.is_root:
            results[method] = {
                "us_per_exchange": 1e6 * max(walls) / args.chunks,
                "us_in_mpi_per_exchange": 1e6 * max(s["mpi_seconds"] for s in stats)
                / args.chunks,
                "bytes_received_per_rank_per_bio_s": float(np.mean(
                    [s["bytes_received"] for s in stats])) / bio_s}
    if context.is_root:
        model = allgather_cost(n, args.rate, size, args.dt, args.chunk)
        print(json.dumps({"ranks": size, "neurons": n, "rate_hz": args.rate,
                          "chunk_steps": args.chunk, "dt_ms": args.dt, "methods": results,
                          "model_bytes_received_per_rank_per_bio_s": model.bytes_received},
                         indent=2))


def _memory_now() -> dict[str, int]:
    """This process's resident memory now and its peak so far, bytes (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss" if key == "VmRSS" else "peak"] = int(value.split()[0]) * 1024
    return out


def memory_job(args) -> None:
    """One job (under mpiexec or not) that notes every rank's memory at each stage and
    prints, on rank 0, one JSON line with all ranks' notes."""
    from brainmac.parallel import mpi_context
    from brainmac.runner import Hooks, JobConfig, execute

    notes = [("start", _memory_now())]
    cfg = JobConfig(model=args.store or "microcircuit", scale=args.scale, warmup_ms=0.0,
                    duration_ms=args.duration_ms, threads=1, out=args.out, record="all",
                    partition_size=args.partition_size)
    execute(cfg, Hooks(stage=lambda name: notes.append((name, _memory_now()))))
    notes.append(("end", _memory_now()))
    context = mpi_context()
    every = [notes] if context is None else context.comm.gather(notes, root=0)
    if context is None or context.is_root:
        print(json.dumps({"ranks": len(every), "notes": every}), flush=True)


def _memory_row(job: dict) -> list[dict]:
    """Per rank, MiB: resident at start-up; peak and resident once the network is built
    or opened; resident when the simulation starts (kernels loaded); peak of the job."""
    rows = []
    for notes in job["notes"]:
        stage = dict(notes)
        built = stage["compiling kernels"]
        rows.append({"start": stage["start"]["rss"] / 2**20,
                     "build_peak": built["peak"] / 2**20,
                     "built_rss": built["rss"] / 2**20,
                     "simulating_rss": stage["simulating"]["rss"] / 2**20,
                     "job_peak": stage["end"]["peak"] / 2**20})
    return rows


def memory(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for ranks in (int(r) for r in args.ranks.split(",")):
        command = [sys.executable, __file__, "memory-job", "--scale", str(args.scale),
                   "--duration-ms", str(args.duration_ms), "--out", str(out / f"r{ranks}")]
        command += ["--store", args.store] if args.store else []
        command += ["--partition-size", str(args.partition_size)] if args.partition_size else []
        if ranks > 1:
            command = [shutil.which("mpiexec") or "mpiexec", "-n", str(ranks), *command]
        done = subprocess.run(command, env=dict(os.environ, MPIR_CVAR_ENABLE_HEAVY_YIELD="1"),
                              check=True, capture_output=True, text=True)
        job = json.loads(done.stdout.strip().splitlines()[-1])
        results.append({"ranks": ranks, "per_rank_mib": _memory_row(job),
                        "load_average": os.getloadavg(), "notes": job["notes"]})
        print(json.dumps({k: v for k, v in results[-1].items() if k != "notes"}), flush=True)
    (out / "memory.json").write_text(json.dumps(results, indent=2))
    print(f"{'ranks':>5} {'rank':>4} {'start':>7} {'build peak':>10} {'built':>7} "
          f"{'simulating':>10} {'job peak':>8}   (MiB)")
    for result in results:
        for rank, row in enumerate(result["per_rank_mib"]):
            print(f"{result['ranks']:5d} {rank:4d} {row['start']:7.0f} {row['build_peak']:10.0f} "
                  f"{row['built_rss']:7.0f} {row['simulating_rss']:10.0f} {row['job_peak']:8.0f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    r = sub.add_parser("runs", help="brainmac run per RANKSxTHREADS configuration")
    r.add_argument("--scale", type=float, default=1.0)
    r.add_argument("--warmup", default="500ms")
    r.add_argument("--duration", default="1000ms")
    r.add_argument("--configs", default="1x2,2x1", help="RANKSxTHREADS, comma-separated")
    r.add_argument("--method", default=None, help="exchange method (default: brainmac's)")
    r.add_argument("--out", default="bench-mpi")
    e = sub.add_parser("exchange", help="the exchange alone (run under mpiexec)")
    e.add_argument("--neurons", type=int, default=77169)
    e.add_argument("--rate", type=float, default=4.0, help="Hz")
    e.add_argument("--dt", type=float, default=0.1, help="ms")
    e.add_argument("--chunk", type=int, default=1, help="steps per exchange")
    e.add_argument("--chunks", type=int, default=5000, help="exchanges to time")
    e.add_argument("--methods", default=None, help="comma-separated (default: all)")
    for name, help_text in (("memory", "resident memory per rank, 1 vs 2 ranks"),
                            ("memory-job", "one job of `memory` (internal)")):
        m = sub.add_parser(name, help=help_text)
        m.add_argument("--scale", type=float, default=0.1, help="microcircuit scale")
        m.add_argument("--store", default=None, help="run this store instead of the model")
        m.add_argument("--duration-ms", type=float, default=100.0)
        m.add_argument("--partition-size", type=int, default=None,
                       help="neurons per partition of the model (default: brainmac's)")
        m.add_argument("--out", default="bench-mpi-memory")
        m.add_argument("--ranks", default="1,2", help="rank counts, comma-separated")
    args = parser.parse_args(argv)
    parts = {"runs": runs, "exchange": exchange, "memory": memory, "memory-job": memory_job}
    parts[args.part](args)


if __name__ == "__main__":
    main()
