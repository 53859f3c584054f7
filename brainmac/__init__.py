"""brainmac: spiking neural networks as 8-bit multiply-accumulates on a fixed clock.

>>> import brainmac as bm
>>> net = bm.Network()
"""

from brainmac._cpu import prefer_wide_vectors

prefer_wide_vectors()  # before anything imports numba

from brainmac import models, network  # noqa: E402
from brainmac.errors import CapacityError, ConfigError, StoreError  # noqa: E402
from brainmac.network import (  # noqa: E402
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
