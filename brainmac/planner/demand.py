"""What a scenario asks of the hardware per second of model time, in base units.

Event-driven simulation, as brainmac runs it: each spike of a neuron is delivered to its
``synapses_per_neuron`` targets (one synaptic event each: read the synapse, add its weight to
the target's delay ring buffer); every neuron is updated every step (read and write its state,
read and clear one ring-buffer slot). With ``rate_hz == clock_hz`` this is the seed's model:
every synapse computed every tick.

Spikes cross the network once per unit that holds at least one of their targets. A share
``locality`` of a neuron's synapses sits on its own unit; the rest are spread at random over the
other ``U - 1`` units, so the expected number of other units a spike must reach is

    reach(U) = (U - 1) (1 - exp(-K (1 - locality) / (U - 1))),

about ``U - 1`` while ``U << K`` (every spike goes everywhere) and ``K (1 - locality)`` once
``U >> K``.
"""

from __future__ import annotations

import math

from brainmac.planner.scenarios import Scenario


def events_per_s(s: Scenario) -> float:
    """Synaptic events per second: neurons x rate x synapses per neuron (events/s)."""
    return s.neurons * s.rate_hz * s.synapses_per_neuron


def dense_macs_per_s(s: Scenario) -> float:
    """MACs per second if every synapse were computed every step (MAC/s)."""
    return s.neurons * s.synapses_per_neuron * s.clock_hz


def spikes_per_s(s: Scenario) -> float:
    """Spikes per second of the whole network (spikes/s)."""
    return s.neurons * s.rate_hz


def synapse_bytes(s: Scenario) -> float:
    """Bytes of all synapses: weights, target indices and delays (B)."""
    return s.synapses * s.bytes_per_synapse


def neuron_bytes(s: Scenario) -> float:
    """Bytes of neuron state and delay ring buffers (B)."""
    return s.neurons * (s.state_bytes + s.ring_slots * s.ring_slot_bytes)


def synaptic_bytes_per_s(s: Scenario) -> float:
    """Memory traffic of synaptic input per second (B/s): the cheaper of two ways.

    Event-driven, each event reads its synapse and updates its target's input
    (``bytes_per_synapse + target_access_bytes``); streaming every synapse every step, as a
    dense matrix-vector product, reads each synapse once a step and keeps the sums on chip.
    At realistic rates the first is far cheaper; at ``rate_hz == clock_hz`` (the seed) the
    second.
    """
    event_driven = events_per_s(s) * (s.bytes_per_synapse + s.target_access_bytes)
    streamed = dense_macs_per_s(s) * s.bytes_per_synapse
    return min(event_driven, streamed)


def update_bytes_per_s(s: Scenario) -> float:
    """Memory traffic of neuron updates per second (B/s): each neuron, each step, reads and
    writes its state and reads and clears one ring-buffer slot."""
    return s.neurons * s.clock_hz * 2.0 * (s.state_bytes + s.ring_slot_bytes)


def bytes_touched_per_s(s: Scenario) -> float:
    """All memory traffic per second (B/s): synaptic input plus neuron updates."""
    return synaptic_bytes_per_s(s) + update_bytes_per_s(s)


def remote_reach(s: Scenario, units: float) -> float:
    """Expected number of *other* units a spike must reach, for ``units`` units (see module)."""
    if units <= 1.0:
        return 0.0
    others = units - 1.0
    remote_synapses = s.synapses_per_neuron * (1.0 - s.locality)
    return others * -math.expm1(-remote_synapses / others)


def interconnect_bytes_per_s(s: Scenario, units: float) -> float:
    """Spike traffic over the network: spikes/s x bytes per spike x units reached (B/s)."""
    return spikes_per_s(s) * s.spike_bytes * remote_reach(s, units)


def ssd_reads_per_s(s: Scenario, units: float, io_bytes: float) -> float:
    """SSD reads per second when synapses live on SSD (I/O per second).

    A spike reads, on each unit it reaches, the contiguous row of its synapses there; a row of
    ``b`` bytes at a random offset touches ``1 + b / io_bytes`` pages on average. Summed over
    the units reached: ``reach + K x bytes_per_synapse / io_bytes`` reads per spike.
    """
    visits = 1.0 + remote_reach(s, units)
    pages = s.synapses_per_neuron * s.bytes_per_synapse / io_bytes
    return spikes_per_s(s) * (visits + pages)
