"""The job's counters, reduced over the ranks, and the ``mpi`` section of the report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainmac.engine.simulator import RunStats
from brainmac.parallel.assign import rank_loads


@dataclass
class JobSummary:
    """The whole job's counters, shaped like the Simulator fields the report reads."""

    time_ms: float
    stats: RunStats
    threads: int
    saturation: dict

    def saturation_counts(self) -> dict:
        return self.saturation


def _rank_row(context, sim, exchange, gatherer, setup) -> dict:
    from brainmac.runner import peak_rss_bytes

    return {"wall_s": sim.stats.wall_s, "steps": sim.stats.steps, "spikes": sim.stats.spikes,
            "events": sim.stats.events, "saturation": sim.saturation_counts(),
            "exchange": exchange.stats.as_dict(), "gather_s": gatherer.seconds,
            "peak_rss_bytes": peak_rss_bytes(), "checkpoint_s": list(setup.checkpoints)}


def _summary(rows: list[dict], sim) -> JobSummary:
    stats = RunStats(steps=rows[0]["steps"], wall_s=max(r["wall_s"] for r in rows),
                     spikes=sum(r["spikes"] for r in rows),
                     events=sum(r["events"] for r in rows))
    saturation = {k: sum(r["saturation"][k] for r in rows) for k in rows[0]["saturation"]}
    return JobSummary(sim.time_ms, stats, sim.threads, saturation)


def _mpi_section(rows: list[dict], setup, exchange, bio_s: float) -> dict:
    ex = [r["exchange"] for r in rows]
    wall = np.array([r["wall_s"] for r in rows])
    comm_s = np.array([e["seconds"] for e in ex])
    received = np.array([e["bytes_received"] for e in ex], np.int64)
    loads = rank_loads(setup.costs, setup.edges)
    per_bio = (lambda x: float(x) / bio_s) if bio_s else (lambda x: None)
    return {
        "ranks": len(rows), "threads_per_rank": setup.threads, "exchange": exchange.method,
        "bytes_per_spike": int(exchange.codec.dtype.itemsize),
        "partition_size": int(np.diff(setup.part_start).max()),
        "partitions_per_rank": [[int(a), int(b)] for a, b in
                                zip(setup.edges[:-1], setup.edges[1:], strict=True)],
        "load_per_rank": loads.tolist(), "load_imbalance": float(loads.max() / loads.mean()),
        "exchanges": ex[0]["calls"],
        "communication_s_per_rank": comm_s.tolist(),
        "mpi_call_s_per_rank": [e["mpi_seconds"] for e in ex],
        "communication_fraction": float(np.mean(comm_s / np.maximum(wall, 1e-12))),
        "bytes_sent_per_rank": [e["bytes_sent"] for e in ex],
        "bytes_received_per_rank": received.tolist(),
        "bytes_exchanged_per_bio_s": per_bio(received.sum()),
        "bytes_received_per_rank_per_bio_s": per_bio(received.mean()),
        "spikes_exchanged_per_bio_s": per_bio(sum(e["spikes_sent"] for e in ex)),
        "record_gather_s_per_rank": [r["gather_s"] for r in rows],
        "simulate_s_per_rank": wall.tolist(),
        "peak_rss_bytes_per_rank": [r["peak_rss_bytes"] for r in rows],
        "checkpoints": len(rows[0]["checkpoint_s"]),
        "checkpoint_s_per_rank": [sum(r["checkpoint_s"]) for r in rows],
    }


def job_statistics(context, sim, exchange, gatherer, setup) -> tuple[JobSummary | None,
                                                                      dict | None]:
    """Gather every rank's counters on rank 0; collective. (summary, mpi section) on rank 0,
    (None, None) elsewhere."""
    rows = context.comm.gather(_rank_row(context, sim, exchange, gatherer, setup), root=0)
    if not context.is_root:
        return None, None
    summary = _summary(rows, sim)
    return summary, _mpi_section(rows, setup, exchange, summary.time_ms / 1000.0)
