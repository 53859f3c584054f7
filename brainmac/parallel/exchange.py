"""The spike exchange between MPI ranks, once per chunk of the minimum delay.

Wire format: one unsigned key per spike, ``(step - chunk start) * N + neuron id`` (uint32
while ``chunk * N < 2**32``, else uint64): 4 bytes per spike for any network below 4e9
neuron-steps per chunk. Each rank's keys are ascending ((step, id) order) and ranks own
ascending id ranges, so the keys of all ranks, sorted, are the chunk's spikes in the
(step, id) order the engine needs: the same order as one process, whatever R.

Three transports (``METHODS``), all with the same result:

``allgatherv``
    ``MPI_Allgather`` of the counts, then ``MPI_Allgatherv`` of the keys: every rank
    receives every spike. Two collectives per chunk; no padding.
``fixed``
    One ``MPI_Allgather`` of a fixed-size slot per rank (count + keys, padded); a second
    ``MPI_Allgatherv`` only when some rank overflows its slot, which then grows (to the
    next power of two, on every rank alike: all see all counts); every
    ``FIXED_SHRINK_WINDOW`` exchanges it shrinks to twice the largest count seen. One
    collective per chunk, at the price of padding.
``alltoallv``
    ``MPI_Alltoall`` of counts, then ``MPI_Alltoallv`` sending each rank only the spikes of
    neurons with synapses on its partitions. Less volume for sparse, structured
    connectivity (many areas); none saved when every neuron reaches every rank.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from brainmac.compile.rows import row_lengths
from brainmac.errors import ConfigError

METHODS = ("allgatherv", "fixed", "alltoallv")
DEFAULT_METHOD = "fixed"  # fewest collectives; measured fastest: docs/distributed.md
COUNT_BYTES = 8  # int64 per count
FIXED_INITIAL_SLOT = 64  # keys per rank slot of the ``fixed`` method, before it adapts
FIXED_SHRINK_WINDOW = 1000  # exchanges after which the slot shrinks to 2x their largest count


@dataclass
class ExchangeStats:
    """Counters of one rank's exchanges (bytes are payload, counts included)."""

    calls: int = 0
    seconds: float = 0.0  # whole exchange: encode, MPI, decode; includes waiting for others
    mpi_seconds: float = 0.0  # inside MPI calls only
    bytes_sent: int = 0
    bytes_received: int = 0  # from other ranks
    spikes_sent: int = 0
    spikes_received: int = 0  # from other ranks

    def as_dict(self) -> dict:
        return asdict(self)


class SpikeCodec:
    """(neuron id, step) <-> one unsigned key per spike, relative to the chunk start."""

    def __init__(self, n_neurons: int, chunk: int) -> None:
        self.n = int(n_neurons)
        self.dtype = np.dtype(np.uint32 if chunk * n_neurons < 2**32 else np.uint64)

    def encode(self, gid: np.ndarray, step: np.ndarray, t0: int) -> np.ndarray:
        return ((step - t0) * self.n + gid).astype(self.dtype)

    def decode(self, keys: np.ndarray, t0: int) -> tuple[np.ndarray, np.ndarray]:
        wide = keys.astype(np.int64)
        return wide % self.n, wide // self.n + t0


class SpikeExchange:
    """Base of the transports: the chunk clock, the codec and the counters.

    A callable for :class:`~brainmac.engine.Simulator`'s ``exchange``. The clock must be
    told each block before it runs (:meth:`begin_block`): chunks end at block ends, and the
    chunk start is what keys are relative to.
    """

    method = ""

    def __init__(self, context, n_neurons: int, chunk: int) -> None:
        self.comm, self.rank, self.size = context.comm, context.rank, context.size
        self.chunk = int(chunk)
        self.codec = SpikeCodec(n_neurons, chunk)
        self.stats = ExchangeStats()
        self._t = self._stop = 0

    def begin_block(self, step: int, n_steps: int) -> None:
        """The next block runs steps [step, step + n_steps)."""
        self._t, self._stop = int(step), int(step) + int(n_steps)

    def __call__(self, gid: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = self._t
        if t0 >= self._stop:
            raise RuntimeError("spike exchange called past the block announced by begin_block")
        self._t = min(t0 + self.chunk, self._stop)
        if step.size and (step[0] < t0 or step[-1] >= self._t):
            raise RuntimeError(f"spikes of steps {step[0]}..{step[-1]} outside the chunk "
                               f"[{t0}, {self._t})")
        start = time.perf_counter()
        keys = self.codec.encode(gid, step, t0)
        got = self._exchange(keys)
        if self._t - t0 > 1:
            got.sort()
        out = self.codec.decode(got, t0)
        self.stats.calls += 1
        self.stats.seconds += time.perf_counter() - start
        return out

    def _exchange(self, keys: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _count(self, sent: int, received: int, spikes_sent: int, spikes_received: int) -> None:
        self.stats.bytes_sent += sent
        self.stats.bytes_received += received
        self.stats.spikes_sent += spikes_sent
        self.stats.spikes_received += spikes_received


class AllgathervExchange(SpikeExchange):
    """Counts by ``Allgather``, keys by ``Allgatherv``: every rank gets every spike."""

    method = "allgatherv"

    def __init__(self, context, n_neurons: int, chunk: int) -> None:
        super().__init__(context, n_neurons, chunk)
        self._counts = np.zeros(self.size, np.int64)
        self._displs = np.zeros(self.size, np.int64)
        self._mine = np.zeros(1, np.int64)

    def _exchange(self, keys: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        self._mine[0] = keys.size
        self.comm.Allgather(self._mine, self._counts)
        np.cumsum(self._counts[:-1], out=self._displs[1:])
        got = np.empty(int(self._counts.sum()), self.codec.dtype)
        self.comm.Allgatherv(keys, [got, (self._counts, self._displs)])
        self.stats.mpi_seconds += time.perf_counter() - start
        others = got.size - keys.size
        item = self.codec.dtype.itemsize
        self._count(keys.nbytes + COUNT_BYTES, others * item + (self.size - 1) * COUNT_BYTES,
                    keys.size, others)
        return got


class FixedSlotExchange(SpikeExchange):
    """One ``Allgather`` of fixed slots (count + keys); ``Allgatherv`` only on overflow."""

    method = "fixed"

    def __init__(self, context, n_neurons: int, chunk: int,
                 slot: int = FIXED_INITIAL_SLOT) -> None:
        super().__init__(context, n_neurons, chunk)
        self._resize(slot)  # a slot's first entry is the count: < chunk * N, fits the key

    def _resize(self, slot: int) -> None:
        self.slot = int(slot)
        self._window, self._window_max = 0, 0
        self._send = np.zeros(self.slot + 1, self.codec.dtype)
        self._recv = np.zeros((self.size, self.slot + 1), self.codec.dtype)

    def _adapt(self, largest: int) -> None:
        """Shrink the slot after a window of small counts (the same on every rank)."""
        self._window += 1
        self._window_max = max(self._window_max, largest)
        if self._window >= FIXED_SHRINK_WINDOW:
            target = max(8, 1 << (2 * self._window_max).bit_length())
            if target < self.slot:
                self._resize(target)
            self._window, self._window_max = 0, 0

    def _exchange(self, keys: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        n = keys.size
        self._send[0] = n
        self._send[1: 1 + min(n, self.slot)] = keys[: self.slot]
        self.comm.Allgather(self._send, self._recv)
        counts = self._recv[:, 0].astype(np.int64)
        item = self._send.itemsize
        sent, received = self._send.nbytes, (self.size - 1) * self._send.nbytes
        if counts.max() <= self.slot:
            got = np.concatenate([self._recv[r, 1: 1 + counts[r]] for r in range(self.size)])
            self._adapt(int(counts.max()))
        else:
            displs = np.concatenate([[0], np.cumsum(counts[:-1])])
            got = np.empty(int(counts.sum()), self.codec.dtype)
            self.comm.Allgatherv(keys, [got, (counts, displs)])
            sent += keys.nbytes
            received += (got.size - n) * item
            self._resize(1 << int(counts.max()).bit_length())
        self.stats.mpi_seconds += time.perf_counter() - start
        self._count(sent, received, n, got.size - n)
        return got


class AlltoallvExchange(SpikeExchange):
    """Counts by ``Alltoall``, keys by ``Alltoallv``: each rank gets the spikes it uses.

    ``needs`` is this rank's mask of neurons with synapses on its own partitions; the masks
    of all ranks are gathered once, at construction.
    """

    method = "alltoallv"

    def __init__(self, context, n_neurons: int, chunk: int, needs: np.ndarray) -> None:
        super().__init__(context, n_neurons, chunk)
        packed = self.comm.allgather(np.packbits(np.asarray(needs, bool)))
        self._needs = np.stack([np.unpackbits(p, count=n_neurons).astype(bool)
                                for p in packed])
        self._send_counts = np.zeros(self.size, np.int64)
        self._recv_counts = np.zeros(self.size, np.int64)

    def _exchange(self, keys: np.ndarray) -> np.ndarray:
        gid = keys.astype(np.int64) % self.codec.n
        parts = [keys[self._needs[r, gid]] for r in range(self.size)]
        self._send_counts[:] = [p.size for p in parts]
        send = np.concatenate(parts) if parts else keys
        start = time.perf_counter()
        self.comm.Alltoall(self._send_counts, self._recv_counts)
        got = np.empty(int(self._recv_counts.sum()), self.codec.dtype)
        self.comm.Alltoallv([send, (self._send_counts, None)],
                            [got, (self._recv_counts, None)])
        self.stats.mpi_seconds += time.perf_counter() - start
        item = self.codec.dtype.itemsize
        own = int(self._send_counts[self.rank])
        out_spikes = int(self._send_counts.sum()) - own
        in_spikes = got.size - own
        self._count(out_spikes * item + (self.size - 1) * COUNT_BYTES,
                    in_spikes * item + (self.size - 1) * COUNT_BYTES, keys.size, in_spikes)
        return got


def neurons_with_targets(arrays: dict, owned: tuple[int, int],
                         layout: str = "partition") -> np.ndarray:
    """Mask (N,) of neurons with at least one synapse on the partitions ``owned``, the
    rows in ``layout`` (``brainmac.compile.rows``)."""
    needs = np.zeros(int(arrays["part_start"][-1]), bool)
    for p in range(*owned):
        needs |= row_lengths(arrays["row_syn"], layout, p) > 0
    return needs


def make_exchange(method: str, context, arrays: dict, owned: tuple[int, int],
                  chunk: int, layout: str = "partition") -> SpikeExchange:
    """The transport ``method`` (one of :data:`METHODS`) for this rank; ``arrays`` hold
    the rows in ``layout`` (``brainmac.compile.rows``)."""
    n_neurons = int(arrays["part_start"][-1])
    if method == "allgatherv":
        return AllgathervExchange(context, n_neurons, chunk)
    if method == "fixed":
        return FixedSlotExchange(context, n_neurons, chunk)
    if method == "alltoallv":
        return AlltoallvExchange(context, n_neurons, chunk,
                                 neurons_with_targets(arrays, owned, layout))
    raise ConfigError(f"unknown spike exchange {method!r}; choose one of {METHODS}")
