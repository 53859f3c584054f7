"""Units of hardware needed per resource, for a GPU, a CPU-node and an SSD-tier design.

For each design and resource, a demand (per second of model time, or bytes held) is divided by
what one unit supplies. Memory per unit is what is left after the per-unit copies of shared
data. Some demands grow with the number of units ``U`` (spike fan-out over the network, SSD
reads), so the design size is the smallest ``U`` at which every resource is met at once; the
resource that needs the most units there is the one that binds.

Designs
-------
GPU
    One unit = one GPU with its share of an 8-GPU server and ``ports_per_gpu`` network ports.
    Synapses, state and ring buffers in GPU memory.
CPU
    One unit = one CPU node. Everything in RAM.
SSD
    One unit = one CPU node with ``ssds_per_node`` NVMe SSDs: synapses on SSD, read per spike;
    state and ring buffers in RAM.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from brainmac.errors import ConfigError
from brainmac.planner import demand as dm
from brainmac.planner import units as un
from brainmac.planner.catalog import Catalog
from brainmac.planner.scenarios import Scenario

COMPUTE_DENSE = "compute, dense (every synapse every step)"
COMPUTE_EVENT = "compute, event-driven"
MEMORY = "memory capacity"
BANDWIDTH = "memory bandwidth"
SSD_CAPACITY = "SSD capacity"
SSD_IOPS = "SSD IOPS"
SSD_BANDWIDTH = "SSD bandwidth"
INTERCONNECT = "interconnect (spike fan-out)"
RESOURCES = (
    COMPUTE_DENSE,
    COMPUTE_EVENT,
    MEMORY,
    BANDWIDTH,
    SSD_CAPACITY,
    SSD_IOPS,
    SSD_BANDWIDTH,
    INTERCONNECT,
)


@dataclass(frozen=True)
class Need:
    """One resource of one design: demand, supply per unit and units needed.

    ``demand(U)`` is in ``unit`` (bytes, bytes/s, ops/s, ...); ``per_unit`` in the same unit.
    ``binds`` is False for figures shown for comparison only (dense compute of an event-driven
    design).
    """

    resource: str
    unit: str
    demand: Callable[[float], float]
    per_unit: float
    binds: bool = True

    def units(self, design_units: float) -> float:
        """Units' worth of this resource needed by a design of ``design_units`` units."""
        return self.demand(design_units) / self.per_unit


@dataclass(frozen=True)
class Design:
    """A sized design.

    Attributes
    ----------
    units : int
        Units needed to meet every binding resource at once.
    binding : str
        The resource that needs the most units at that size.
    needs : dict of str to float
        Units' worth of each resource at the design size (fractional): demand over what one
        unit supplies. For the resources whose demand grows with the number of units (spike
        fan-out over the network, SSD reads) this is at the design's own size; for the others
        it is what the resource alone would need.
    demands : dict of str to (float, str)
        Each demand at the design size, with its unit.
    power_per_unit_w, cost_per_unit_usd : float
        Power (W) and cost (USD) of one unit, with its share of servers and network.
    """

    name: str
    unit: str
    units: int
    binding: str
    needs: dict[str, float]
    demands: dict[str, tuple[float, str]]
    power_per_unit_w: float
    cost_per_unit_usd: float

    @property
    def power_w(self) -> float:
        """Total power (W)."""
        return self.units * self.power_per_unit_w

    @property
    def cost_usd(self) -> float:
        """Total cost (USD)."""
        return self.units * self.cost_per_unit_usd


def _met(need: Need, u: float) -> bool:
    return need.demand(u) <= u * need.per_unit * (1.0 + 1e-12)


def _crossing(need: Need, start: float) -> float:
    """Smallest ``U >= start`` with ``demand(U) <= U * per_unit`` (the gap is convex in U)."""
    if _met(need, start):
        return start
    hi = max(start, need.demand(1e18) / need.per_unit) * 2.0 + 1.0
    if not _met(need, hi):
        raise ConfigError(
            f"{need.resource} can never be met: each unit adds less than it "
            f"demands (per unit {need.per_unit:.3g} {need.unit})"
        )
    lo = start
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _met(need, mid) else (mid, hi)
    return hi


def _whole(units: float) -> int:
    return max(1, math.ceil(units * (1.0 - 1e-12)))


def size(name: str, unit: str, needs: list[Need], power_w: float, cost_usd: float) -> Design:
    """Find the smallest unit count meeting every binding need; name the one that binds."""
    units = 1.0
    for _ in range(100):
        moved = units
        for need in needs:
            if need.binds:
                units = _crossing(need, units)
        if units == moved:
            break
    count = _whole(units)
    worth = {need.resource: need.units(count) for need in needs}
    binding = max((n for n in needs if n.binds), key=lambda n: worth[n.resource]).resource
    demands = {need.resource: (need.demand(count), need.unit) for need in needs}
    return Design(name, unit, count, binding, worth, demands, power_w, cost_usd)


def _memory_need(s: Scenario, held: float, capacity_b: float) -> Need:
    if capacity_b <= s.shared_bytes_per_unit:
        raise ConfigError(
            f"shared_bytes_per_unit {s.shared_bytes_per_unit:.3g} B does not fit "
            f"in one unit's memory ({capacity_b:.3g} B)"
        )
    return Need(MEMORY, "B", _const(held), capacity_b - s.shared_bytes_per_unit)


def _interconnect_need(s: Scenario, port_bytes_per_s: float, ports: float) -> Need:
    return Need(
        INTERCONNECT, "B/s", lambda u: dm.interconnect_bytes_per_s(s, u), port_bytes_per_s * ports
    )


def _const(value: float) -> Callable[[float], float]:
    return lambda _u: value


def gpu_design(s: Scenario, catalog: Catalog, gpu: str | None = None) -> Design:
    """Size the GPU design for scenario ``s`` (``gpu``: catalog name, default the catalog's)."""
    g = catalog.get("gpu", gpu)
    server = catalog.get("gpu_server")
    port = catalog.get("network")
    peak = un.tops_to_ops_per_s(g.int8_dense_tops)
    needs = [
        Need(COMPUTE_DENSE, "op/s", _const(dm.dense_macs_per_s(s) * un.OPS_PER_MAC), peak, False),
        Need(COMPUTE_EVENT, "op/s", _const(dm.events_per_s(s) * un.OPS_PER_MAC), peak),
        _memory_need(s, dm.synapse_bytes(s) + dm.neuron_bytes(s), un.gb_to_bytes(g.memory_gb)),
        Need(
            BANDWIDTH,
            "B/s",
            _const(dm.bytes_touched_per_s(s)),
            un.tbps_to_bytes_per_s(g.memory_bandwidth_tbs),
        ),
        _interconnect_need(s, un.gbit_to_bytes_per_s(port.gbits_per_s), server.ports_per_gpu),
    ]
    power = g.tdp_w + server.power_w / server.gpus_per_server + server.ports_per_gpu * port.power_w
    cost = (
        g.price_usd
        + server.price_usd / server.gpus_per_server
        + server.ports_per_gpu * port.price_usd
    )
    return size("GPU", f"{g.name} GPU", needs, power, cost)


def cpu_design(
    s: Scenario,
    catalog: Catalog,
    cpu: str | None = None,
    events_per_s_per_core: float | None = None,
) -> Design:
    """Size the CPU-node design; ``events_per_s_per_core`` overrides the catalog's estimate."""
    c = catalog.get("cpu_node", cpu)
    port = catalog.get("network")
    rate = events_per_s_per_core or c.events_per_s_per_core
    needs = [
        Need(
            COMPUTE_DENSE,
            "op/s",
            _const(dm.dense_macs_per_s(s) * un.OPS_PER_MAC),
            un.tops_to_ops_per_s(c.int8_dense_tops),
            False,
        ),
        Need(COMPUTE_EVENT, "events/s", _const(dm.events_per_s(s)), c.cores * rate),
        _memory_need(s, dm.synapse_bytes(s) + dm.neuron_bytes(s), un.gb_to_bytes(c.ram_gb)),
        Need(
            BANDWIDTH,
            "B/s",
            _const(dm.bytes_touched_per_s(s)),
            un.gbps_to_bytes_per_s(c.ddr_bandwidth_gbs),
        ),
        _interconnect_need(s, un.gbit_to_bytes_per_s(port.gbits_per_s), c.ports),
    ]
    power = c.power_w + c.ports * port.power_w
    cost = c.price_usd + c.ports * port.price_usd
    return size("CPU", f"{c.name} node", needs, power, cost)


def ssd_design(
    s: Scenario,
    catalog: Catalog,
    cpu: str | None = None,
    ssd: str | None = None,
    ssds_per_node: int = 8,
) -> Design:
    """Size the SSD-tier design: CPU nodes with ``ssds_per_node`` SSDs holding the synapses."""
    if ssds_per_node < 1:
        raise ConfigError(f"ssds_per_node must be >= 1, got {ssds_per_node}")
    c = catalog.get("cpu_node", cpu)
    d = catalog.get("ssd", ssd)
    port = catalog.get("network")
    n = float(ssds_per_node)

    def reads(u: float) -> float:
        return dm.ssd_reads_per_s(s, u, d.io_bytes)

    needs = [
        Need(
            COMPUTE_DENSE,
            "op/s",
            _const(dm.dense_macs_per_s(s) * un.OPS_PER_MAC),
            un.tops_to_ops_per_s(c.int8_dense_tops),
            False,
        ),
        Need(
            COMPUTE_EVENT, "events/s", _const(dm.events_per_s(s)), c.cores * c.events_per_s_per_core
        ),
        _memory_need(s, dm.neuron_bytes(s), un.gb_to_bytes(c.ram_gb)),
        Need(
            BANDWIDTH,
            "B/s",
            lambda u: dm.bytes_touched_per_s(s) + reads(u) * d.io_bytes,
            un.gbps_to_bytes_per_s(c.ddr_bandwidth_gbs),
        ),
        Need(SSD_CAPACITY, "B", _const(dm.synapse_bytes(s)), n * un.tb_to_bytes(d.capacity_tb)),
        Need(SSD_IOPS, "IO/s", reads, n * un.kiops_to_iops(d.random_read_kiops)),
        Need(
            SSD_BANDWIDTH,
            "B/s",
            lambda u: reads(u) * d.io_bytes,
            n * un.gbps_to_bytes_per_s(d.seq_read_gbs),
        ),
        _interconnect_need(s, un.gbit_to_bytes_per_s(port.gbits_per_s), c.ports),
    ]
    power = c.power_w + n * d.power_w + c.ports * port.power_w
    cost = c.price_usd + n * d.price_usd + c.ports * port.price_usd
    return size("SSD", f"{c.name} node + {ssds_per_node} x {d.name}", needs, power, cost)


def all_designs(
    s: Scenario,
    catalog: Catalog,
    gpu: str | None = None,
    cpu: str | None = None,
    ssd: str | None = None,
    ssds_per_node: int = 8,
) -> list[Design]:
    """The GPU, CPU-node and SSD-tier designs for one scenario."""
    return [
        gpu_design(s, catalog, gpu),
        cpu_design(s, catalog, cpu),
        ssd_design(s, catalog, cpu, ssd, ssds_per_node),
    ]
