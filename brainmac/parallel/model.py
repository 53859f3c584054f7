"""A model of the spike exchange's cost, for planning (``brainmac plan``) and benchmarks.

With the ``allgatherv`` exchange (:func:`allgather_cost`) every rank receives every spike of
the network, once per chunk of the minimum delay. Per rank and per biological second::

    spikes       S = N * nu                               (network, all ranks)
    chunks       C = 1000 / (chunk_steps * dt_ms)
    received     V = b * S * (R - 1) / R + c * (R - 1) * C    bytes
    sent         b * S / R + c * C                            bytes (own spikes, own count)
    collectives  2 * C                                        (counts, then keys)
    time         2 * C * alpha * ceil(log2 R) + V / beta      seconds

``b`` is 4 bytes per spike (a uint32 key) and ``c`` 8 bytes per count. V tends to
``b * N * nu`` as R grows: the volume per rank does not shrink with more ranks, while each
rank's compute does (as 1/R), which bounds the useful rank count. ``alpha`` is the latency
of one small collective stage and ``beta`` the bandwidth (bytes/s) of one rank's link;
measured values for this machine are in ``docs/distributed.md``.

The ``fixed`` exchange (:func:`fixed_slot_cost`, brainmac's default) trades volume for
latency: one collective per chunk (``C``) carrying a padded slot of ``s`` keys (plus the
count) from every rank, so each rank receives ``b * (s + 1) * (R - 1) * C`` bytes whatever
the spikes; the slot adapts to twice the largest per-rank count of recent chunks (a power
of two), so ``s`` is about 2 to 4 times the peak ``N * nu * chunk_steps * dt / R``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

BYTES_PER_SPIKE = 4  # uint32 key (chunk_steps * N < 2**32), see brainmac.parallel.exchange
BYTES_PER_COUNT = 8


@dataclass(frozen=True)
class ExchangeCost:
    """Communication of one rank per biological second (see module doc)."""

    spikes_per_s: float  # network-wide
    chunks_per_s: float
    bytes_received: float
    bytes_sent: float
    collectives: float
    seconds: float | None  # with alpha and beta given, else None

    def as_dict(self) -> dict:
        return asdict(self)


def allgather_cost(n_neurons: float, rate_hz: float, n_ranks: int, dt_ms: float = 0.1,
                   chunk_steps: int = 1, alpha_s: float | None = None,
                   beta_bytes_per_s: float | None = None,
                   bytes_per_spike: int = BYTES_PER_SPIKE) -> ExchangeCost:
    """Per-rank cost of the ``allgatherv`` spike exchange per biological second.

    Parameters
    ----------
    n_neurons : float
        Neurons in the network, N.
    rate_hz : float
        Mean firing rate, nu (Hz).
    n_ranks : int
        MPI ranks, R.
    dt_ms : float
        Time step (ms).
    chunk_steps : int
        Steps per exchange: the minimum delay in steps.
    alpha_s, beta_bytes_per_s : float, optional
        Latency of one collective stage (s) and link bandwidth (bytes/s); both give the time.
    bytes_per_spike : int
        Wire size of one spike.
    """
    if n_ranks < 1 or chunk_steps < 1 or dt_ms <= 0:
        raise ValueError("n_ranks and chunk_steps must be >= 1 and dt_ms > 0")
    spikes = n_neurons * rate_hz
    chunks = 1000.0 / (chunk_steps * dt_ms)
    others = (n_ranks - 1) / n_ranks
    received = bytes_per_spike * spikes * others + BYTES_PER_COUNT * (n_ranks - 1) * chunks
    sent = bytes_per_spike * spikes / n_ranks + BYTES_PER_COUNT * chunks
    collectives = 2.0 * chunks if n_ranks > 1 else 0.0
    seconds = None
    if alpha_s is not None and beta_bytes_per_s is not None:
        stages = math.ceil(math.log2(n_ranks)) if n_ranks > 1 else 0
        seconds = collectives * alpha_s * stages + received / beta_bytes_per_s
    return ExchangeCost(spikes, chunks, received, sent, collectives, seconds)


def fixed_slot_cost(n_neurons: float, rate_hz: float, n_ranks: int, slot: int,
                    dt_ms: float = 0.1, chunk_steps: int = 1, alpha_s: float | None = None,
                    beta_bytes_per_s: float | None = None,
                    bytes_per_spike: int = BYTES_PER_SPIKE) -> ExchangeCost:
    """Per-rank cost of the ``fixed`` spike exchange per biological second.

    Parameters as :func:`allgather_cost`, and ``slot``: keys per rank and chunk (the
    ``fixed`` exchange's slot; overflows, rare by design, are not counted).
    """
    if n_ranks < 1 or chunk_steps < 1 or dt_ms <= 0 or slot < 1:
        raise ValueError("n_ranks, chunk_steps and slot must be >= 1 and dt_ms > 0")
    spikes = n_neurons * rate_hz
    chunks = 1000.0 / (chunk_steps * dt_ms)
    message = bytes_per_spike * (slot + 1)
    received = message * (n_ranks - 1) * chunks
    collectives = chunks if n_ranks > 1 else 0.0
    seconds = None
    if alpha_s is not None and beta_bytes_per_s is not None:
        stages = math.ceil(math.log2(n_ranks)) if n_ranks > 1 else 0
        seconds = collectives * alpha_s * stages + received / beta_bytes_per_s
    return ExchangeCost(spikes, chunks, received, message * chunks, collectives, seconds)
