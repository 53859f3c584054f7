"""The step loop: state, ring buffers, recording, counters."""

from brainmac.engine.simulator import Simulator

__all__ = ["Simulator"]
