"""Values that are either a constant or drawn per element (weights, delays, initial potentials)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from brainmac.errors import ConfigError


def check_finite(name: str, value: float) -> float:
    """Return ``value`` as float, or raise a ConfigError naming ``name`` if it is NaN or inf."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return out


@dataclass(frozen=True)
class Normal:
    """A normal distribution, redrawn until inside ``[low, high]``.

    The bounded redraw is the rule of NEST's Potjans_2014 example (``nest.math.redraw``):
    excitatory weights stay >= 0, inhibitory weights <= 0, delays >= one step.

    Parameters
    ----------
    mean, std : float
        In the unit of the quantity it describes (pA, mV or ms).
    low, high : float or None
        Bounds of the redraw; None means unbounded.
    """

    mean: float
    std: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", check_finite("Normal.mean", self.mean))
        object.__setattr__(self, "std", check_finite("Normal.std", self.std))
        if self.std < 0:
            raise ConfigError(f"Normal.std must be >= 0, got {self.std}")
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if value is not None and math.isnan(float(value)):
                raise ConfigError(f"Normal.{bound} must not be NaN")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ConfigError(f"Normal bounds are empty: low={self.low} > high={self.high}")

    def with_bounds(self, low: float | None, high: float | None) -> Normal:
        """Return a copy with the given redraw bounds (None keeps the current one)."""
        return Normal(
            self.mean,
            self.std,
            self.low if low is None else low,
            self.high if high is None else high,
        )


Value = float | Normal


def as_value(name: str, value: object) -> Value:
    """Validate a constant-or-Normal parameter and return it (constants as float)."""
    if isinstance(value, Normal):
        return value
    return check_finite(name, value)  # type: ignore[arg-type]


def value_mean(value: Value) -> float:
    """The mean of a value: the constant itself, or the distribution's mean."""
    return value.mean if isinstance(value, Normal) else float(value)
