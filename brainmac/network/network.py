"""The description of a network: populations, projections and drives, in floats and units."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from brainmac.errors import ConfigError
from brainmac.network.connectors import Connector, Explicit
from brainmac.network.distributions import Normal, Value, as_value, check_finite, value_mean
from brainmac.network.neurons import SOURCE_MODELS, NeuronParams, neuron_params


@dataclass(frozen=True)
class Population:
    """A group of identical neurons.

    Parameters
    ----------
    name : str
        Unique within the network.
    size : int
        Number of neurons, > 0.
    model : str
        ``"lif_delta"``, ``"lif_exp"`` or ``"poisson_source"``.
    params : mapping, optional
        Neuron parameters in NEST's names and units (see ``brainmac.network.neurons``).
    v_init : float or Normal
        Initial membrane potential in mV (absolute); defaults to ``E_L``.
    """

    name: str
    size: int
    model: str = "lif_exp"
    params: Mapping[str, float] | None = None
    v_init: Value | None = None
    neuron: NeuronParams = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"population name must be an identifier, got {self.name!r}")
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size <= 0:
            raise ConfigError(f"population {self.name!r}: size must be an integer > 0, "
                              f"got {self.size!r}")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "neuron", neuron_params(self.model, self.params))
        v0 = self.neuron.values.get("E_L", 0.0) if self.v_init is None else self.v_init
        object.__setattr__(self, "v_init", as_value(f"{self.name}.v_init (mV)", v0))


@dataclass(frozen=True)
class Projection:
    """Synapses from one population onto another.

    Parameters
    ----------
    pre, post : Population
    connector : Connector
        A rule from ``brainmac.network.connectors``.
    weight : float or Normal
        pA for ``lif_exp`` targets, mV for ``lif_delta`` targets. A Normal without bounds
        gets the bound that keeps the sign of its mean (NEST's example rule).
    delay : float or Normal
        ms; a Normal without a lower bound is redrawn below one time step.
        Ignored for ``Explicit`` connectors, which carry their own.
    """

    pre: Population
    post: Population
    connector: Connector
    weight: Value = 0.0
    delay: Value = 1.0

    def __post_init__(self) -> None:
        label = f"projection {self.pre.name}->{self.post.name}"
        weight = as_value(f"{label} weight", self.weight)
        if isinstance(weight, Normal) and weight.low is None and weight.high is None:
            weight = weight.with_bounds(0.0, None) if weight.mean >= 0 else weight.with_bounds(
                None, 0.0)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "delay", as_value(f"{label} delay (ms)", self.delay))
        if value_mean(self.delay) <= 0 and not isinstance(self.connector, Explicit):
            raise ConfigError(f"{label}: delay must be > 0 ms, got {self.delay}")
        self.connector.validate(self.pre.size, self.post.size)

    @property
    def label(self) -> str:
        return f"{self.pre.name}->{self.post.name}"


@dataclass(frozen=True)
class PoissonDrive:
    """Independent Poisson input to every neuron of a population, drawn per neuron per step.

    Equivalent to ``indegree`` independent Poisson sources of ``rate_hz`` each, all with
    ``weight`` (pA or mV); not stored as synapses. Active in the steps whose start time t
    satisfies ``start_ms <= t < stop_ms``.
    """

    target: Population
    rate_hz: float
    weight: float
    indegree: int = 1
    start_ms: float = 0.0
    stop_ms: float = math.inf

    def __post_init__(self) -> None:
        check_finite("PoissonDrive.rate_hz", self.rate_hz)
        check_finite("PoissonDrive.weight", self.weight)
        check_finite("PoissonDrive.start_ms", self.start_ms)
        if math.isnan(self.stop_ms) or not self.stop_ms > self.start_ms >= 0:
            raise ConfigError(f"PoissonDrive needs 0 <= start_ms < stop_ms, got "
                              f"start_ms={self.start_ms}, stop_ms={self.stop_ms}")
        if self.rate_hz < 0:
            raise ConfigError(f"PoissonDrive.rate_hz must be >= 0 Hz, got {self.rate_hz}")
        if int(self.indegree) != self.indegree or self.indegree < 0:
            raise ConfigError(f"PoissonDrive.indegree must be an integer >= 0, "
                              f"got {self.indegree}")


@dataclass(frozen=True)
class DCDrive:
    """A constant current (pA) into every neuron of a population, added to its ``I_e``."""

    target: Population
    amplitude_pa: float

    def __post_init__(self) -> None:
        check_finite("DCDrive.amplitude_pa", self.amplitude_pa)


Drive = PoissonDrive | DCDrive


class Network:
    """A mutable container of populations, projections and drives, in insertion order.

    Neurons are numbered globally in the order their populations were added.
    """

    def __init__(self, name: str = "network") -> None:
        self.name = name
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.drives: list[Drive] = []
        self.metadata: dict = {}

    def add(self, item: Population | Projection | Drive):
        """Add a population, projection or drive and return it."""
        if isinstance(item, Population):
            if any(p.name == item.name for p in self.populations):
                raise ConfigError(f"a population named {item.name!r} exists already")
            self.populations.append(item)
        elif isinstance(item, Projection):
            self._check_member(item.pre)
            self._check_member(item.post)
            self._check_not_source(item.post, "synapses")
            self.projections.append(item)
        elif isinstance(item, PoissonDrive | DCDrive):
            self._check_member(item.target)
            self._check_not_source(item.target, "a drive")
            self.drives.append(item)
        else:
            raise ConfigError(f"cannot add {type(item).__name__} to a Network")
        return item

    def population(self, name: str, size: int, model: str = "lif_exp",
                   params: Mapping[str, float] | None = None,
                   v_init: Value | None = None) -> Population:
        """Create and add a Population."""
        return self.add(Population(name, size, model, params, v_init))

    def connect(self, pre: Population, post: Population, connector: Connector,
                weight: Value = 0.0, delay: Value = 1.0) -> Projection:
        """Create and add a Projection."""
        return self.add(Projection(pre, post, connector, weight, delay))

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    def offsets(self) -> dict[str, int]:
        """The global id of each population's first neuron."""
        out, start = {}, 0
        for pop in self.populations:
            out[pop.name] = start
            start += pop.size
        return out

    @staticmethod
    def _check_not_source(pop: Population, what: str) -> None:
        if pop.model in SOURCE_MODELS:
            raise ConfigError(f"population {pop.name!r} is a {pop.model}: it cannot receive "
                              f"{what}")

    def _check_member(self, pop: Population) -> None:
        if not any(p is pop for p in self.populations):
            raise ConfigError(f"population {pop.name!r} is not part of network {self.name!r}; "
                              "add it first")
