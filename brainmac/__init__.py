"""brainmac: spiking neural networks as 8-bit multiply-accumulates on a fixed clock.

>>> import brainmac as bm
>>> net = bm.Network()
"""

from brainmac import models, network
from brainmac.errors import CapacityError, ConfigError, StoreError
from brainmac.network import (
    AllToAll,
    DCDrive,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    Network,
    Normal,
    OneToOne,
    PairwiseBernoulli,
    PoissonDrive,
    Population,
    Projection,
)

__version__ = "0.1.0"

__all__ = [
    "AllToAll", "CapacityError", "ConfigError", "DCDrive", "Explicit", "FixedIndegree",
    "FixedTotalNumber", "Network", "Normal", "OneToOne", "PairwiseBernoulli", "PoissonDrive",
    "Population", "Projection", "StoreError", "models", "network",
]
