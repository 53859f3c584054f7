"""Argument types shared by the subcommands: durations with units, fractions, lists."""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min)?\s*$")
_FACTOR = {"ms": 1.0, "s": 1000.0, "min": 60_000.0, None: 1.0}


def duration_ms(text: str) -> float:
    """'1s', '500ms', '1.5 s', '2min' or a bare number of ms -> ms."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 1s, 500ms or 250 (ms)")
    return float(match.group(1)) * _FACTOR[match.group(2)]


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def substep_bits(text: str) -> int:
    """k of the sub-step spike times: a whole number in [0, 8] (brainmac.compile.substep)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 8]")
    return value


MODELS = ("microcircuit", "brunel")  # the built-in models
PROFILES = ("seed", "wide", "float32", "float64")  # brainmac.compile.profiles
ROUNDINGS = ("stochastic", "nearest")  # weight rounding; the first is the default
ROW_LAYOUTS = ("neuron", "partition")  # brainmac.compile.rows.LAYOUTS; the first the default

ROUNDING_HELP = ("weight rounding of the fixed-point profiles: stochastic (default; keeps each "
                 "projection's mean and variance) or nearest")

SUBSTEP_HELP = ("k: spikes carry a k-bit offset within their step and delays are whole "
                "sub-steps of dt / 2**k (0: the plain grid)")
PARTITION_HELP = ("most neurons per partition (largest 16384; default: 16384, 8192 or 4096, "
                  "the largest that gives at least 4 partitions)")


def record_spec(text: str) -> str | float | list[str]:
    """'all', 'none', a fraction such as 0.1, or comma-separated population names."""
    if text in ("all", "none"):
        return text if text == "all" else []
    try:
        return float(text)
    except ValueError:
        return [name.strip() for name in text.split(",") if name.strip()]
