"""The compiled network: flat arrays the kernels run on, plus a JSON-able manifest."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brainmac.compile.codes import delay_stats
from brainmac.compile.profiles import Profile
from brainmac.compile.rows import partition_synapses

#: Arrays of a compiled network, with their meaning (shapes: P partitions, N neurons,
#: G gain indices, g code bytes, n synapse slots, L table length).
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
    "syn_base": "(P,) int64: first synapse slot of each partition (a multiple of 4; "
                "zero in the neuron layout)",
    "grp_base": "(P,) int64: first code byte of each partition (zero in the neuron layout)",
    "row_syn": "(P, N+1) uint32: first synapse of each row, partition-relative; in the "
               "neuron layout (N, P+1), global (brainmac.compile.rows)",
    "row_grp": "(P, N+1) uint32: first code byte of each row, partition-relative; in the "
               "neuron layout (N, P+1), global",
    "g_code": "(g,) uint8: group codes: count, delay step, gain (brainmac.compile.codes)",
    "s_index": "(7n/4,) uint8: 14-bit targets relative to the partition start",
    "s_value": "(n,) weight type: stored weight (n slots: partitions, or in the neuron "
               "layout each neuron's rows, padded to multiples of 4)",
}


@dataclass
class CompiledNetwork:
    """A network ready to run: arrays (see ARRAY_DOCS) and a manifest.

    The manifest holds the description needed to report and to reopen: profile, dt, seed,
    populations (name, start, size, model, scales), projections and the quantization report,
    and the order of the rows (``row_layout``, :mod:`brainmac.compile.rows`; a store's,
    which does not say, is ``"partition"``).
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
    def layout(self) -> str:
        """The order of the rows in the synapse arrays: "neuron" or "partition"."""
        return self.manifest.get("row_layout", "partition")

    def partition_synapses(self) -> np.ndarray:
        """Synapses of each partition, (P,) int64 (counted once)."""
        if "_partition_synapses" not in self.__dict__:
            self.__dict__["_partition_synapses"] = partition_synapses(self.arrays, self.layout)
        return self.__dict__["_partition_synapses"]

    @property
    def n_synapses(self) -> int:
        return int(self.partition_synapses().sum())

    @property
    def substep_bits(self) -> int:
        """k: spikes carry k-bit offsets, delays are in sub-steps (0: the plain grid)."""
        return int(self.manifest.get("substep_bits", 0))

    def delay_stats(self) -> tuple[int, int, float]:
        """(smallest, largest, mean) delay over the synapses, in steps (sub-steps of
        dt / 2**k with sub-step spike times); (1, 1, 1.0) without synapses. Decoded from
        the group codes once."""
        if "_delay_stats" not in self.__dict__:
            lo, hi, total, n = delay_stats(self.arrays["g_code"])
            self.__dict__["_delay_stats"] = ((int(lo), int(hi), total / n) if n
                                             else (1, 1, 1.0))
        return self.__dict__["_delay_stats"]

    @property
    def min_delay(self) -> int:
        """The fewest whole steps between a spike's step and its arrival step."""
        return self.delay_stats()[0] >> self.substep_bits

    @property
    def max_delay(self) -> int:
        """The most whole steps between a spike's step and its arrival step."""
        top = (1 << self.substep_bits) - 1  # a late offset carries into the next step
        return (self.delay_stats()[1] + top) >> self.substep_bits

    @property
    def populations(self) -> list[dict]:
        return self.manifest["populations"]

    def synapse_bytes(self) -> int:
        """Bytes of all synapse data: per-synapse arrays (padding included), group codes
        and row pointers."""
        names = ("s_index", "s_value", "g_code", "row_syn", "row_grp")
        return int(sum(self.arrays[n].nbytes for n in names))

    def bytes_per_synapse(self) -> float:
        return self.synapse_bytes() / max(self.n_synapses, 1)
