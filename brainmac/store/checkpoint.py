"""Checkpoints of a run: dynamic state, recorder position and job, written atomically.

``OUTDIR/checkpoint/`` holds ``state-<step>.npz`` (``Simulator.state()``: V, currents,
refractory counters, ring buffers, saturation and event counters, the step, which is the
random streams' only state, and run statistics) and ``checkpoint.json``: the step, the job
configuration, the network's identity, and the recorder position, i.e. the spikes of each
population in ``spikes.h5`` at that step.

Order of a checkpoint: the spike file is flushed and fsynced; the state is written to a
temporary file, fsynced and renamed; then ``checkpoint.json`` likewise (the rename is the
commit); older state files are removed last. A kill at any moment leaves the previous or
the new checkpoint, complete, and a spike file holding at least the spikes it counts.

Resuming keeps the first ``spikes_written[population]`` spikes of the file (spikes written
after the checkpoint are dropped: the resumed run writes them again, identically).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainmac.errors import ConfigError, StoreError
from brainmac.store.writer import fsync_dir

CHECKPOINT_DIR = "checkpoint"
INDEX = "checkpoint.json"
FORMAT = "brainmac-checkpoint"
VERSION = 1
STATE_KEYS = ("v", "i_ex", "i_in", "refr", "ring", "sat", "events", "step", "stats")
_STATE_FILE = re.compile(r"^state-\d{12}\.npz$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: its index (``checkpoint.json``) and the simulator state."""

    index: dict
    state: dict[str, np.ndarray]

    @property
    def step(self) -> int:
        return int(self.index["step"])


def fsync_file(path: Path) -> None:
    """Make a file's written data durable (any descriptor of it will do)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, write: Callable) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(out: Path, state: dict[str, np.ndarray], config: dict,
                    spikes_written: dict[str, int], network: dict,
                    spike_file: Path | None = None) -> Path:
    """Write a checkpoint of ``state`` (``Simulator.state()``) into ``out/checkpoint``.

    Parameters
    ----------
    out : Path
        The run's output directory.
    state : dict of arrays
        The simulator's dynamic state.
    config : dict
        The job configuration (JSON-able), to resume with.
    spikes_written : dict of str to int
        Spikes per population in the spike file at this step (the recorder position).
    network : dict
        What identifies the compiled network (checked when resuming).
    spike_file : Path, optional
        Flushed by the caller; fsynced here before the checkpoint commits.
    """
    folder = Path(out) / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    if spike_file is not None:
        fsync_file(spike_file)
    step = int(state["step"])
    name = f"state-{step:012d}.npz"
    _write_atomic(folder / name, lambda f: np.savez(f, **state))
    index = {"format": FORMAT, "version": VERSION, "step": step, "state_file": name,
             "config": config, "network": network,
             "spikes_written": {k: int(v) for k, v in spikes_written.items()}}
    _write_atomic(folder / INDEX, lambda f: f.write(json.dumps(index, indent=1).encode()))
    fsync_dir(folder)
    for old in folder.glob("state-*.npz"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / INDEX


def read_index(out: str | os.PathLike) -> dict:
    """The checked ``checkpoint.json`` of output directory ``out``.

    Raises
    ------
    ConfigError
        ``out`` holds no checkpoint.
    StoreError
        The index is damaged; the message names it.
    """
    path = Path(out) / CHECKPOINT_DIR / INDEX
    if not path.is_file():
        raise ConfigError(f"{out} holds no checkpoint ({path} is missing); run with "
                          "--checkpoint-every to write them")
    try:
        index = json.loads(path.read_bytes())
    except (ValueError, RecursionError, OSError) as err:
        raise StoreError(f"{path}: not a readable checkpoint index ({str(err)[:100]})") from None
    if not _index_ok(index):
        raise StoreError(f"{path}: not a brainmac checkpoint index of version {VERSION}")
    return index


def _index_ok(index: object) -> bool:
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        return False
    written = index.get("spikes_written")
    return (index.get("version") == VERSION and isinstance(index.get("step"), int)
            and index["step"] >= 0 and isinstance(index.get("state_file"), str)
            and bool(_STATE_FILE.match(index["state_file"]))
            and isinstance(index.get("config"), dict) and isinstance(index.get("network"), dict)
            and isinstance(written, dict)
            and all(isinstance(n, int) and n >= 0 for n in written.values()))


def load_checkpoint(out: str | os.PathLike) -> Checkpoint:
    """The checkpoint of output directory ``out``: index and state arrays."""
    index = read_index(out)
    path = Path(out) / CHECKPOINT_DIR / index["state_file"]
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
    except Exception as err:  # zip, npy and I/O errors alike  # noqa: BLE001
        raise StoreError(f"{path}: not a readable checkpoint state "
                         f"({type(err).__name__}: {str(err)[:100]})") from None
    missing = [key for key in STATE_KEYS if key not in state]
    if missing or state["step"].shape != () or int(state["step"]) != index["step"] \
            or state["stats"].shape != (4,):
        raise StoreError(f"{path}: checkpoint state is incomplete or disagrees with "
                         f"{INDEX} (missing {missing})")
    return Checkpoint(index, state)


def kept_spikes(spike_file: Path, spikes_written: dict[str, int]) -> dict:
    """The spikes a checkpoint counts: the first ``spikes_written[name]`` of each population.

    Raises
    ------
    StoreError
        The file lacks a population or holds fewer spikes than the checkpoint counts.
    """
    from brainmac.io import read_spikes

    try:
        spikes = read_spikes(spike_file)
    except FileNotFoundError:
        raise StoreError(f"{spike_file}: missing; it held the spikes before the "
                         "checkpoint") from None
    kept = {}
    for name, count in spikes_written.items():
        times, ids = spikes.get(name, (np.zeros(0), np.zeros(0, np.int64)))
        if times.size < count:
            raise StoreError(f"{spike_file}: population {name} holds {times.size} spikes, the "
                             f"checkpoint counts {count}: the file was damaged or replaced")
        kept[name] = (times[:count], ids[:count])
    return kept


def merge_spikes(before: dict, after: dict) -> dict:
    """Per population, the spikes ``before`` a resume followed by those ``after`` it."""
    out = {}
    for name, (times, ids) in after.items():
        t0, i0 = before.get(name, (np.zeros(0), np.zeros(0, np.int64)))
        out[name] = (np.concatenate([t0, times]), np.concatenate([i0, ids]).astype(np.int64))
    return out


def segments(step: int, total: int, every: int) -> list[int]:
    """Lengths (steps) of the runs from ``step`` to ``total`` that end on multiples of
    ``every`` (each end but the last is a checkpoint)."""
    out = []
    while step < total:
        n = min(every - step % every, total - step)
        out.append(n)
        step += n
    return out


def resumed_writer(path: Path, sizes: dict[str, int], kept: dict):
    """A SpikeWriter on ``path`` that already holds the ``kept`` spikes, for a resumed run.

    The kept spikes are written to a new file beside ``path`` that then replaces it, so that
    ``path`` is complete (old or new) whenever the process dies.
    """
    from brainmac.io import SpikeWriter

    path = Path(path)
    tmp = path.with_name(path.name + ".resume")
    writer = SpikeWriter(tmp, sizes)
    try:
        for name, (times, ids) in kept.items():
            writer.append(name, times, ids)
        writer.flush()
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        writer.close()
        raise
    writer.path = path
    return writer
