"""Connection rules: which presynaptic neurons each postsynaptic neuron receives from.

Every rule is drawn per postsynaptic neuron from counter-based streams keyed by
(seed, projection, postsynaptic neuron), so that any partitioning builds the same network.
Multapses and autapses are allowed unless a rule says otherwise, as in NEST's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brainmac.errors import ConfigError


@dataclass(frozen=True)
class FixedTotalNumber:
    """``n`` synapses with random pre and post (multapses allowed; Potjans & Diesmann 2014)."""

    n: int

    def validate(self, n_pre: int, n_post: int) -> None:
        _check_count("FixedTotalNumber.n", self.n)


@dataclass(frozen=True)
class FixedIndegree:
    """Each postsynaptic neuron receives from ``k`` random presynaptic neurons."""

    k: int
    autapses: bool = True

    def validate(self, n_pre: int, n_post: int) -> None:
        _check_count("FixedIndegree.k", self.k)
        if not self.autapses and n_pre < 2 and self.k > 0:
            raise ConfigError("FixedIndegree without autapses needs at least 2 presynaptic neurons")


@dataclass(frozen=True)
class PairwiseBernoulli:
    """Each (pre, post) pair is connected with probability ``p``."""

    p: float
    autapses: bool = True

    def validate(self, n_pre: int, n_post: int) -> None:
        if not (0.0 <= float(self.p) <= 1.0):
            raise ConfigError(f"PairwiseBernoulli.p must be in [0, 1], got {self.p}")


@dataclass(frozen=True)
class OneToOne:
    """Neuron i of the presynaptic population to neuron i of the postsynaptic one."""

    def validate(self, n_pre: int, n_post: int) -> None:
        if n_pre != n_post:
            raise ConfigError(f"OneToOne needs equal sizes, got pre={n_pre} and post={n_post}")


@dataclass(frozen=True)
class AllToAll:
    """Every presynaptic neuron to every postsynaptic neuron."""

    autapses: bool = True

    def validate(self, n_pre: int, n_post: int) -> None:
        pass


@dataclass(frozen=True)
class Explicit:
    """Synapses given as arrays of equal length: local ``pre`` and ``post`` indices,
    ``weight`` (pA or mV) and ``delay`` (ms).
    """

    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("pre", "post", "weight", "delay"):
            arr = np.asarray(getattr(self, name))
            if arr.ndim != 1:
                raise ConfigError(f"Explicit.{name} must be one-dimensional, got shape {arr.shape}")
            arrays[name] = arr
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ConfigError(f"Explicit arrays have mismatched lengths: {lengths}")
        for name in ("pre", "post"):
            if arrays[name].size and not np.issubdtype(arrays[name].dtype, np.integer):
                raise ConfigError(f"Explicit.{name} must hold integers, got {arrays[name].dtype}")
        for name in ("weight", "delay"):
            values = arrays[name].astype(np.float64)
            if not np.all(np.isfinite(values)):
                raise ConfigError(f"Explicit.{name} holds NaN or inf")
            arrays[name] = values
        object.__setattr__(self, "pre", arrays["pre"].astype(np.int64))
        object.__setattr__(self, "post", arrays["post"].astype(np.int64))
        object.__setattr__(self, "weight", arrays["weight"])
        object.__setattr__(self, "delay", arrays["delay"])
        # Synapses ordered by postsynaptic neuron, keeping the given order within one.
        object.__setattr__(self, "order", np.argsort(self.post, kind="stable"))

    def validate(self, n_pre: int, n_post: int) -> None:
        for name, size in (("pre", n_pre), ("post", n_post)):
            arr = getattr(self, name)
            if arr.size and (arr.min() < 0 or arr.max() >= size):
                raise ConfigError(
                    f"Explicit.{name} indices must lie in [0, {size}), "
                    f"got [{arr.min()}, {arr.max()}]"
                )


Connector = FixedTotalNumber | FixedIndegree | PairwiseBernoulli | OneToOne | AllToAll | Explicit


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")
