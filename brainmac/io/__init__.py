"""Reading and writing brainmac's outputs in community formats (SONATA spike files)."""

from brainmac.io.sonata import SpikeWriter, read_spikes

__all__ = ["SpikeWriter", "read_spikes"]
