"""Units of the planner: every figure is converted to SI base units once, here.

Inside the planner, sizes are bytes, rates are per second, power is watts and money is US
dollars. The catalog and the command line speak vendor units (GB, TB/s, Gb/s, TOPS); the
functions below are the only place where those become base units, so a wrong factor shows
up in one test rather than in every formula.

Decimal prefixes throughout (1 GB = 1e9 B), as vendors state memory bandwidth, disk capacity
and link speed; GPU memory sizes ("80 GB") are treated the same way.
"""

from __future__ import annotations

import math

KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12
PETA = 1e15
#: Bytes in a GiB (binary prefix), used only for RAM reported by the operating system.
GIB = 2.0**30
#: Bits per byte.
BITS_PER_BYTE = 8
#: Vendors count one multiply-accumulate as two operations in their TOPS figures.
OPS_PER_MAC = 2


def gb_to_bytes(gb: float) -> float:
    """Gigabytes (1e9 B) to bytes."""
    return gb * GIGA


def tb_to_bytes(tb: float) -> float:
    """Terabytes (1e12 B) to bytes."""
    return tb * TERA


def gib_to_bytes(gib: float) -> float:
    """Gibibytes (2**30 B) to bytes."""
    return gib * GIB


def tbps_to_bytes_per_s(tb_per_s: float) -> float:
    """Bandwidth in TB/s to bytes per second."""
    return tb_per_s * TERA


def gbps_to_bytes_per_s(gb_per_s: float) -> float:
    """Bandwidth in GB/s (gigabytes) to bytes per second."""
    return gb_per_s * GIGA


def gbit_to_bytes_per_s(gbit_per_s: float) -> float:
    """Link speed in Gb/s (gigabits, one direction) to bytes per second: 400 Gb/s = 50e9 B/s."""
    return gbit_per_s * GIGA / BITS_PER_BYTE


def tops_to_ops_per_s(tops: float) -> float:
    """Tera-operations per second to operations per second."""
    return tops * TERA


def tops_to_macs_per_s(tops: float, ops_per_mac: float = OPS_PER_MAC) -> float:
    """Vendor TOPS to multiply-accumulates per second.

    Parameters
    ----------
    tops : float
        Tera-operations per second as the vendor states them.
    ops_per_mac : float
        Operations the vendor counts per MAC: 2 for NVIDIA, AMD and Intel figures; the seed
        counts 1.
    """
    return tops * TERA / ops_per_mac


def kiops_to_iops(kiops: float) -> float:
    """Thousands of I/O operations per second to operations per second."""
    return kiops * KILO


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """Format ``value`` with an SI prefix: ``si(6.8e16, 'MAC/s') == '68 PMAC/s'``.

    Parameters
    ----------
    value : float
        The number in base units.
    unit : str
        Unit symbol to append.
    digits : int
        Significant digits.
    """
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    prefixes = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def usd(value: float) -> str:
    """Format dollars: ``usd(2.4e7) == '$24M'``, ``usd(25_000) == '$25k'``."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:.3g}{suffix}"
    return f"${value:.0f}"
