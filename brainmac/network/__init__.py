"""Describe a network in floats and units: populations, projections, connectors, drives."""

from brainmac.network.connectors import (
    AllToAll,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    OneToOne,
    PairwiseBernoulli,
)
from brainmac.network.distributions import Normal
from brainmac.network.network import DCDrive, Network, PoissonDrive, Population, Projection
from brainmac.network.neurons import MODELS, neuron_params

__all__ = [
    "AllToAll", "DCDrive", "Explicit", "FixedIndegree", "FixedTotalNumber", "MODELS",
    "Network", "Normal", "OneToOne", "PairwiseBernoulli", "PoissonDrive", "Population",
    "Projection", "neuron_params",
]
