"""SONATA spike files: write spikes incrementally during a run, read them back.

Layout (SONATA developer guide, "Output file formats / Spike file",
github.com/AllenInstitute/sonata ``docs/SONATA_DEVELOPER_GUIDE.md``)::

    /                              attributes magic (uint32 0x0A7A), version (uint32[2])
    /spikes                        group, one subgroup per population
    /spikes/<population>           attribute sorting (HDF5 enum none|by_id|by_time) = by_time
    /spikes/<population>/timestamps  float64, shape (n_spikes,), attribute units = "ms"
    /spikes/<population>/node_ids    uint64,  shape (n_spikes,), 0-based id in the population

The spec puts ``sorting`` on each population group, as an enum; libsonata's ``SpikeReader``
reads it from there with the values none=0, by_id=1, by_time=2, which this writer uses.

Crash safety. ``append`` only buffers in memory; HDF5 is touched only inside ``flush`` (called
by the user, automatically when the buffer holds ``buffer_spikes`` spikes, and by ``close``),
which writes the buffer and then flushes the file. Between two flushes the file on disk is
exactly the file as of the last flush, so a process killed at any moment outside ``flush``
leaves a readable file holding every spike flushed so far. The file is opened with HDF5's
default (earliest) format: a newer superblock would mark the file "open for writing" and
refuse to open after a crash.

Full disk. After a failed write HDF5 cannot close its objects, and h5py then crashes the
interpreter (h5py issues #914, #1120, #2160). ``flush`` therefore checks free disk space (and
the process file-size limit) before writing, and raises ``OSError`` (ENOSPC or EFBIG) naming
the file while the file is still intact and closable. An error that HDF5 still reports is
turned into ``OSError`` naming the file as well.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from brainmac.errors import StoreError

try:  # POSIX only; elsewhere the file-size limit is not checked
    import resource
except ImportError:  # pragma: no cover
    resource = None

SONATA_MAGIC = 0x0A7A
SONATA_VERSION = (0, 1)
SORTING_ENUM = {"none": 0, "by_id": 1, "by_time": 2}
_SORTING_DTYPE = h5py.enum_dtype(SORTING_ENUM, basetype="u1")
_METADATA_MARGIN_BYTES = 1 << 20
_TIME_UNITS_TO_MS = {"ms": 1.0, "s": 1000.0}

__all__ = ["SpikeWriter", "read_spikes"]


def _as_oserror(err: Exception, action: str, path: Path) -> OSError:
    """An ``OSError(errno, strerror, filename)`` for an h5py error, the file named."""
    code = getattr(err, "errno", None)
    if not code:
        found = re.search(r"errno = (\d+)", str(err))
        code = int(found.group(1)) if found else errno.EIO
    return OSError(code, f"{action}: {os.strerror(code)}", str(path))


class SpikeWriter:
    """Write spikes of several populations to a SONATA spike file, incrementally.

    Parameters
    ----------
    path : str or Path
        File to create; an existing file is replaced.
    populations : dict of str to int
        Population name -> number of neurons. Populations are stored in this order.
    buffer_spikes : int, optional
        Spikes held in memory (all populations together) before an automatic ``flush``.
        16 bytes per spike; the default, 2**20, is 16 MiB.
    chunk_spikes : int, optional
        HDF5 chunk length of each dataset, in spikes.

    Notes
    -----
    Spikes of a population must arrive in nondecreasing time order (the file says
    ``sorting = by_time``). Use as a context manager, or call ``close``.

    Examples
    --------
    >>> with SpikeWriter("spikes.h5", {"E": 800, "I": 200}) as writer:  # doctest: +SKIP
    ...     writer.append("E", np.array([0.1, 0.4]), np.array([3, 17]))
    ...     writer.flush()
    """

    def __init__(
        self,
        path: str | os.PathLike,
        populations: Mapping[str, int],
        *,
        buffer_spikes: int = 1 << 20,
        chunk_spikes: int = 1 << 15,
    ) -> None:
        self.path = Path(path)
        self.sizes = _validated_sizes(populations)
        if buffer_spikes < 1 or chunk_spikes < 1:
            raise ValueError("SpikeWriter: buffer_spikes and chunk_spikes must be >= 1")
        self._buffer_spikes = int(buffer_spikes)
        self._chunk = int(chunk_spikes)
        self._pending = {name: [] for name in self.sizes}
        self._n_pending = 0
        self._last_ms = dict.fromkeys(self.sizes, -np.inf)
        self._n_written = dict.fromkeys(self.sizes, 0)
        self._file: h5py.File | None = None
        try:
            self._file = h5py.File(self.path, "w")
            self._create_layout()
            self._file.flush()
        except (OSError, RuntimeError) as err:
            self._abandon()
            raise _as_oserror(err, "cannot create spike file", self.path) from err

    def _create_layout(self) -> None:
        f = self._file
        f.attrs.create("magic", SONATA_MAGIC, dtype=np.uint32)
        f.attrs.create("version", np.array(SONATA_VERSION, dtype=np.uint32))
        spikes = f.create_group("spikes", track_order=True)
        for name in self.sizes:
            group = spikes.create_group(name)
            group.attrs.create("sorting", SORTING_ENUM["by_time"], dtype=_SORTING_DTYPE)
            kw = {"shape": (0,), "maxshape": (None,), "chunks": (self._chunk,)}
            stamps = group.create_dataset("timestamps", dtype=np.float64, **kw)
            stamps.attrs["units"] = "ms"
            group.create_dataset("node_ids", dtype=np.uint64, **kw)

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return self._file is None

    def n_spikes(self, population: str) -> int:
        """Spikes appended so far to ``population`` (written or still buffered)."""
        pending = sum(len(t) for t, _ in self._pending[population])
        return self._n_written[population] + pending

    def append(self, population: str, times_ms: np.ndarray, node_ids: np.ndarray) -> None:
        """Append spikes of one population.

        Parameters
        ----------
        population : str
            A population given to the constructor.
        times_ms : ndarray, shape (n,), float
            Spike times in ms, nondecreasing, none before the last appended time.
        node_ids : ndarray, shape (n,), integer
            0-based neuron ids within the population.

        Raises
        ------
        ValueError
            Unknown population, mismatched shapes, ids out of range, or times out of order.
        OSError
            When an automatic flush cannot write (see ``flush``).
        """
        self._check_open()
        times, ids = self._validated_batch(population, times_ms, node_ids)
        if times.size == 0:
            return
        self._pending[population].append((times, ids))
        self._last_ms[population] = times[-1]
        self._n_pending += times.size
        if self._n_pending >= self._buffer_spikes:
            self.flush()

    def _validated_batch(
        self, population: str, times_ms: np.ndarray, node_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if population not in self.sizes:
            known = ", ".join(self.sizes)
            raise ValueError(f"SpikeWriter: unknown population {population!r} (known: {known})")
        times = np.asarray(times_ms, dtype=np.float64).ravel()
        ids = np.asarray(node_ids).ravel()
        if times.shape != ids.shape:
            raise ValueError(
                f"SpikeWriter: {population}: {times.size} times but {ids.size} node ids"
            )
        if times.size == 0:
            return times, ids.astype(np.uint64)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"SpikeWriter: {population}: node ids must be integers")
        if ids.min() < 0 or ids.max() >= self.sizes[population]:
            raise ValueError(
                f"SpikeWriter: {population}: node ids must lie in [0, "
                f"{self.sizes[population]}), got [{ids.min()}, {ids.max()}]"
            )
        if not np.all(np.isfinite(times)):
            raise ValueError(f"SpikeWriter: {population}: spike times must be finite")
        if times[0] < self._last_ms[population] or np.any(np.diff(times) < 0):
            raise ValueError(
                f"SpikeWriter: {population}: spike times must be appended in nondecreasing "
                f"order; this batch starts at {times[0]} ms, the last written time is "
                f"{self._last_ms[population]} ms"
            )
        return times, ids.astype(np.uint64)

    def flush(self) -> None:
        """Write buffered spikes and flush the file, so that a crash leaves it readable.

        Raises
        ------
        OSError
            Not enough free disk space (ENOSPC) or a file-size limit (EFBIG), checked before
            anything is written so that the file stays as of the previous flush; or another
            write error. The message names the file.
        """
        self._check_open()
        if self._n_pending == 0:
            return
        self._check_room()
        try:
            for name in self.sizes:
                self._write_pending(name)
            self._file.flush()
        except (OSError, RuntimeError) as err:
            raise _as_oserror(err, "cannot write spikes", self.path) from err
        self._n_pending = 0

    def _write_pending(self, name: str) -> None:
        batches = self._pending[name]
        if not batches:
            return
        times = np.concatenate([t for t, _ in batches])
        ids = np.concatenate([i for _, i in batches])
        start, stop = self._n_written[name], self._n_written[name] + times.size
        group = self._file["spikes"][name]
        for key, values in (("timestamps", times), ("node_ids", ids)):
            dataset = group[key]
            dataset.resize((stop,))
            dataset[start:stop] = values
        self._n_written[name] = stop
        self._pending[name] = []

    def _bytes_needed(self) -> int:
        """Upper bound of the bytes the next flush adds to the file."""
        chunk_bytes = 2 * 8 * self._chunk  # one new partial chunk per dataset, two datasets
        busy = sum(1 for batches in self._pending.values() if batches)
        return 16 * self._n_pending + busy * chunk_bytes + _METADATA_MARGIN_BYTES

    def _check_room(self) -> None:
        need = self._bytes_needed()
        free = shutil.disk_usage(self.path.resolve().parent).free
        if free < need:
            raise OSError(
                errno.ENOSPC,
                f"cannot write spikes: No space left on device ({free} bytes free, "
                f"{need} needed; the file holds the spikes flushed so far)",
                str(self.path),
            )
        if resource is None:
            return
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and os.path.getsize(self.path) + need > limit:
            raise OSError(
                errno.EFBIG,
                f"cannot write spikes: File too large (file-size limit {limit} bytes; "
                "the file holds the spikes flushed so far)",
                str(self.path),
            )

    def close(self) -> None:
        """Flush and close the file; calling it again does nothing."""
        if self._file is None:
            return
        try:
            self.flush()
        except OSError:
            self._close_file(quiet=True)
            raise
        self._close_file(quiet=False)

    def _close_file(self, quiet: bool) -> None:
        file, self._file = self._file, None
        try:
            file.close()
        except (OSError, RuntimeError) as err:
            if not quiet:
                raise _as_oserror(err, "cannot close spike file", self.path) from err

    def _abandon(self) -> None:
        if self._file is not None:
            self._close_file(quiet=True)

    def _check_open(self) -> None:
        if self._file is None:
            raise ValueError(f"SpikeWriter: {self.path} is closed")

    def __enter__(self) -> SpikeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep what was appended, but never mask the error already on its way
            self.close()
        except OSError:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"SpikeWriter({str(self.path)!r}, {len(self.sizes)} populations, {state})"


def _validated_sizes(populations: Mapping[str, int]) -> dict[str, int]:
    if not populations:
        raise ValueError("SpikeWriter: give at least one population (name -> size)")
    sizes = {}
    for name, size in populations.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise ValueError(f"SpikeWriter: bad population name {name!r}")
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
            raise ValueError(f"SpikeWriter: population {name!r}: size must be an int >= 0")
        sizes[name] = int(size)
    return sizes


def read_spikes(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read every population of a SONATA spike file.

    Parameters
    ----------
    path : str or Path
        The spike file.

    Returns
    -------
    dict of str to (times_ms, node_ids)
        Per population, in file order: ``times_ms`` ndarray, shape (n_spikes,), float64, ms;
        ``node_ids`` ndarray, shape (n_spikes,), int64. Stored order is kept.
        Timestamps stored in seconds (``units = "s"``) are converted to ms.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    StoreError
        The file is not HDF5, or not a SONATA spike file (no ``/spikes`` group, a
        population without ``timestamps`` and ``node_ids`` of equal length, unknown units).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such spike file", str(path))
    if not h5py.is_hdf5(path):
        raise StoreError(f"{path}: not an HDF5 file, so not a SONATA spike file")
    with h5py.File(path, "r") as f:
        spikes = f.get("spikes")
        if not isinstance(spikes, h5py.Group):
            raise StoreError(f"{path}: not a SONATA spike file (no /spikes group)")
        return {name: _read_population(path, name, group) for name, group in spikes.items()}


def _read_population(path: Path, name: str, group: object) -> tuple[np.ndarray, np.ndarray]:
    where = f"{path}: /spikes/{name}"
    if not isinstance(group, h5py.Group):
        raise StoreError(
            f"{where} is not a population group; not a SONATA spike file with populations"
        )
    stamps, ids = group.get("timestamps"), group.get("node_ids")
    if not isinstance(stamps, h5py.Dataset) or not isinstance(ids, h5py.Dataset):
        raise StoreError(f"{where}: needs datasets 'timestamps' and 'node_ids'")
    if stamps.ndim != 1 or stamps.shape != ids.shape:
        raise StoreError(
            f"{where}: 'timestamps' {stamps.shape} and 'node_ids' {ids.shape} must be 1-D "
            "of equal length"
        )
    units = stamps.attrs.get("units", "ms")
    units = units.decode() if isinstance(units, bytes) else str(units)
    if units not in _TIME_UNITS_TO_MS:
        raise StoreError(f"{where}/timestamps: unknown units {units!r} (expected 'ms' or 's')")
    times = stamps[()].astype(np.float64) * _TIME_UNITS_TO_MS[units]
    return times, ids[()].astype(np.int64)
