"""Value checks of a store's arrays: every index the kernels follow stays inside its array.

The kernels do not bounds-check, so this is the security boundary between a store file and
memory. Given arrays whose shapes already agree (:func:`brainmac.store.layout.check_shapes`),
the checks below guarantee that ``deliver_partition`` and the neuron updates only touch:

- ring cells of the partition's own neurons: partitions of at most 16,384 neurons, the
  14-bit target of every synapse below its partition's size (padding slots are never read),
  ``gain_receptor`` in {0, 1}, and every group's delay in [1, ``MAX_DELAY_STEPS``] (delays
  fit the ring by construction);
- group codes and synapses of the partition: row pointers start at 0 and never decrease;
  the per-partition bases are the running sums of the partitions' synapse slots (synapses
  rounded up to a multiple of 4, so that each partition starts on a whole byte of ``s_index``) and
  code bytes, ending at the arrays' lengths; the codes of every row decode completely inside
  the row (each row starts with a gain code, no gain code is cut off) and count exactly the
  row's synapses (so each row's code and synapse ranges are exact; ``codes.check_row``);
- table entries: gain indices < G, ``drive_guide`` in [0, L), each Poisson CDF row in [0, 1],
  nondecreasing and ending at 1 (the inversion search stops inside the table; tables the
  backend derives from it inherit these bounds), ``drive_table`` linear in the event count
  (k times one event's input: the backend multiplies), receptors and model codes in {0, 1};
- spike buffers: a neuron spikes at most once per (refractory steps + 1), which needs
  ``ref_steps >= 0`` and a reset below threshold (after saturation in fixed point).

Every failure is a StoreError naming the array's file and what is wrong.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brainmac.compile.codes import (
    MAX_TARGETS,
    ROW_ERRORS,
    SLOT_BLOCK,
    TARGET_BITS,
    check_partition_codes,
    padded,
    target_at,
    target_bytes,
)
from brainmac.compile.pack import MAX_DELAY_STEPS
from brainmac.compile.profiles import Profile
from brainmac.errors import StoreError


def _fail(where: str, name: str, text: str) -> None:
    raise StoreError(f"{where}/{name}.npy: {text}")


def _in_set(a: dict, name: str, allowed: tuple[int, ...], where: str) -> None:
    values = np.asarray(a[name])
    bad = ~np.isin(values, allowed)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        _fail(where, name, f"entry {i} is {values.reshape(-1)[i]}, must be one of {allowed}")


def check_partitions(a: dict, populations: list[dict], where: str) -> None:
    """part_start runs from 0 to N without decreasing, in steps of at most 16,384 neurons;
    each partition lies in its population."""
    ps = np.asarray(a["part_start"])
    n = a["v_init"].size
    if ps[0] != 0 or ps[-1] != n or (np.diff(ps) < 0).any():
        _fail(where, "part_start", f"must rise from 0 to the {n} neurons without decreasing")
    if (np.diff(ps) > MAX_TARGETS).any():
        p = int(np.flatnonzero(np.diff(ps) > MAX_TARGETS)[0])
        _fail(where, "part_start", f"partition {p} holds {int(ps[p + 1] - ps[p])} neurons, "
              f"more than the {MAX_TARGETS} that {TARGET_BITS}-bit targets address")
    pops = np.asarray(a["part_pop"])
    if pops.size and (pops.min() < 0 or pops.max() >= len(populations)):
        _fail(where, "part_pop", f"population index outside [0, {len(populations)})")
    first = np.array([p["start"] for p in populations], np.int64)[pops]
    stop = first + np.array([p["size"] for p in populations], np.int64)[pops]
    if ((ps[:-1] < first) | (ps[1:] > stop)).any():
        _fail(where, "part_pop", "a partition reaches outside its population")


def check_neurons(a: dict, profile: Profile, where: str) -> None:
    """Model codes, refractory steps and threshold/reset levels the kernels can step."""
    _in_set(a, "model_code", (0, 1), where)
    ref = np.asarray(a["ref_steps"])
    if (ref < 0).any() or (ref >= 2**31).any():  # the counters are int32
        _fail(where, "ref_steps", "refractory steps must lie in [0, 2**31 - 1]")
    levels = np.asarray(a["levels"])
    theta, reset = levels[:, 0], levels[:, 1]
    if profile.fixed_point:
        reset = np.maximum(reset, -profile.state_max)  # as saturated by the kernel
    if not (reset < theta).all():
        _fail(where, "levels", "the reset must lie below the threshold in every partition")


def check_drives(a: dict, where: str) -> None:
    """Poisson inversion tables whose search always ends inside the table."""
    cdf = np.asarray(a["drive_cdf"])
    if not ((cdf >= 0.0) & (cdf <= 1.0)).all() or (np.diff(cdf, axis=1) < 0).any() \
            or not (cdf[:, -1] == 1.0).all():
        _fail(where, "drive_cdf", "every row must be a CDF: in [0, 1], nondecreasing, "
              "ending at 1")
    guide = np.asarray(a["drive_guide"])
    if (guide < 0).any() or (guide >= cdf.shape[1]).any():
        _fail(where, "drive_guide", f"entries must lie in [0, {cdf.shape[1]})")
    _check_drive_table(np.asarray(a["drive_table"]), where)
    _in_set(a, "drive_receptor", (0, 1), where)
    _in_set(a, "gain_receptor", (0, 1), where)
    window = np.asarray(a["drive_window"])
    if (window < 0).any() or (window[:, 0] > window[:, 1]).any():
        _fail(where, "drive_window", "every row must be steps [start, stop) with "
              "0 <= start <= stop")


def _check_drive_table(table: np.ndarray, where: str) -> None:
    """``table[p, k]`` is k times the input of one event (the compiler's definition; the
    backend multiplies instead of looking the table up)."""
    counts = np.arange(table.shape[1])
    one = table[:, 1] if table.shape[1] > 1 else np.zeros(table.shape[0], table.dtype)
    if table.dtype.kind in "iu":
        linear = one[:, None].astype(np.int64) * counts[None, :]
    else:
        linear = one[:, None] * counts[None, :].astype(table.dtype)
    if not np.array_equal(linear, table):
        _fail(where, "drive_table", "row p must be k times the input of one event, "
              "k = 0 .. L-1")


def check_rows(a: dict, where: str) -> None:
    """Row pointers, bases, group codes and targets, partition by partition."""
    ps = np.asarray(a["part_start"])
    n_slots, n_code = a["s_value"].size, a["g_code"].size
    if n_slots % SLOT_BLOCK or a["s_index"].size != target_bytes(n_slots):
        _fail(where, "s_index", f"{a['s_index'].size} bytes do not hold the {TARGET_BITS}-bit "
              f"targets of {n_slots} (a multiple of {SLOT_BLOCK}) synapse slots")
    syn_base, grp_base = np.asarray(a["syn_base"]), np.asarray(a["grp_base"])
    sb = gb = 0
    for p in range(ps.size - 1):
        rs = np.asarray(a["row_syn"][p], np.int64)
        rg = np.asarray(a["row_grp"][p], np.int64)
        for name, rows in (("row_syn", rs), ("row_grp", rg)):
            if rows[0] != 0 or (np.diff(rows) < 0).any():
                _fail(where, name, f"row {p} must start at 0 and never decrease")
        if syn_base[p] != sb or grp_base[p] != gb:
            _fail(where, "syn_base" if syn_base[p] != sb else "grp_base",
                  f"entry {p} must be the running sum of the partitions before it")
        slots, ng = padded(int(rs[-1])), int(rg[-1])
        if sb + slots > n_slots or gb + ng > n_code:
            _fail(where, "row_syn" if sb + slots > n_slots else "row_grp",
                  f"row {p} points past the end of the synapse or group code arrays")
        _check_codes(a, p, rs, rg, gb, where)
        _check_targets(a, p, sb, int(rs[-1]), int(ps[p + 1] - ps[p]), where)
        sb, gb = sb + slots, gb + ng
    if sb != n_slots or gb != n_code:
        _fail(where, "row_syn", f"partitions hold {sb} synapse slots and {gb} code bytes, the "
              f"arrays {n_slots} and {n_code}")


def _check_codes(a: dict, p: int, rs: np.ndarray, rg: np.ndarray, gb: int,
                 where: str) -> None:
    """Partition p's codes (``rg`` inside ``g_code`` from ``gb`` on: checked by the caller)
    decode row by row into the synapses of ``rs``, with gains inside gain_value."""
    row, err = check_partition_codes(a["g_code"], gb, rg, rs, a["gain_value"].size,
                                     MAX_DELAY_STEPS)
    if err == 5:
        _fail(where, "g_code", f"the codes of row {row} of partition {p} count other "
              f"synapses than its row pointers (row_syn: {rs[row + 1] - rs[row]})")
    if err != 0:
        _fail(where, "g_code", f"the codes of row {row} of partition {p} (bytes "
              f"{gb + rg[row]} to {gb + rg[row + 1]}) {ROW_ERRORS[err]}")


@njit(cache=True, nogil=True)
def _first_target_outside(s_index, first, stop, size):
    """The first synapse slot in [first, stop) whose target is >= size, or -1."""
    for k in range(first, stop):
        if target_at(s_index, k) >= size:
            return k
    return -1


def _check_targets(a: dict, p: int, sb: int, ns: int, size: int, where: str) -> None:
    """The targets of partition p's ``ns`` synapses (slots from ``sb`` on; padding slots
    are never read) lie inside the partition. Targets always fit MAX_TARGETS neurons."""
    if ns == 0 or size >= MAX_TARGETS:
        return
    k = _first_target_outside(a["s_index"], sb, sb + ns, size)
    if k >= 0:
        _fail(where, "s_index", f"synapse slot {k} targets neuron "
              f"{int(target_at(a['s_index'], k))}, outside partition {p} (size {size})")


def check_arrays(a: dict, profile: Profile, populations: list[dict], where: str) -> None:
    """Every check above, cheapest first."""
    check_partitions(a, populations, where)
    check_neurons(a, profile, where)
    check_drives(a, where)
    check_rows(a, where)
