"""The seed's estimate, reproduced from its own assumptions, then those assumptions relaxed.

The seed (issue 8): 68e9 neurons x 1,000 synapses x 1 kHz = 6.8e16 MAC/s = 68,000 TOPS, or
"17" current GPUs. At 1 byte each the weights are 68 TB, while 3 nodes of 16 80-GB GPUs hold
3,840 GB (~5%), so it needs 20x the hardware: 960 A100s at $25k = $24M, ~$50M in all.

:func:`reproduce` redoes that arithmetic step by step. The "17" is 68,000 / 3,958: the INT8
TOPS of an H100 SXM (or H200) *with 2:4 structured sparsity*. :func:`walk` then sizes a GPU
cluster with the seed's assumptions and replaces them one at a time and cumulatively by
realistic ones:

1. dense GEMM TOPS as if spikes were matrix multiplies: (a) the 2:4-sparse figure, (b) one MAC
   counted as one op where vendors count two, (c) tensor-core throughput for what is, at one
   tick of one brain, a sparse matrix-vector product: each event reads its synapse from memory
   and updates its target, so memory bandwidth limits it;
2. H100 TOPS next to A100 prices;
3. target indices (and delays) left out of the bytes per synapse;
4. every synapse computed every tick, whatever the firing rate;
5. memory holding weights only: no neuron state, ring buffers or per-GPU copies of shared data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from brainmac.planner import demand as dm
from brainmac.planner import units as un
from brainmac.planner.catalog import Catalog
from brainmac.planner.scenarios import PRESETS, REALISTIC_RATE_HZ, Scenario


@dataclass(frozen=True)
class SeedInputs:
    """The seed's own inputs (counts, Hz, bytes, TOPS, GB, USD)."""

    neurons: float = 68e9
    synapses_per_neuron: float = 1000.0
    clock_hz: float = 1000.0
    bytes_per_synapse: float = 1.0
    gpu_tops: float = 3958.0
    nodes: int = 3
    gpus_per_node: int = 16
    gpu_memory_gb: float = 80.0
    gpu_price_usd: float = 25_000.0
    all_in_factor: float = 2.0


#: The seed's figures, as it states them.
CLAIMS = {
    "macs_per_s": 6.8e16,
    "tops": 68_000.0,
    "gpus_for_compute": 17,
    "weight_bytes": 68e12,
    "cluster_memory_gb": 3840.0,
    "memory_fraction_percent": 5,
    "scale_factor": 20,
    "gpus": 960,
    "gpu_cost_usd": 24e6,
    "total_usd": 50e6,
}


@dataclass(frozen=True)
class Step:
    """One line of the seed's arithmetic: key, what, how, value, unit, and the seed's figure."""

    key: str
    label: str
    formula: str
    value: float
    unit: str
    claim: float

    @property
    def matches(self) -> bool:
        """True when the value reproduces the seed's figure exactly."""
        return self.value == self.claim


def _round_sig(value: float, digits: int = 1) -> float:
    return float(f"{value:.{digits}g}")


def reproduce(inputs: SeedInputs = SeedInputs()) -> list[Step]:
    """The seed's arithmetic, step by step, with the seed's own roundings made explicit."""
    i = inputs
    macs = i.neurons * i.synapses_per_neuron * i.clock_hz
    tops = macs / un.TERA  # the seed counts one MAC as one op
    weights = i.neurons * i.synapses_per_neuron * i.bytes_per_synapse
    cluster_gpus = i.nodes * i.gpus_per_node
    cluster_gb = cluster_gpus * i.gpu_memory_gb
    percent = math.floor(100.0 * un.gb_to_bytes(cluster_gb) / weights)
    scale = round(100 / percent)
    gpus = scale * cluster_gpus
    cost = gpus * i.gpu_price_usd
    c = CLAIMS
    return [
        Step(
            "macs_per_s",
            "synaptic MACs per second",
            "68e9 neurons x 1,000 x 1 kHz",
            macs,
            "MAC/s",
            c["macs_per_s"],
        ),
        Step("tops", "as TOPS", "1 MAC counted as 1 op", tops, "TOPS", c["tops"]),
        Step(
            "gpus_for_compute",
            "GPUs for compute",
            f"{tops:,.0f} / {i.gpu_tops:,.0f} TOPS = {tops / i.gpu_tops:.2f}, rounded",
            round(tops / i.gpu_tops),
            "GPUs",
            c["gpus_for_compute"],
        ),
        Step("weight_bytes", "weights", "6.8e13 synapses x 1 B", weights, "B", c["weight_bytes"]),
        Step(
            "cluster_memory_gb",
            "memory of 3 nodes x 16 GPUs",
            "48 x 80 GB",
            cluster_gb,
            "GB",
            c["cluster_memory_gb"],
        ),
        Step(
            "memory_fraction_percent",
            "share of the weights that fits",
            f"3,840 GB / 68 TB = {100 * un.gb_to_bytes(cluster_gb) / weights:.2f}%, rounded down",
            percent,
            "%",
            c["memory_fraction_percent"],
        ),
        Step("scale_factor", "hardware multiple", "1 / 5%", scale, "x", c["scale_factor"]),
        Step("gpus", "GPUs", "20 x 48", gpus, "GPUs", c["gpus"]),
        Step("gpu_cost_usd", "GPU cost", "960 x $25k (A100 price)", cost, "USD", c["gpu_cost_usd"]),
        Step(
            "total_usd",
            "in all",
            "~2x the GPU bill (hosts, network, facility; the seed gives no breakdown)",
            _round_sig(cost * i.all_in_factor),
            "USD",
            c["total_usd"],
        ),
    ]


def gpus_giving(catalog: Catalog, target: int = 17, tops: float = 68_000.0) -> list[str]:
    """Catalog figures for which ``tops`` / figure rounds to ``target`` ("H100 SXM sparse")."""
    found = []
    for name in catalog.names("gpu"):
        gpu = catalog.get("gpu", name)
        for kind in ("dense", "sparse"):
            figure = getattr(gpu, f"int8_{kind}_tops")
            if round(tops / figure) == target:
                found.append(f"{name} INT8 {kind} ({figure:,.0f} TOPS): {tops / figure:.2f}")
    return found


@dataclass(frozen=True)
class Model:
    """The switches of the seed's GPU sizing; the defaults are the seed's assumptions."""

    sparse_tops: bool = True
    ops_per_mac: float = 1.0
    tops_bound: bool = True
    seed_price: bool = True
    weights_only: bool = True
    every_tick: bool = True
    memory_weights_only: bool = True


#: The assumptions in the order they are relaxed: key, field of Model, realistic value, text.
ASSUMPTIONS = (
    (
        "sparse_tops",
        "sparse_tops",
        False,
        "1a. 2:4-sparse TOPS: spikes are not 2:4 sparse; use dense INT8 TOPS",
    ),
    (
        "mac_is_one_op",
        "ops_per_mac",
        float(un.OPS_PER_MAC),
        "1b. 1 MAC = 1 op: vendors count a MAC as 2 ops",
    ),
    (
        "spikes_as_gemm",
        "tops_bound",
        False,
        "1c. spikes as GEMM: a tick is a sparse "
        "matrix-vector product, each event reads its synapse: memory-bandwidth bound",
    ),
    (
        "h100_tops_a100_price",
        "seed_price",
        False,
        "2. H100 TOPS at A100 prices: price the GPU whose TOPS are counted",
    ),
    ("no_indices", "weights_only", False, "3. no target index or delay in bytes/synapse"),
    ("every_tick", "every_tick", False, "4. every synapse every tick: use the mean firing rate"),
    (
        "weights_only_memory",
        "memory_weights_only",
        False,
        "5. memory holds weights only: add "
        "state, ring buffers, per-GPU copies; neuron updates cost bandwidth",
    ),
)


@dataclass(frozen=True)
class Sizing:
    """GPUs for compute (or bandwidth) and for memory (fractional), the GPU count (whole),
    what binds, and the GPU cost (USD)."""

    compute_gpus: float
    memory_gpus: float
    gpus: int
    binding: str
    cost_usd: float


def _scenario(model: Model, realistic: Scenario, inputs: SeedInputs) -> Scenario:
    """The network the model sizes: the seed's, with the relaxed parts from ``realistic``."""
    seed = dict(
        neurons=inputs.neurons,
        synapses_per_neuron=inputs.synapses_per_neuron,
        clock_hz=inputs.clock_hz,
    )
    if model.every_tick:
        seed["rate_hz"] = inputs.clock_hz
    if model.weights_only:
        seed.update(weight_bytes=inputs.bytes_per_synapse, index_bytes=0.0, delay_bytes=0.0)
    return realistic.replace(**seed)


def size_gpus(
    model: Model,
    realistic: Scenario,
    catalog: Catalog,
    gpu: str | None = None,
    inputs: SeedInputs = SeedInputs(),
) -> Sizing:
    """Size the seed's GPU cluster under ``model``; ``realistic`` supplies relaxed values.

    Memory holds the synapses (and, once relaxed, neuron state and ring buffers in the GPU
    memory left after the per-GPU copies of shared data). Compute is the TOPS count, or, once
    relaxed, memory traffic over memory bandwidth (:mod:`brainmac.planner.demand`).
    """
    g = catalog.get("gpu", gpu)
    s = _scenario(model, realistic, inputs)
    held = dm.synapse_bytes(s)
    capacity = un.gb_to_bytes(g.memory_gb)
    if not model.memory_weights_only:
        held += dm.neuron_bytes(s)
        capacity -= s.shared_bytes_per_unit
    if model.tops_bound:
        tops = g.int8_sparse_tops if model.sparse_tops else g.int8_dense_tops
        work = dm.events_per_s(s) * model.ops_per_mac / un.tops_to_ops_per_s(tops)
    else:
        traffic = dm.synaptic_bytes_per_s(s)
        if not model.memory_weights_only:
            traffic += dm.update_bytes_per_s(s)
        work = traffic / un.tbps_to_bytes_per_s(g.memory_bandwidth_tbs)
    memory = held / capacity
    gpus = math.ceil(max(work, memory) * (1 - 1e-12))
    binding = (
        "memory capacity"
        if memory >= work
        else ("compute (TOPS)" if model.tops_bound else "memory bandwidth")
    )
    price = inputs.gpu_price_usd if model.seed_price else g.price_usd
    return Sizing(work, memory, gpus, binding, gpus * price)


@dataclass(frozen=True)
class WalkRow:
    """One assumption: its text and the sizing with it relaxed alone and cumulatively."""

    key: str
    text: str
    alone: Sizing
    cumulative: Sizing


def realistic_seed(**overrides: float | None) -> Scenario:
    """The seed's network with realistic storage and activity (overridable)."""
    base = PRESETS["seed"].replace(
        rate_hz=REALISTIC_RATE_HZ,
        index_bytes=4.0,
        delay_bytes=1.0,
        state_bytes=8.0,
        ring_slots=64.0,
        locality=0.3,
    )
    return base.replace(**overrides)


def walk(
    catalog: Catalog, realistic: Scenario | None = None, gpu: str | None = None
) -> tuple[Sizing, list[WalkRow]]:
    """The seed's sizing, then each assumption relaxed alone and cumulatively.

    Returns
    -------
    baseline : Sizing
        The seed's assumptions, computed without the seed's roundings.
    rows : list of WalkRow
        One per entry of :data:`ASSUMPTIONS`, in order.
    """
    r = realistic if realistic is not None else realistic_seed()
    inputs = SeedInputs(
        neurons=r.neurons, synapses_per_neuron=r.synapses_per_neuron, clock_hz=r.clock_hz
    )
    baseline = size_gpus(Model(), r, catalog, gpu, inputs)
    cumulative = Model()
    rows = []
    for key, name, value, text in ASSUMPTIONS:
        alone = dataclasses.replace(Model(), **{name: value})
        cumulative = dataclasses.replace(cumulative, **{name: value})
        rows.append(
            WalkRow(
                key,
                text,
                size_gpus(alone, r, catalog, gpu, inputs),
                size_gpus(cumulative, r, catalog, gpu, inputs),
            )
        )
    return baseline, rows
