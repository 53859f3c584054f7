"""Tests of the hardware planner (``brainmac plan``): fast, no engine needed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from brainmac.cli import main as cli_main
from brainmac.commands.plan import PARAMETER_FLAGS
from brainmac.errors import ConfigError
from brainmac.planner import calibration, designs, seed
from brainmac.planner import demand as dm
from brainmac.planner import units as un
from brainmac.planner.catalog import KINDS, figure_names, load_catalog
from brainmac.planner.plan import make_plan, to_dict
from brainmac.planner.scenarios import PARAMETERS, PRESETS, preset

EXAMPLE_BENCH = Path(calibration.__file__).with_name("example_bench.json")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# --- units and conversions ---------------------------------------------------------------------


def test_conversions():
    assert un.gbit_to_bytes_per_s(400) == 50e9
    assert un.tb_to_bytes(68) == 68e12
    assert un.gb_to_bytes(80) == 80e9
    assert un.gib_to_bytes(1) == 2**30
    assert un.tbps_to_bytes_per_s(3.35) == pytest.approx(3.35e12)
    assert un.gbps_to_bytes_per_s(921.6) == pytest.approx(921.6e9)
    assert un.tops_to_ops_per_s(1979) == pytest.approx(1.979e15)
    assert un.tops_to_macs_per_s(3958) == pytest.approx(1.979e15)
    assert un.tops_to_macs_per_s(3958, ops_per_mac=1) == pytest.approx(3.958e15)
    assert un.kiops_to_iops(3300) == 3.3e6


def test_formatting():
    assert un.si(6.8e16, "MAC/s") == "68 PMAC/s"
    assert un.si(3.84e12, "B") == "3.84 TB"
    assert un.si(0.5, "W") == "0.5 W"
    assert un.usd(2.4e7) == "$24M"
    assert un.usd(25_000) == "$25k"
    assert un.usd(2.5e9) == "$2.5B"


# --- the seed's arithmetic -----------------------------------------------------------------------


def test_seed_reproduced_exactly():
    steps = {step.key: step for step in seed.reproduce()}
    assert steps["macs_per_s"].value == 6.8e16
    assert steps["tops"].value == 68_000
    assert steps["gpus_for_compute"].value == 17
    assert steps["weight_bytes"].value == 68e12
    assert steps["cluster_memory_gb"].value == 3840
    assert steps["memory_fraction_percent"].value == 5
    assert steps["scale_factor"].value == 20
    assert steps["gpus"].value == 960
    assert steps["gpu_cost_usd"].value == 24e6
    assert steps["total_usd"].value == 50e6
    assert all(step.matches for step in steps.values())
    assert set(steps) == set(seed.CLAIMS)


def test_seed_reproduction_follows_its_inputs():
    # With dense INT8 TOPS (1,979) the seed's own method gives 34 GPUs, not 17.
    steps = {s.key: s for s in seed.reproduce(seed.SeedInputs(gpu_tops=1979.0))}
    assert steps["gpus_for_compute"].value == 34
    assert not steps["gpus_for_compute"].matches
    cheaper = {s.key: s for s in seed.reproduce(seed.SeedInputs(gpu_price_usd=15_000.0))}
    assert cheaper["gpu_cost_usd"].value == 960 * 15_000
    assert not cheaper["gpu_cost_usd"].matches


def test_which_figure_gives_17(catalog):
    found = seed.gpus_giving(catalog)
    assert any(text.startswith("H100 SXM INT8 sparse (3,958 TOPS)") for text in found)
    assert not any("dense" in text for text in found)
    assert not any(text.startswith("A100") for text in found)


def test_seed_walk(catalog):
    baseline, rows = seed.walk(catalog)
    assert baseline.gpus == 850  # 68 TB / 80 GB, without the seed's rounding to 20 x 48
    assert baseline.binding == "memory capacity"
    assert baseline.cost_usd == 850 * 25_000
    assert baseline.compute_gpus == pytest.approx(68_000 / 3958)
    by_key = {row.key: row for row in rows}
    assert by_key["sparse_tops"].cumulative.compute_gpus == pytest.approx(68_000 / 1979)
    assert by_key["mac_is_one_op"].cumulative.compute_gpus == pytest.approx(2 * 68_000 / 1979)
    gemv = by_key["spikes_as_gemm"].alone
    assert gemv.binding == "memory bandwidth"
    assert gemv.gpus == math.ceil(6.8e16 / 3.35e12)
    assert by_key["h100_tops_a100_price"].alone.cost_usd == 850 * 30_000
    assert by_key["no_indices"].alone.gpus == math.ceil(68e12 * 6 / 80e9)
    assert by_key["every_tick"].alone.gpus == 850  # memory binds: the rate alone changes nothing
    final = rows[-1].cumulative
    assert final.binding == "memory capacity"
    assert final.gpus > by_key["no_indices"].alone.gpus
    assert [row.key for row in rows] == [a[0] for a in seed.ASSUMPTIONS]


# --- scenarios and demand -----------------------------------------------------------------------


def test_presets():
    assert dm.dense_macs_per_s(PRESETS["seed"]) == 6.8e16
    assert dm.events_per_s(PRESETS["seed"]) == 6.8e16
    assert PRESETS["human-azevedo"].neurons == 86e9
    neo = PRESETS["neocortex"]
    assert neo.synapses == pytest.approx(1.12e14)
    micro = PRESETS["microcircuit"]
    assert micro.neurons == 77169
    assert micro.synapses == pytest.approx(2.9888e8, rel=1e-4)
    assert 1.0 < micro.rate_hz < 10.0


def test_demand_formulas():
    s = preset("neocortex", rate_hz=2.0, index_bytes=4.0, delay_bytes=1.0)
    assert dm.events_per_s(s) == pytest.approx(16e9 * 2 * 7000)
    assert dm.synapse_bytes(s) == pytest.approx(16e9 * 7000 * 6)
    event_driven = dm.events_per_s(s) * (6 + s.target_access_bytes)
    assert dm.synaptic_bytes_per_s(s) == pytest.approx(event_driven)
    dense = preset("seed")  # every synapse every tick: streaming is cheaper than scattering
    assert dm.synaptic_bytes_per_s(dense) == pytest.approx(6.8e16 * 1)


def test_remote_reach_limits():
    s = preset("neocortex", locality=0.0)
    assert dm.remote_reach(s, 1) == 0.0
    assert dm.remote_reach(s, 11) == pytest.approx(10, rel=1e-6)  # U << K: every unit
    assert dm.remote_reach(s, 1e9) == pytest.approx(7000, rel=1e-3)  # U >> K: K units
    local = preset("neocortex", locality=0.5)
    assert dm.remote_reach(local, 1e9) == pytest.approx(3500, rel=1e-3)


# --- designs ------------------------------------------------------------------------------------


def test_memory_units(catalog):
    s = preset("neocortex")
    gpu = designs.gpu_design(s, catalog)
    held = dm.synapse_bytes(s) + dm.neuron_bytes(s)
    assert gpu.needs[designs.MEMORY] == pytest.approx(held / (80e9 - 1e9))
    assert gpu.units >= math.ceil(gpu.needs[designs.MEMORY])


def test_design_size_meets_every_binding_resource(catalog):
    for name in PRESETS:
        for d in designs.all_designs(preset(name), catalog):
            assert d.binding in d.needs
            assert d.needs[d.binding] <= d.units + 1e-6
            assert d.needs[d.binding] > d.units - 1
            for resource, worth in d.needs.items():
                if resource != designs.COMPUTE_DENSE:
                    assert worth <= d.units * (1 + 1e-9), (name, d.name, resource)


def test_microcircuit_fits_one_unit(catalog):
    gpu, cpu, ssd = designs.all_designs(preset("microcircuit"), catalog)
    assert gpu.units == cpu.units == ssd.units == 1
    assert gpu.cost_usd == pytest.approx(30_000 + 70_000 / 8 + 5_000)
    assert gpu.power_w == pytest.approx(700 + 4600 / 8 + 60)


@pytest.mark.parametrize("name", ["neocortex", "human-azevedo"])
def test_more_rate_more_units(catalog, name):
    low, high = preset(name, rate_hz=1.0), preset(name, rate_hz=8.0)
    for make in (designs.gpu_design, designs.cpu_design, designs.ssd_design):
        a, b = make(low, catalog), make(high, catalog)
        assert b.needs[designs.COMPUTE_EVENT] > a.needs[designs.COMPUTE_EVENT]
        assert b.needs[designs.BANDWIDTH] > a.needs[designs.BANDWIDTH]
        assert b.units >= a.units
    assert designs.cpu_design(high, catalog).units > designs.cpu_design(low, catalog).units


def test_more_synapses_more_memory_units(catalog):
    small, large = preset("neocortex", synapses_per_neuron=1000), preset("neocortex")
    for make in (designs.gpu_design, designs.cpu_design):
        assert (
            make(large, catalog).needs[designs.MEMORY] > make(small, catalog).needs[designs.MEMORY]
        )
    ssd_small = designs.ssd_design(small, catalog)
    ssd_large = designs.ssd_design(large, catalog)
    assert ssd_large.needs[designs.SSD_CAPACITY] > ssd_small.needs[designs.SSD_CAPACITY]


def test_bigger_gpu_fewer_memory_units(catalog):
    s = preset("neocortex")
    h100 = designs.gpu_design(s, catalog, "H100 SXM")
    b200 = designs.gpu_design(s, catalog, "b200")  # names are case-insensitive
    assert b200.needs[designs.MEMORY] < h100.needs[designs.MEMORY]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"neurons": -1.0}, "neurons"),
        ({"neurons": 0.0}, "neurons"),
        ({"rate_hz": 0.0}, "rate_hz"),
        ({"clock_hz": -1000.0}, "clock_hz"),
        ({"weight_bytes": 0.0}, "weight_bytes"),
        ({"index_bytes": -1.0}, "index_bytes"),
        ({"rate_hz": 2000.0}, "exceeds clock_hz"),
        ({"locality": 1.0}, "locality"),
        ({"synapses_per_neuron": float("nan")}, "finite"),
    ],
)
def test_bad_scenario_values(change, word):
    with pytest.raises(ConfigError, match=word):
        preset("neocortex", **change)


def test_unknown_names(catalog):
    with pytest.raises(ConfigError, match="unknown scenario 'mouse'; known: seed"):
        preset("mouse")
    with pytest.raises(ConfigError, match=r"unknown gpu 'Z100'.*H100 SXM"):
        catalog.get("gpu", "Z100")
    with pytest.raises(ConfigError, match="unknown hardware kind"):
        catalog.get("tpu")


def test_shared_bytes_larger_than_memory(catalog):
    with pytest.raises(ConfigError, match="does not fit"):
        designs.gpu_design(preset("neocortex", shared_bytes_per_unit=100e9), catalog)


# --- catalog ------------------------------------------------------------------------------------


def test_packaged_catalog_every_figure_has_a_source(catalog):
    for kind in ("gpu", "gpu_server", "cpu_node", "ssd", "network"):
        assert catalog.names(kind), kind
        for name in catalog.names(kind):
            entry = catalog.get(kind, name)
            missing = set(figure_names(KINDS[kind])) - set(entry.sources)
            assert not missing, (kind, name, missing)
    for name in ("A100 80GB", "H100 SXM", "H200", "B200"):
        assert (
            catalog.get("gpu", name).int8_sparse_tops
            == 2 * catalog.get("gpu", name).int8_dense_tops
        )
    assert catalog.get("network").gbits_per_s == 400


def test_user_catalog_adds_and_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[gpu."H100 SXM"]\nprice_usd = 20000\nsource = "my quote"\n\n'
        '[gpu."X1"]\nint8_dense_tops = 100\nint8_sparse_tops = 200\nmemory_gb = 1000\n'
        "memory_bandwidth_tbs = 1\nnvlink_gbs = 100\ntdp_w = 300\nprice_usd = 1000\n"
        'source = "made up for a test"\n'
    )
    cat = load_catalog(path)
    h100 = cat.get("gpu", "H100 SXM")
    assert h100.price_usd == 20000
    assert h100.memory_gb == 80  # untouched fields keep the packaged value
    assert h100.sources["price_usd"] == "my quote"
    assert cat.get("gpu", "x1").memory_gb == 1000
    s = preset("neocortex")
    big = designs.gpu_design(s, cat, "X1")
    assert big.needs[designs.MEMORY] < designs.gpu_design(s, cat).needs[designs.MEMORY]


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ('[gpu."H100 SXM"\nprice_usd = 1\n', "not valid TOML"),
        ('[gpu."H100 SXM"]\nprice_usd = -5\n', "field 'price_usd' must be a positive"),
        ('[gpu."H100 SXM"]\nprice_usd = "cheap"\n', "field 'price_usd' must be a number"),
        ('[gpu."H100 SXM"]\nprice_usd = true\n', "field 'price_usd' must be a number"),
        ('[gpu."H100 SXM"]\nmemory_gbs = 80\n', "unknown field 'memory_gbs'"),
        ('[gpu."New"]\nprice_usd = 1\n', "gpu 'New': missing field"),
        ('[tpu."v5"]\nprice_usd = 1\n', "unknown kind 'tpu'"),
        ('[defaults]\ngpu = "Z100"\n', "unknown gpu 'Z100'"),
    ],
)
def test_malformed_catalog(tmp_path, text, word):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=word) as err:
        load_catalog(path)
    assert str(path) in str(err.value) or "Z100" in str(err.value)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_catalog(tmp_path / "absent.toml")


# --- calibration --------------------------------------------------------------------------------


def _bench_dict():
    return json.loads(EXAMPLE_BENCH.read_text())


def test_example_bench_is_marked_and_valid():
    bench = calibration.load_bench(EXAMPLE_BENCH)
    assert "EXAMPLE" in bench.source and "NOT A MEASUREMENT" in bench.source
    assert bench.cores == 16
    assert bench.synaptic_events_per_s_per_core == 2.0e7


def test_calibrated_cores_and_nodes(catalog):
    bench = calibration.load_bench(EXAMPLE_BENCH)
    s = preset("human-azevedo")
    core_s = 86e9 * 2 * 1000 / 2.0e7 + 86e9 * 1000 * 5.0e-9
    assert calibration.core_seconds_per_model_second(s, bench) == pytest.approx(core_s)
    result = calibration.calibrate(s, bench, catalog)
    assert result.design.binding == designs.COMPUTE_EVENT
    assert result.design.units == math.ceil(core_s / 192)
    assert result.design.needs[designs.MEMORY] == pytest.approx(
        (86e9 * 1000 * 6.0 + dm.neuron_bytes(s)) / (1536e9 - 1e9)
    )
    assert result.rtf_on_bench_machine == pytest.approx(core_s / 16)
    text = calibration.sentence(s, result)
    assert "real time for human-azevedo needs" in text and "does not fit" in text


def test_calibrated_faster_engine_fewer_nodes(catalog):
    slow = calibration.parse_bench(_bench_dict())
    fast = calibration.parse_bench(_bench_dict() | {"synaptic_events_per_s_per_core": 1e8})
    s = preset("neocortex")
    assert (
        calibration.calibrate(s, fast, catalog).design.units
        < calibration.calibrate(s, slow, catalog).design.units
    )


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"schema": "brainmac-bench/2"}, "schema must be"),
        ({"synaptic_events_per_s_per_core": -1.0}, "synaptic_events_per_s_per_core"),
        ({"bytes_per_synapse": 0}, "bytes_per_synapse"),
        ({"bytes_per_synapse": "3"}, "must be a number"),
        ({"step_overhead_s_per_neuron": -1e-9}, "step_overhead_s_per_neuron"),
        ({"machine": {"cores": 2.5, "ram_gib": 8.0, "cpu": "x"}}, "'cores' must be an integer"),
        ({"machine": {"cores": 4, "cpu": "x"}}, "missing key 'ram_gib'"),
        ({"extra": 1}, "unknown key 'extra'"),
        ({"source": ""}, "'source' must be non-empty"),
    ],
)
def test_bad_bench(change, word):
    with pytest.raises(ConfigError, match=word):
        calibration.parse_bench(_bench_dict() | change)


def test_bench_not_json(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        calibration.load_bench(path)


def test_zero_step_overhead_allowed():
    bench = calibration.parse_bench(_bench_dict() | {"step_overhead_s_per_neuron": 0})
    assert bench.step_overhead_s_per_neuron == 0.0


# --- plan, JSON and CLI --------------------------------------------------------------------------


def test_flags_cover_every_parameter():
    assert {dest for _, dest, _ in PARAMETER_FLAGS} == set(PARAMETERS)


def test_plan_json_round_trip():
    data = to_dict(make_plan("seed", calibrate=EXAMPLE_BENCH))
    text = json.dumps(data)
    back = json.loads(text)
    assert back["schema"] == "brainmac-plan/1"
    assert [d["design"] for d in back["designs"]] == ["GPU", "CPU", "SSD"]
    assert all(step["matches"] for step in back["seed"]["reproduction"])
    assert back["seed"]["realistic_scenario"]["parameters"]["rate_hz"] == 2.0
    assert back["calibration"]["design"]["units"] >= 1
    assert back["hardware"]["gpu"]["name"] == "H100 SXM"


def test_overrides_reach_realistic_seed():
    plan = make_plan("seed", {"rate_hz": 5.0, "neurons": None})
    assert plan.seed.realistic.rate_hz == 5.0
    assert plan.scenario.rate_hz == 5.0


def test_cli_seed(capsys):
    assert cli_main(["plan", "seed"]) == 0
    out = capsys.readouterr().out
    for text in ("68,000 TOPS", "960 GPUs", "$24M", "$50M", "3,958", "H100 SXM INT8 sparse"):
        assert text in out, text
    assert "DIFFERS" not in out


def test_cli_microcircuit_json(capsys):
    assert cli_main(["plan", "microcircuit", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"]["name"] == "microcircuit"
    assert data["designs"][0]["units"] == 1
    assert data["seed"] is None


def test_cli_plot_and_calibrate(tmp_path, capsys):
    png = tmp_path / "plan.png"
    argv = ["plan", "neocortex", "--calibrate", str(EXAMPLE_BENCH), "--plot", str(png)]
    assert cli_main(argv) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "real time for neocortex needs" in capsys.readouterr().out.replace("\n", " ")


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["plan", "seed", "--neurons", "-5"], "neurons"),
        (["plan", "seed", "--rate", "0"], "rate_hz"),
        (["plan", "seed", "--gpu", "Z100"], "unknown gpu 'Z100'"),
        (["plan", "mouse"], "unknown scenario"),
        (["plan", "neocortex", "--ssds-per-node", "0"], "ssds_per_node"),
    ],
)
def test_cli_bad_input(capsys, argv, word):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "brainmac plan: error:" in err and word in err
    assert len(err.strip().splitlines()) == 1


def test_cli_malformed_catalog(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[ssd."Mine"]\ncapacity_tb = 0\n')
    assert cli_main(["plan", "neocortex", "--catalog", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "capacity_tb" in err
