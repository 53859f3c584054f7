"""The arrays of a store: their element types and shapes (see ``compile.compiled.ARRAY_DOCS``).

Shapes are written with the symbols of ARRAY_DOCS: P partitions, N neurons, L Poisson table
length, G gain indices, g group code bytes, n synapse slots (every partition padded to a
multiple of 4, so n is too and the 14-bit targets take 7n/4 bytes; ``brainmac.compile.codes``). A
store's shapes must agree with each other through these symbols, which :func:`check_shapes`
enforces before any file is mapped.

A change of this table (an array added, removed or retyped) is a new store format: raise
``writer.FORMAT_VERSION`` with it. ``tests/test_store.py`` checks that the table covers
``ARRAY_DOCS`` exactly.
"""

from __future__ import annotations

import numpy as np

from brainmac.compile.codes import SLOT_BLOCK, target_bytes
from brainmac.compile.profiles import Profile
from brainmac.errors import StoreError

GUIDE_SIZE = 64  # columns of drive_guide (brainmac.compile.drives.GUIDE_SIZE)

#: name -> (element type: a numpy type or the Profile attribute naming it, shape symbols).
ARRAYS: dict[str, tuple[object, tuple[object, ...]]] = {
    "part_start": (np.int64, ("P+1",)),
    "part_pop": (np.int64, ("P",)),
    "model_code": (np.int64, ("P",)),
    "coef": ("coef_dtype", ("P", 6)),
    "levels": ("coef_dtype", ("P", 3)),
    "ref_steps": (np.int64, ("P",)),
    "drive_cdf": (np.float64, ("P", "L")),
    "drive_guide": (np.int64, ("P", GUIDE_SIZE)),
    "drive_table": ("ring_dtype", ("P", "L")),
    "drive_receptor": (np.int64, ("P",)),
    "drive_window": (np.int64, ("P", 2)),
    "gain_value": ("ring_dtype", ("G",)),
    "gain_receptor": (np.int64, ("G",)),
    "v_init": ("state_dtype", ("N",)),
    "syn_base": (np.int64, ("P",)),
    "grp_base": (np.int64, ("P",)),
    "row_syn": (np.uint32, ("P", "N+1")),
    "row_grp": (np.uint32, ("P", "N+1")),
    "g_code": (np.uint8, ("g",)),
    "s_index": (np.uint8, ("7n/4",)),
    "s_value": ("weight_dtype", ("n",)),
}

#: Arrays written partition by partition while compiling.
GROUP_ARRAYS = ("g_code",)
SYNAPSE_ARRAYS = ("s_index", "s_value")
ROW_ARRAYS = ("row_syn", "row_grp")
STREAMED = ROW_ARRAYS + GROUP_ARRAYS + SYNAPSE_ARRAYS

#: The arrays that count as synapse data in bytes per synapse (as CompiledNetwork).
SYNAPSE_DATA = SYNAPSE_ARRAYS + GROUP_ARRAYS + ROW_ARRAYS


def expected_dtype(name: str, profile: Profile) -> np.dtype:
    """The element type of array ``name`` in a store of ``profile``."""
    rule = ARRAYS[name][0]
    return np.dtype(getattr(profile, rule) if isinstance(rule, str) else rule)


def dimensions(shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """The symbols' values, read off the arrays that define them."""
    def first(name: str, axis: int) -> int:
        shape = shapes[name]
        return int(shape[axis]) if len(shape) > axis else -1

    return {"P": first("part_start", 0) - 1, "N": first("v_init", 0),
            "L": first("drive_cdf", 1), "G": first("gain_value", 0),
            "g": first("g_code", 0), "n": first("s_value", 0)}


def expected_shape(name: str, dims: dict[str, int]) -> tuple[int, ...]:
    """The shape array ``name`` must have, given the symbols' values."""
    out = []
    for symbol in ARRAYS[name][1]:
        if isinstance(symbol, int):
            out.append(symbol)
        elif symbol.endswith("+1"):
            out.append(dims[symbol[:-2]] + 1)
        elif symbol == "7n/4":  # 14-bit targets of n (a multiple of 4) synapse slots
            out.append(target_bytes(dims["n"]))
        else:
            out.append(dims[symbol])
    return tuple(out)


def check_shapes(shapes: dict[str, tuple[int, ...]], where: str) -> dict[str, int]:
    """Refuse shapes that do not agree with each other; returns the symbols' values.

    ``shapes`` holds every array of :data:`ARRAYS`; ``where`` names the manifest in errors.
    """
    dims = dimensions(shapes)
    if dims["P"] < 1:
        raise StoreError(f"{where}: part_start must hold at least 2 entries (1 partition), "
                         f"has shape {shapes['part_start']}")
    if dims["L"] < 1 or dims["G"] < 1:
        raise StoreError(f"{where}: drive_cdf needs >= 1 column and gain_value >= 1 entry, "
                         f"shapes {shapes['drive_cdf']} and {shapes['gain_value']}")
    if dims["n"] % SLOT_BLOCK:
        raise StoreError(f"{where}: array s_value has shape {tuple(shapes['s_value'])}, but "
                         f"partitions are padded to a multiple of {SLOT_BLOCK} synapse slots")
    for name in ARRAYS:
        want = expected_shape(name, dims)
        if tuple(shapes[name]) != want:
            raise StoreError(f"{where}: array {name} has shape {tuple(shapes[name])}, but the "
                             f"other arrays imply {want} ({ARRAYS[name][1]})")
    return dims
