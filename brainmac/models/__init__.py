"""Ready-made networks: the Potjans & Diesmann (2014) microcircuit and the Brunel (2000) network.

>>> from brainmac.models import build
>>> net = build("brunel", order=250)
"""

from __future__ import annotations

from collections.abc import Callable

from brainmac.errors import ConfigError
from brainmac.models.brunel import brunel
from brainmac.models.microcircuit import microcircuit
from brainmac.network import Network

#: name -> function that builds the network.
MODELS: dict[str, Callable[..., Network]] = {"brunel": brunel, "microcircuit": microcircuit}


def build(name: str, **kwargs) -> Network:
    """Build the model ``name`` with keyword arguments of its function.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones) or a bad argument.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](**kwargs)
    except TypeError as exc:  # an unknown keyword
        raise ConfigError(f"model {name!r}: {exc}") from None


__all__ = ["MODELS", "brunel", "build", "microcircuit"]
