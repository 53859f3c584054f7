"""Value checks of a store's arrays: every index the kernels follow stays inside its array.

The kernels do not bounds-check, so this is the security boundary between a store file and
memory. Given arrays whose shapes already agree (:func:`brainmac.store.layout.check_shapes`),
the checks below guarantee that ``deliver_partition`` and the neuron updates only touch:

- ring cells of the partition's own neurons: ``s_index < partition size``,
  ``gain_receptor`` in {0, 1}, ``g_delay >= 1`` (delays fit the ring by construction);
- groups and synapses of the partition: row pointers start at 0, never decrease, the
  per-partition bases are the running sums of the partition sizes, and the group counts of
  every row add up to the row's synapses (so each row's synapse range is exact);
- table entries: ``g_gain < G``, ``drive_guide`` in [0, L), each Poisson CDF row in [0, 1],
  nondecreasing and ending at 1 (the inversion search stops inside the table; tables the
  backend derives from it inherit these bounds), ``drive_table`` linear in the event count
  (k times one event's input: the backend multiplies), receptors and model codes in {0, 1};
- spike buffers: a neuron spikes at most once per (refractory steps + 1), which needs
  ``ref_steps >= 0`` and a reset below threshold (after saturation in fixed point).

Every failure is a StoreError naming the array's file and what is wrong.
"""

from __future__ import annotations

import numpy as np

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
    """part_start runs from 0 to N without decreasing; each partition lies in its population."""
    ps = np.asarray(a["part_start"])
    n = a["v_init"].size
    if ps[0] != 0 or ps[-1] != n or (np.diff(ps) < 0).any():
        _fail(where, "part_start", f"must rise from 0 to the {n} neurons without decreasing")
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
    if (ref < 0).any() or (ref > 2**31).any():
        _fail(where, "ref_steps", "refractory steps must lie in [0, 2**31]")
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


def check_groups(a: dict, where: str) -> None:
    """Delays of at least one step and gain indices inside gain_value."""
    if a["g_delay"].size and int(a["g_delay"].min()) < 1:
        _fail(where, "g_delay", "delays must be >= 1 step")
    n_gains = a["gain_value"].size
    if a["g_gain"].size and int(a["g_gain"].max()) >= n_gains:
        _fail(where, "g_gain", f"gain indices must be < {n_gains} (entries of gain_value)")


def check_rows(a: dict, where: str) -> None:
    """Row pointers, bases, group counts and local indices, partition by partition."""
    ps = np.asarray(a["part_start"])
    n_syn, n_grp = a["s_index"].size, a["g_count"].size
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
        ns, ng = int(rs[-1]), int(rg[-1])
        if sb + ns > n_syn or gb + ng > n_grp:
            _fail(where, "row_syn" if sb + ns > n_syn else "row_grp",
                  f"row {p} points past the end of the synapse or group arrays")
        _check_counts(a, p, rs, rg, gb, where)
        _check_local_index(a, p, sb, ns, int(ps[p + 1] - ps[p]), where)
        sb, gb = sb + ns, gb + ng
    if sb != n_syn or gb != n_grp:
        _fail(where, "row_syn", f"partitions hold {sb} synapses and {gb} groups, the arrays "
              f"{n_syn} and {n_grp}")


def _check_counts(a: dict, p: int, rs: np.ndarray, rg: np.ndarray, gb: int,
                  where: str) -> None:
    ng = int(rg[-1])
    cs = np.zeros(ng + 1, np.int64)
    np.cumsum(a["g_count"][gb:gb + ng], out=cs[1:])
    if not np.array_equal(cs[rg], rs):
        _fail(where, "g_count", f"the group counts of partition {p} do not add up to its "
              "row pointers (row_syn)")


def _check_local_index(a: dict, p: int, sb: int, ns: int, size: int, where: str) -> None:
    if ns == 0:
        return
    local = a["s_index"][sb:sb + ns]
    if int(local.max()) >= size:
        i = sb + int(np.flatnonzero(local >= size)[0])
        _fail(where, "s_index", f"entry {i} is {int(a['s_index'][i])}, outside partition "
              f"{p} (size {size})")


def check_arrays(a: dict, profile: Profile, populations: list[dict], where: str) -> None:
    """Every check above, cheapest first."""
    check_partitions(a, populations, where)
    check_neurons(a, profile, where)
    check_drives(a, where)
    check_groups(a, where)
    check_rows(a, where)
