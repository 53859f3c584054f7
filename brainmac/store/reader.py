"""Open a store: check the manifest, map every array read-only, validate every index.

Checked on every open, in this order (the first failure is a StoreError naming the file):

1. ``manifest.json``: JSON, a brainmac store, the format version this code reads (an older
   one, in the group layout, asks for a new compile; a newer one for a newer brainmac), a
   known profile, dt and seed, the populations, and an entry for every array and no other,
   each with the dtype the profile implies;
2. the shapes agree with each other (P, N, L, G, g, n of ``compiled.ARRAY_DOCS``; n a
   multiple of 4);
3. each file's 128-byte header is exactly the one its manifest entry implies and its size is
   header + data (a truncated or extended file is refused);
4. with ``verify=True``: each file's BLAKE2b checksum;
5. the values: every index the kernels follow (:mod:`brainmac.store.validate`).

:func:`open_partitions` opens part of a store, as an MPI rank does: steps 1-3 for every
file, step 5 for what is global (neurons, drives, gains) and for its own partitions' rows,
group codes and synapses, which are the only synapse data it maps; the per-partition bases
are checked against every partition's row totals, so that its ranges lie inside the files.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from brainmac.compile.codes import padded, target_bytes
from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.profiles import PROFILES, get_profile
from brainmac.compile.substep import MAX_SUBSTEP_BITS
from brainmac.errors import StoreError
from brainmac.network.neurons import MODELS as NEURON_MODELS
from brainmac.network.neurons import SOURCE_MODELS
from brainmac.store import layout
from brainmac.store.npyio import HEADER_BYTES, check_regular, file_digest, map_array
from brainmac.store.validate import check_arrays, check_partitions
from brainmac.store.writer import FORMAT, FORMAT_VERSION, MANIFEST, PARTIAL_MARK

MAX_MANIFEST_BYTES = 1 << 28
_MAX_ELEMENTS = 1 << 52
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
LAST_GROUP_LAYOUT = 2  # formats 1-2 stored g_delay, g_gain, g_count and 16-bit targets
LAST_12_BIT_LAYOUT = 3  # format 3 stored 12-bit targets


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_json(path: Path) -> object:
    try:
        check_regular(path)
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise StoreError(f"{path}: {size} bytes, more than a manifest can be")
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{path}: no manifest: {path.parent} is not a brainmac store "
                         "(compile one with `brainmac compile`)") from None
    except OSError as err:
        raise StoreError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as err:  # JSON and Unicode errors are ValueErrors
        raise StoreError(f"{path}: not valid JSON ({str(err)[:120]})") from None


def _check_header(m: object, where: str) -> None:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise StoreError(f"{where}: not a brainmac store manifest (no \"format\": \"{FORMAT}\")")
    version = m.get("format_version")
    if not _integer(version) or version < 1:
        raise StoreError(f"{where}: format_version must be an integer >= 1, got {version!r}")
    if version <= LAST_GROUP_LAYOUT:
        raise StoreError(f"{where}: written in the group layout of format {version}, which "
                         "this brainmac no longer reads: compile the network again with "
                         "`brainmac compile`")
    if version == LAST_12_BIT_LAYOUT:
        raise StoreError(f"{where}: written with the 12-bit targets of format {version}, which "
                         "this brainmac no longer reads: compile the network again with "
                         "`brainmac compile`")
    if version > FORMAT_VERSION:
        raise StoreError(f"{where}: store format version {version} is newer than this "
                         f"brainmac reads (<= {FORMAT_VERSION}); upgrade brainmac")
    if m.get("profile") not in PROFILES:
        raise StoreError(f"{where}: unknown profile {m.get('profile')!r}")
    dt = m.get("dt_ms")
    if not _number(dt) or not math.isfinite(dt) or dt <= 0:
        raise StoreError(f"{where}: dt_ms must be a number > 0, got {dt!r}")
    seed = m.get("seed")
    if not _integer(seed) or not 0 <= seed < 2**63:
        raise StoreError(f"{where}: seed must be an integer in [0, 2**63), got {seed!r}")


def _check_entries(m: dict, where: str) -> dict[str, tuple[int, ...]]:
    entries = m.get("arrays")
    if not isinstance(entries, dict):
        raise StoreError(f"{where}: \"arrays\" must be an object")
    for name in layout.ARRAYS:
        if name not in entries:
            raise StoreError(f"{where}: array {name} is missing from the manifest")
    extra = sorted(set(entries) - set(layout.ARRAYS))
    if extra:
        raise StoreError(f"{where}: unknown array {extra[0]!r} (written by another version?)")
    profile = get_profile(m["profile"])
    shapes = {}
    for name in layout.ARRAYS:
        shapes[name] = _check_entry(name, entries[name], profile, where)
    return shapes


def _check_entry(name: str, entry: object, profile, where: str) -> tuple[int, ...]:
    dtype = layout.expected_dtype(name, profile)
    if not isinstance(entry, dict) or entry.get("file") != f"{name}.npy":
        raise StoreError(f"{where}: array {name}: entry must name file \"{name}.npy\"")
    if entry.get("dtype") != np.lib.format.dtype_to_descr(dtype):
        raise StoreError(f"{where}: array {name}: dtype {entry.get('dtype')!r}, profile "
                         f"{profile.name} stores {dtype.str}")
    shape = entry.get("shape")
    ndim = len(layout.ARRAYS[name][1])
    if (not isinstance(shape, list) or len(shape) != ndim
            or not all(_integer(n) and 0 <= n < _MAX_ELEMENTS for n in shape)
            or math.prod(shape) >= _MAX_ELEMENTS):
        raise StoreError(f"{where}: array {name}: shape must be {ndim} sizes >= 0, "
                         f"got {shape!r}")
    if not isinstance(entry.get("blake2b"), str) or not _HEX64.match(entry["blake2b"]):
        raise StoreError(f"{where}: array {name}: blake2b must be 64 hex digits")
    return tuple(shape)


def _check_populations(model: object, n_neurons: int, where: str) -> None:
    if not isinstance(model, dict) or not isinstance(model.get("populations"), list):
        raise StoreError(f"{where}: \"model\" must be an object with a populations list")
    start, names = 0, set()
    for pop in model["populations"]:
        ok = (isinstance(pop, dict) and isinstance(pop.get("name"), str)
              and pop["name"].isidentifier() and pop["name"] not in names
              and pop.get("start") == start and _integer(pop.get("size")) and pop["size"] > 0
              and pop.get("model") in NEURON_MODELS and isinstance(pop.get("params"), dict)
              and (pop["model"] in SOURCE_MODELS or _number(pop["params"].get("E_L")))
              and _number(pop.get("v_lsb_mv")) and _number(pop.get("i_lsb_pa")))
        if not ok:
            raise StoreError(f"{where}: population {len(names)} is malformed (name, start, "
                             "size, model, params, v_lsb_mv, i_lsb_pa)")
        names.add(pop["name"])
        start += pop["size"]
    if start != n_neurons:
        raise StoreError(f"{where}: populations hold {start} neurons, the arrays {n_neurons}")


_QUANT_NUMBERS = ("synapses", "mean_rel_error", "max_rel_error", "clipped")


def _check_reports(model: dict, where: str) -> None:
    lists = ("projections", "quantization", "drives")
    if not all(isinstance(model.get(key), list) for key in lists):
        raise StoreError(f"{where}: model needs lists {', '.join(lists)}")
    for row in model["quantization"]:
        if not isinstance(row, dict) or not all(_number(row.get(k)) for k in _QUANT_NUMBERS):
            raise StoreError(f"{where}: a quantization row is malformed")
    meta = model.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("reference_rates_hz", {}), dict) \
            or not isinstance(meta.get("parameters", {}), dict):
        raise StoreError(f"{where}: model metadata must be an object")


def read_manifest(path: str | os.PathLike) -> dict:
    """The checked manifest of the store at ``path`` (steps 1 and 2; no array is read).

    Raises
    ------
    StoreError
        Not a store, a damaged or newer manifest, or shapes that disagree.
    """
    path = Path(path)
    if re.search(re.escape(PARTIAL_MARK) + r"\d+$", path.name):
        raise StoreError(f"{path}: the temporary directory of an unfinished compile, not a "
                         "store; compile again")
    where = str(path / MANIFEST)
    m = _load_json(path / MANIFEST)
    _check_header(m, where)
    dims = layout.check_shapes(_check_entries(m, where), where)
    _check_populations(m.get("model"), dims["N"], where)
    _check_reports(m["model"], where)
    bits = m["model"].get("substep_bits", 0)
    if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= MAX_SUBSTEP_BITS:
        raise StoreError(f"{where}: model.substep_bits must be an integer in [0, "
                         f"{MAX_SUBSTEP_BITS}], got {bits!r}")
    for key in ("profile", "dt_ms", "seed"):
        if m["model"].get(key) != m[key]:
            raise StoreError(f"{where}: model.{key} {m['model'].get(key)!r} differs from "
                             f"{key} {m[key]!r}")
    return m


def verify_checksums(path: str | os.PathLike, manifest: dict | None = None) -> None:
    """Compare every array file's checksum with the manifest (reads the whole store)."""
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    for name, entry in manifest["arrays"].items():
        file = path / entry["file"]
        try:
            digest = file_digest(file)
        except OSError as err:
            raise StoreError(f"{file}: cannot read ({err.strerror})") from None
        if digest != entry["blake2b"]:
            raise StoreError(f"{file}: checksum mismatch: the data of {name} is damaged")


def open_store(path: str | os.PathLike, verify: bool = False) -> CompiledNetwork:
    """Open a store with memory-mapped arrays, validated (see the module doc).

    Parameters
    ----------
    path : str or Path
        A directory written by :func:`brainmac.store.write_store`.
    verify : bool
        Also compare every file's checksum (reads the whole store once).

    Returns
    -------
    CompiledNetwork
        Arrays are read-only views of the files; results equal the in-memory compile.

    Raises
    ------
    StoreError
        Anything wrong with the store; the message names the file.
    """
    path = Path(path)
    m = read_manifest(path)
    profile = get_profile(m["profile"])
    arrays = {name: map_array(path / entry["file"], np.dtype(entry["dtype"]),
                              tuple(entry["shape"]))
              for name, entry in m["arrays"].items()}
    if verify:
        verify_checksums(path, m)
    check_arrays(arrays, profile, m["model"]["populations"], str(path))
    return CompiledNetwork(profile, float(m["dt_ms"]), int(m["seed"]), arrays, m["model"])


def _map_arrays(path: Path, manifest: dict) -> dict[str, np.ndarray]:
    """Every array of the store, memory-mapped read-only (headers and sizes checked)."""
    return {name: map_array(path / entry["file"], np.dtype(entry["dtype"]),
                            tuple(entry["shape"]))
            for name, entry in manifest["arrays"].items()}


class PartitionTotals(NamedTuple):
    """What every partition of a store holds, shape (P,) int64 each."""

    synapses: np.ndarray  # real synapses (row_syn[:, -1]): what MPI balances
    slots: np.ndarray  # synapse slots: synapses rounded up to multiples of 4 (s_value entries)
    code_bytes: np.ndarray  # group code bytes (row_grp[:, -1]: g_code entries)


def partition_totals(maps: dict[str, np.ndarray], where: str) -> PartitionTotals:
    """Synapses, synapse slots and code bytes of every partition, checked against the
    bases: ``syn_base`` must be the running sum of the slots, ending at the entries of
    ``s_value``, and ``grp_base`` that of the code bytes, ending at those of ``g_code``.
    Reads one row-pointer entry per partition."""
    synapses = np.asarray(maps["row_syn"][:, -1], np.int64)
    totals = PartitionTotals(synapses, padded(synapses),
                             np.asarray(maps["row_grp"][:, -1], np.int64))
    for base, count, data, what in (
            ("syn_base", totals.slots, "s_value", "row_syn totals rounded up to multiples of 4"),
            ("grp_base", totals.code_bytes, "g_code", "row_grp totals")):
        running = np.concatenate([[0], np.cumsum(count)])
        if not np.array_equal(np.asarray(maps[base]), running[:-1]) \
                or running[-1] != maps[data].size:
            raise StoreError(f"{where}/{base}.npy: must be the running sum of the partitions' "
                             f"{what}, ending at the {maps[data].size} entries of {data}")
    return totals


def store_partitions(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The partitions of a store, checked, without reading any synapse: their first
    neurons, shape (P+1,) int64, and synapse counts, shape (P,) int64 (what an MPI job
    assigns partitions to ranks by)."""
    path = Path(path)
    m = read_manifest(path)
    maps = _map_arrays(path, m)
    check_partitions(maps, m["model"]["populations"], str(path))
    return np.array(maps["part_start"], np.int64), partition_totals(maps, str(path)).synapses


def _map_range(path: Path, full: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Entries [lo, hi) of the checked 1-D array file ``path`` (``full`` is its map), mapped
    on their own."""
    if hi <= lo:
        return full[:0]
    offset = HEADER_BYTES + lo * full.itemsize
    return np.asarray(np.memmap(path, full.dtype, "r", offset=offset, shape=(hi - lo,)))


def _owned_rows(full: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Row pointers (P, N+1) holding the rows of partitions [first, stop) and zeros (empty
    partitions) elsewhere; the zero rows are never written, so they take no memory."""
    rows = np.zeros(full.shape, full.dtype)
    rows[first:stop] = full[first:stop]
    return rows


def _owned_bases(count: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Bases (P,) of a layout whose only non-empty partitions are [first, stop)."""
    owned = np.zeros_like(count)
    owned[first:stop] = count[first:stop]
    return np.concatenate([[0], np.cumsum(owned)[:-1]]).astype(np.int64)


def open_partitions(path: str | os.PathLike, owned: tuple[int, int]) -> CompiledNetwork:
    """Open the partitions ``owned`` = (first, stop) of a store, as one MPI rank holds them.

    Global arrays (neurons, drives, gains; sizes O(N + P)) are mapped whole; of the synapse
    data only the rows, group codes and synapses of partitions ``first <= p < stop`` are mapped
    (the other partitions look empty: zero rows), so memory and reads are those of this
    rank's share. Validation is that of :func:`open_store` for everything mapped, and the
    bases are checked against every partition's totals (:func:`partition_totals`).

    Returns
    -------
    CompiledNetwork
        Arrays in the global layout (partition p at index p, neuron i at i). ``g_code``
        and ``s_*`` hold only the owned partitions, and ``syn_base`` / ``grp_base`` index
        them. Delay range and synapse count are this share's, not the store's.

    Raises
    ------
    StoreError
        Anything wrong with what this share reads; the message names the file.
    """
    path = Path(path)
    m = read_manifest(path)
    maps = _map_arrays(path, m)
    n_parts = maps["part_start"].size - 1
    first, stop = (int(x) for x in owned)
    if not 0 <= first < stop <= n_parts:
        raise StoreError(f"{path}: partitions [{first}, {stop}) are not a range inside the "
                         f"store's {n_parts}")
    totals = partition_totals(maps, str(path))
    arrays = {name: a for name, a in maps.items() if name not in layout.STREAMED}
    slot, code = (int(maps[base][first]) for base in ("syn_base", "grp_base"))
    slot_end = slot + int(totals.slots[first:stop].sum())
    ranges = {"s_value": (slot, slot_end),  # slots: multiples of 4, whole bytes of s_index
              "s_index": (target_bytes(slot), target_bytes(slot_end)),
              "g_code": (code, code + int(totals.code_bytes[first:stop].sum()))}
    for name, (lo, hi) in ranges.items():
        arrays[name] = _map_range(path / m["arrays"][name]["file"], maps[name], lo, hi)
    arrays["syn_base"] = _owned_bases(totals.slots, first, stop)
    arrays["grp_base"] = _owned_bases(totals.code_bytes, first, stop)
    for name in layout.ROW_ARRAYS:
        arrays[name] = _owned_rows(maps[name], first, stop)
    del maps
    check_arrays(arrays, get_profile(m["profile"]), m["model"]["populations"], str(path))
    return CompiledNetwork(get_profile(m["profile"]), float(m["dt_ms"]), int(m["seed"]),
                           arrays, m["model"])
