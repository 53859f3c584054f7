"""The hardware catalog: GPUs, GPU servers, CPU nodes, SSDs and network ports, with sources.

The figures live in ``catalog.toml`` next to this module, one table per entry
(``[gpu."H100 SXM"]``) and a ``sources`` table per entry that says where each figure comes
from. ``load_catalog(path)`` reads that file and, if given, a user file of the same shape whose
entries are added or override fields of a packaged entry. Every figure is validated on load:
a malformed file raises :class:`~brainmac.errors.ConfigError` naming the file, the entry and the
field.

Units are in the field names (see ``catalog.toml``); :mod:`brainmac.planner.units` converts
them to base units.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from brainmac.errors import ConfigError

PACKAGED = "catalog.toml"


@dataclass(frozen=True)
class Gpu:
    """One GPU. Units: TOPS (1 MAC = 2 ops), GB, TB/s, GB/s, W, USD."""

    name: str
    int8_dense_tops: float
    int8_sparse_tops: float
    memory_gb: float
    memory_bandwidth_tbs: float
    nvlink_gbs: float
    tdp_w: float
    price_usd: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class GpuServer:
    """The non-GPU part of a GPU server: host CPUs, RAM, baseboard (W, USD per server)."""

    name: str
    gpus_per_server: float
    power_w: float
    price_usd: float
    ports_per_gpu: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CpuNode:
    """One CPU node. Units: cores, TOPS, GB/s, GB, W, USD, synaptic events/s per core, ports."""

    name: str
    cores: float
    int8_dense_tops: float
    ddr_bandwidth_gbs: float
    ram_gb: float
    power_w: float
    price_usd: float
    events_per_s_per_core: float
    ports: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Ssd:
    """One NVMe SSD. Units: TB, GB/s, thousands of IOPS, bytes per I/O, W, USD."""

    name: str
    capacity_tb: float
    seq_read_gbs: float
    random_read_gbs: float
    random_read_kiops: float
    io_bytes: float
    power_w: float
    price_usd: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class NetworkPort:
    """One network end point: adapter, cable and switch share. Units: Gb/s, W, USD."""

    name: str
    gbits_per_s: float
    power_w: float
    price_usd: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)


KINDS: dict[str, type] = {
    "gpu": Gpu,
    "gpu_server": GpuServer,
    "cpu_node": CpuNode,
    "ssd": Ssd,
    "network": NetworkPort,
}


def figure_names(cls: type) -> tuple[str, ...]:
    """The numeric fields of an entry class, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("name", "sources"))


@dataclass(frozen=True)
class Catalog:
    """Entries by kind and name, and the default entry of each kind.

    Attributes
    ----------
    entries : dict
        ``entries[kind][name]`` is a :class:`Gpu`, :class:`GpuServer`, :class:`CpuNode`,
        :class:`Ssd` or :class:`NetworkPort`.
    defaults : dict
        ``defaults[kind]`` is the name used when the command line names none.
    """

    entries: dict[str, dict[str, Any]]
    defaults: dict[str, str]

    def get(self, kind: str, name: str | None = None) -> Any:
        """The entry of ``kind`` called ``name`` (case-insensitive), or the default one."""
        if kind not in self.entries:
            raise ConfigError(f"unknown hardware kind {kind!r}; known: {', '.join(KINDS)}")
        chosen = self.defaults.get(kind) if name is None else name
        by_lower = {key.lower(): value for key, value in self.entries[kind].items()}
        if chosen is None or chosen.lower() not in by_lower:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise ConfigError(f"unknown {kind} {chosen!r} in the hardware catalog; known: {known}")
        return by_lower[chosen.lower()]

    def names(self, kind: str) -> list[str]:
        """Entry names of one kind, sorted."""
        return sorted(self.entries.get(kind, {}))


def _check_number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: field {key!r} must be a number, got {value!r}")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{where}: field {key!r} must be a positive finite number, got {value!r}")
    return float(value)


def _check_sources(where: str, raw: Any, figures: tuple[str, ...]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'sources' must be a table of field = \"text\"")
    for key, text in raw.items():
        if key not in figures:
            raise ConfigError(f"{where}: 'sources' names unknown field {key!r}")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: source of field {key!r} must be non-empty text")
    return dict(raw)


def _entry(kind: str, name: str, table: Any, base: Any, origin: str) -> Any:
    """Build and validate one entry, taking unset fields from ``base`` (an override)."""
    cls = KINDS[kind]
    where = f"catalog {origin}: {kind} {name!r}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of fields")
    figures = figure_names(cls)
    unknown = sorted(set(table) - set(figures) - {"sources", "source"})
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; known: {', '.join(figures)}")
    values: dict[str, float] = {}
    for key in figures:
        if key in table:
            values[key] = _check_number(where, key, table[key])
        elif base is not None:
            values[key] = getattr(base, key)
        else:
            raise ConfigError(f"{where}: missing field {key!r}")
    sources = dict(base.sources) if base is not None else {}
    sources.update(_check_sources(where, table.get("sources"), figures))
    if "source" in table:
        text = table["source"]
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: field 'source' must be non-empty text")
        sources.update({key: text for key in figures if key in table})
    return cls(name=name, sources=sources, **values)


def _merge(catalog: Catalog, data: dict[str, Any], origin: str) -> Catalog:
    entries = {kind: dict(items) for kind, items in catalog.entries.items()}
    defaults = dict(catalog.defaults)
    for kind, items in data.items():
        if kind == "defaults":
            if not isinstance(items, dict):
                raise ConfigError(f"catalog {origin}: 'defaults' must be a table kind = \"name\"")
            defaults.update({str(k): str(v) for k, v in items.items()})
            continue
        if kind not in KINDS:
            raise ConfigError(f"catalog {origin}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        if not isinstance(items, dict):
            raise ConfigError(f'catalog {origin}: {kind!r} must hold tables [{kind}."name"]')
        by_lower = {key.lower(): key for key in entries.setdefault(kind, {})}
        for name, table in items.items():
            existing = by_lower.get(name.lower())
            base = entries[kind].pop(existing) if existing else None
            entries[kind][name] = _entry(kind, name, table, base, origin)
    merged = Catalog(entries, defaults)
    for kind, name in defaults.items():
        if kind not in KINDS:
            raise ConfigError(f"catalog {origin}: defaults name unknown kind {kind!r}")
        merged.get(kind, name)
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"catalog {path}: not valid TOML: {err}") from None
    except FileNotFoundError:
        raise ConfigError(f"catalog {path}: no such file") from None


def load_catalog(extra: str | Path | None = None) -> Catalog:
    """Read the packaged catalog and, if given, a user catalog that adds or overrides entries.

    Parameters
    ----------
    extra : str or Path, optional
        A TOML file shaped like ``catalog.toml``. An entry with the kind and name (any case) of
        a packaged one overrides only the fields it sets; a new name must set every field.

    Returns
    -------
    Catalog

    Raises
    ------
    ConfigError
        If a file is not valid TOML, or an entry has an unknown kind or field, a missing,
        non-numeric, zero or negative figure.
    """
    packaged = resources.files("brainmac.planner").joinpath(PACKAGED)
    with resources.as_file(packaged) as path:
        catalog = _merge(Catalog({}, {}), _read_toml(path), PACKAGED)
    if extra is not None:
        catalog = _merge(catalog, _read_toml(Path(extra)), str(extra))
    return catalog
