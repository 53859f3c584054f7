"""Neuron models and their parameters, in NEST's names and units.

``lif_delta`` is NEST's ``iaf_psc_delta``: a synaptic event makes the membrane jump by the
weight (mV). ``lif_exp`` is NEST's ``iaf_psc_exp``: a synaptic event makes an exponentially
decaying current jump by the weight (pA), positive weights onto the excitatory current,
negative ones onto the inhibitory current::

    C_m dV/dt = -(V - E_L) C_m / tau_m + I_ex + I_in + I_e
    dI_ex/dt = -I_ex / tau_syn_ex,   dI_in/dt = -I_in / tau_syn_in

Both are integrated exactly on the time grid (Rotter & Diesmann 1999), emit a spike when
V >= V_th, reset V to V_reset and clamp it there for t_ref.

``poisson_source`` is a spike source, NEST's ``parrot_neuron`` fed by its own
``poisson_generator``: each neuron emits an independent Poisson train of ``rate_hz`` between
``start_ms`` and ``stop_ms`` (at most one spike per step, as any neuron on the grid), and
its spikes reach all its targets, so that targets share inputs (e.g. a thalamus).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from brainmac.errors import ConfigError
from brainmac.network.distributions import check_finite

# name -> (default, unit, description); defaults are NEST 3.10's.
_COMMON = {
    "C_m": (250.0, "pF", "membrane capacitance"),
    "tau_m": (10.0, "ms", "membrane time constant"),
    "t_ref": (2.0, "ms", "refractory period"),
    "E_L": (-70.0, "mV", "resting potential"),
    "V_th": (-55.0, "mV", "spike threshold (absolute)"),
    "V_reset": (-70.0, "mV", "reset potential (absolute)"),
    "I_e": (0.0, "pA", "constant input current"),
}
_DELTA = dict(_COMMON, V_min=(-math.inf, "mV", "lower bound of the membrane potential"))
_EXP = dict(
    _COMMON,
    tau_syn_ex=(2.0, "ms", "excitatory synaptic time constant"),
    tau_syn_in=(2.0, "ms", "inhibitory synaptic time constant"),
)

_SOURCE = {
    "rate_hz": (0.0, "Hz", "rate of each neuron's Poisson train"),
    "start_ms": (0.0, "ms", "first time a spike can occur"),
    "stop_ms": (math.inf, "ms", "no spike at or after this time"),
}
MODELS: Mapping[str, Mapping[str, tuple[float, str, str]]] = MappingProxyType(
    {"lif_delta": MappingProxyType(_DELTA), "lif_exp": MappingProxyType(_EXP),
     "poisson_source": MappingProxyType(_SOURCE)}
)
SOURCE_MODELS = frozenset({"poisson_source"})
#: The unit of a synaptic weight, per model.
WEIGHT_UNIT = MappingProxyType({"lif_delta": "mV", "lif_exp": "pA"})
_POSITIVE = ("C_m", "tau_m", "tau_syn_ex", "tau_syn_in")


@dataclass(frozen=True)
class NeuronParams:
    """The complete, validated parameter set of one population's neuron model."""

    model: str
    values: Mapping[str, float]

    def __getitem__(self, name: str) -> float:
        return self.values[name]


def neuron_params(model: str, params: Mapping[str, float] | None) -> NeuronParams:
    """Merge ``params`` over the model's defaults and validate every value.

    Raises ConfigError for an unknown model, an unknown parameter name, a non-finite value
    or a value outside its range (time constants and capacitance > 0, t_ref >= 0,
    V_reset < V_th).
    """
    if model not in MODELS:
        raise ConfigError(f"unknown neuron model {model!r}; choose one of {sorted(MODELS)}")
    spec = MODELS[model]
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown} for model {model!r}; known: {sorted(spec)}"
        )
    values = {name: default for name, (default, _, _) in spec.items()}
    for name, value in params.items():
        if name in ("V_min", "stop_ms") and abs(float(value)) == math.inf:
            values[name] = float(value)
            continue
        values[name] = check_finite(f"{model}.{name} ({spec[name][1]})", value)
    if model in SOURCE_MODELS:
        return _check_source(model, values)
    for name in _POSITIVE:
        if name in values and values[name] <= 0:
            raise ConfigError(f"{model}.{name} must be > 0 {spec[name][1]}, got {values[name]}")
    if values["t_ref"] < 0:
        raise ConfigError(f"{model}.t_ref must be >= 0 ms, got {values['t_ref']}")
    if values["V_reset"] >= values["V_th"]:
        raise ConfigError(
            f"{model}.V_reset ({values['V_reset']} mV) must be below V_th ({values['V_th']} mV)"
        )
    return NeuronParams(model, MappingProxyType(values))


def _check_source(model: str, values: dict) -> NeuronParams:
    if values["rate_hz"] < 0:
        raise ConfigError(f"{model}.rate_hz must be >= 0 Hz, got {values['rate_hz']}")
    if values["start_ms"] < 0:
        raise ConfigError(f"{model}.start_ms must be >= 0 ms, got {values['start_ms']}")
    if not values["stop_ms"] > values["start_ms"]:
        raise ConfigError(f"{model}.stop_ms ({values['stop_ms']}) must be after start_ms "
                          f"({values['start_ms']})")
    return NeuronParams(model, MappingProxyType(values))
