"""The compiled network: flat arrays the kernels run on, plus a JSON-able manifest."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brainmac.compile.profiles import Profile

#: Arrays of a compiled network, with their meaning (shapes: P partitions, N neurons,
#: G gain indices, g groups, n synapses, L table length).
ARRAY_DOCS = {
    "part_start": "(P+1,) int64: first global neuron of each partition",
    "part_pop": "(P,) int64: population index of each partition",
    "model_code": "(P,) int64: 0 lif_delta, 1 lif_exp",
    "coef": "(P, 6) coef type: p22, p21_ex, p21_in, p11_ex, p11_in, constant input",
    "levels": "(P, 3) coef type: threshold, reset, v_min in state units",
    "ref_steps": "(P,) int64: refractory steps",
    "drive_cdf": "(P, L) float64: Poisson inversion table (all ones: no drive)",
    "drive_guide": "(P, 64) int64: guide table into drive_cdf",
    "drive_table": "(P, L) ring type: input of k Poisson events, k = 0 .. L-1",
    "drive_receptor": "(P,) int64: receptor the drive feeds",
    "drive_window": "(P, 2) int64: steps [start, stop) in which the drive is on",
    "gain_value": "(G,) ring type: state units per mantissa unit (2**exponent; 1 in float)",
    "gain_receptor": "(G,) int64: receptor of each gain index",
    "v_init": "(N,) state type: initial membrane potential, relative to E_L",
    "syn_base": "(P,) int64: first synapse of each partition",
    "grp_base": "(P,) int64: first group of each partition",
    "row_syn": "(P, N+1) uint32: first synapse of each row, partition-relative",
    "row_grp": "(P, N+1) uint32: first group of each row, partition-relative",
    "g_delay": "(g,) uint16: delay in steps (sub-steps of dt / 2**substep_bits if > 0)",
    "g_gain": "(g,) uint16: gain index",
    "g_count": "(g,) uint32: synapses per group",
    "s_index": "(n,) uint16: target neuron relative to the partition start",
    "s_value": "(n,) weight type: stored weight",
}


@dataclass
class CompiledNetwork:
    """A network ready to run: arrays (see ARRAY_DOCS) and a manifest.

    The manifest holds the description needed to report and to reopen: profile, dt, seed,
    populations (name, start, size, model, scales), projections and the quantization report.
    """

    profile: Profile
    dt_ms: float
    seed: int
    arrays: dict[str, np.ndarray]
    manifest: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def n_neurons(self) -> int:
        return int(self.arrays["part_start"][-1])

    @property
    def n_partitions(self) -> int:
        return int(self.arrays["part_start"].size - 1)

    @property
    def n_synapses(self) -> int:
        return int(self.arrays["s_index"].size)

    @property
    def substep_bits(self) -> int:
        """k: spikes carry k-bit offsets, delays are in sub-steps (0: the plain grid)."""
        return int(self.manifest.get("substep_bits", 0))

    @property
    def min_delay(self) -> int:
        """The fewest whole steps between a spike's step and its arrival step."""
        d = self.arrays["g_delay"]
        return int(d.min()) >> self.substep_bits if d.size else 1

    @property
    def max_delay(self) -> int:
        """The most whole steps between a spike's step and its arrival step."""
        d = self.arrays["g_delay"]
        top = (1 << self.substep_bits) - 1  # a late offset carries into the next step
        return (int(d.max()) + top) >> self.substep_bits if d.size else 1

    @property
    def populations(self) -> list[dict]:
        return self.manifest["populations"]

    def synapse_bytes(self) -> int:
        """Bytes of all synapse data: per-synapse arrays, groups and row pointers."""
        names = ("s_index", "s_value", "g_delay", "g_gain", "g_count", "row_syn", "row_grp")
        return int(sum(self.arrays[n].nbytes for n in names))

    def bytes_per_synapse(self) -> float:
        return self.synapse_bytes() / max(self.n_synapses, 1)
