"""Write a store: compile partition by partition, straight to disk, then rename into place.

Peak memory is a few partitions' synapses (``threads`` being built plus the one being
written), never the network's: each partition's group codes and synapses are appended to
the ``.npy`` files as soon as it is built (see :mod:`brainmac.store.npyio`), and its row
pointers are one row of the (P, N+1) row arrays, appended in partition order.

Atomicity: everything is written into ``.<name>.partial-<pid>`` next to the target, every
file is fsynced, ``manifest.json`` is written last, then the directory is renamed to the
target. A compile killed at any point leaves either no target or the previous store;
a leftover partial directory is refused by :func:`brainmac.store.open_store` and removed by
the next compile to the same target once its process is gone.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from brainmac.compile.codes import count_groups
from brainmac.compile.compiler import Compiler, built_in_order
from brainmac.errors import ConfigError
from brainmac.network import Network
from brainmac.store import layout
from brainmac.store.npyio import CHECKSUM, AppendFile, write_array

FORMAT = "brainmac-store"
#: The format this brainmac writes and the only one it reads. 1 and 2 stored the group
#: layout (g_delay, g_gain, g_count, 16-bit targets; 2 added delays in sub-steps); 3 the
#: compact layout with 12-bit targets (partitions of up to 4,096 neurons); 4 is the compact
#: layout of ``brainmac.compile.codes`` (14-bit targets, one-byte group codes).
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
PARTIAL_MARK = ".partial-"
_OLD_MARK = ".old-"


def write_store(net: Network, path: str | os.PathLike, profile: str = "seed",
                dt_ms: float = 0.1, seed: int = 1,
                partition_size: int | None = None, threads: int = 1,
                progress: Callable[[int, int], None] | None = None,
                overwrite: bool = False, substep_bits: int = 0) -> Path:
    """Compile ``net`` into a store directory at ``path``, streaming, atomically.

    Parameters
    ----------
    net : Network
    path : str or Path
        The store directory to create.
    profile, dt_ms, seed, partition_size, substep_bits
        As :func:`brainmac.compile.compile_network`; the store is identical to its result.
    threads : int
        Partitions built at once; peak memory grows with it (about a partition each).
    progress : callable(done, total), optional
        Called after each partition is written.
    overwrite : bool
        Replace an existing store at ``path`` (never any other directory).

    Returns
    -------
    Path
        ``path``.
    """
    compiler = Compiler(net, profile, dt_ms, seed, partition_size, substep_bits)
    target = Path(path)
    _check_target(target, overwrite)
    with _staging(target, overwrite) as tmp:
        entries, counts = _write_partitions(compiler, tmp, max(1, int(threads)), progress)
        arrays, drive_report = compiler.neuron_arrays()
        arrays["syn_base"] = _exclusive_cumsum(counts[:, SLOTS])
        arrays["grp_base"] = _exclusive_cumsum(counts[:, CODE_BYTES])
        for name, values in arrays.items():
            entries[name] = write_array(tmp / f"{name}.npy", _typed(name, values, compiler))
        manifest = _manifest(compiler, entries, drive_report, counts)
        _write_json(tmp / MANIFEST, manifest)
    return target


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


def _typed(name: str, values: np.ndarray, compiler: Compiler) -> np.ndarray:
    if name not in layout.ARRAYS:
        raise RuntimeError(f"the compiler made array {name!r}, unknown to the store layout; "
                           "add it to brainmac/store/layout.py")
    want = layout.expected_dtype(name, compiler.profile)
    if np.asarray(values).dtype != want:
        raise RuntimeError(f"the compiler made {name} as {np.asarray(values).dtype}, the store "
                           f"layout says {want}; update brainmac/store/layout.py")
    return np.asarray(values)


#: Columns of the per-partition counts: synapse slots (a multiple of 4: the padding included), code
#: bytes, synapses, groups.
SLOTS, CODE_BYTES, SYNAPSES, GROUPS = range(4)


def _write_partitions(compiler: Compiler, tmp: Path, threads: int, progress):
    """Append every partition's rows, group codes and synapses; returns the entries and
    the counts (P, 4) int64 (columns :data:`SLOTS` ... :data:`GROUPS`)."""
    n_parts, n_neurons = compiler.n_partitions, compiler.net.n_neurons
    files = {name: AppendFile(tmp / f"{name}.npy",
                              layout.expected_dtype(name, compiler.profile))
             for name in layout.STREAMED}
    counts = np.zeros((n_parts, 4), np.int64)
    built = built_in_order(compiler.build_partition, 0, n_parts, threads)
    try:
        for p in range(n_parts):  # not enumerate: its cached tuple would hold a partition
            part = next(built)
            for name in layout.STREAMED:
                files[name].append(getattr(part, name))
            counts[p] = (part.s_value.size, part.g_code.size, part.n_synapses,
                         count_groups(part.g_code))
            del part
            if progress is not None:
                progress(p + 1, n_parts)
    except BaseException:
        built.close()  # waits for the builds in flight
        for f in files.values():
            f.abandon()
        raise
    return {name: f.finish((n_parts, n_neurons + 1) if name in layout.ROW_ARRAYS else None)
            for name, f in files.items()}, counts


def _manifest(compiler: Compiler, entries: dict, drive_report: list,
              counts: np.ndarray) -> dict:
    from brainmac import __version__

    missing = set(layout.ARRAYS) - set(entries)
    if missing:
        raise RuntimeError(f"the compiler made no array {sorted(missing)}")
    n_syn = int(counts[:, SYNAPSES].sum())
    syn_bytes = sum(int(np.prod(entries[n]["shape"])) * np.dtype(entries[n]["dtype"]).itemsize
                    for n in layout.SYNAPSE_DATA)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "brainmac_version": __version__,
        "profile": compiler.profile.name, "dt_ms": compiler.dt_ms, "seed": compiler.seed,
        "substep_bits": compiler.substep_bits,
        "partitions": compiler.n_partitions, "partition_size": compiler.partition_size,
        "neurons": compiler.net.n_neurons, "synapses": n_syn,
        "groups": int(counts[:, GROUPS].sum()), "code_bytes": int(counts[:, CODE_BYTES].sum()),
        "synapse_bytes": syn_bytes,
        "bytes_per_synapse": syn_bytes / max(n_syn, 1), "checksum": CHECKSUM,
        "arrays": {name: entries[name] for name in layout.ARRAYS},
        "model": compiler.manifest(drive_report),
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a manifest")


def _write_json(path: Path, data: dict) -> None:
    """JSON as Python writes it (non-finite floats as Infinity / NaN), fsynced."""
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=_json_default)
        f.flush()
        os.fsync(f.fileno())


# -- atomic install ----------------------------------------------------------------------
def is_store_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding a manifest (a store, maybe a damaged one)."""
    return (Path(path) / MANIFEST).is_file()


def _check_target(target: Path, overwrite: bool) -> None:
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    if overwrite and target.is_dir() and is_store_dir(target):
        return
    if overwrite:
        raise ConfigError(f"{target} exists and is not a brainmac store; refusing to replace "
                          "it: choose another output path")
    raise ConfigError(f"{target} exists; choose another output path, or replace a store "
                      "with --force")


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Remove partial and old directories of ``target`` left by processes now gone."""
    for mark in (PARTIAL_MARK, _OLD_MARK):
        for leftover in target.parent.glob(f".{target.name}{mark}*"):
            pid = leftover.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def _staging(target: Path, overwrite: bool) -> Iterator[Path]:
    """A fresh temporary directory next to ``target``, renamed onto it on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = target.parent / f".{target.name}{PARTIAL_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        fsync_dir(tmp)
        _install(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _install(tmp: Path, target: Path, overwrite: bool) -> None:
    _check_target(target, overwrite)  # again: something may have appeared meanwhile
    old = None
    if target.is_dir() and any(target.iterdir()):
        old = target.parent / f".{target.name}{_OLD_MARK}{os.getpid()}"
        target.rename(old)
    elif target.is_dir():
        target.rmdir()
    tmp.rename(target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
