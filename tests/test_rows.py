"""The two row layouts (brainmac.compile.rows) hold the same synapses and give the same
spikes; the neuron layout keeps a spike's rows together and pads each neuron's block."""

import numpy as np
import pytest
from conftest import EXP_PARAMS, small_delta_network, small_exp_network

import brainmac as bm
from brainmac.compile import compile_network, rows
from brainmac.compile.codes import SLOT_BLOCK, target_at
from brainmac.engine import Simulator
from brainmac.errors import ConfigError


def compiled(make, layout, partition_size=64, profile="seed", substep_bits=0):
    return compile_network(make(), profile, 0.1, seed=3, partition_size=partition_size,
                           threads=2, layout=layout, substep_bits=substep_bits)


@pytest.mark.parametrize("make", [small_delta_network, small_exp_network])
@pytest.mark.parametrize("partition_size", [17, 64, 4096])
def test_layouts_decode_to_the_same_synapses(make, partition_size):
    by_neuron = compiled(make, "neuron", partition_size)
    by_partition = compiled(make, "partition", partition_size)
    assert (by_neuron.layout, by_partition.layout) == ("neuron", "partition")
    np.testing.assert_array_equal(by_neuron.partition_synapses(),
                                  by_partition.partition_synapses())
    assert by_neuron.n_synapses == by_partition.n_synapses > 0
    for p in range(by_neuron.n_partitions):
        got = rows.decode(by_neuron.arrays, "neuron", p)
        want = rows.decode(by_partition.arrays, "partition", p)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_neurons_rows_are_one_padded_block():
    """Row (p, j) ends where (p + 1, j) starts; neuron j + 1 starts at the end of neuron
    j's rows rounded up to SLOT_BLOCK slots, and the padding holds weight 0 and target 0."""
    net = compiled(small_exp_network, "neuron", 17)
    table = np.asarray(net.row_syn, np.int64)
    n_parts = net.n_partitions
    assert table.shape == (net.n_neurons, n_parts + 1)
    assert np.all(np.diff(table, axis=1) >= 0)
    ends, starts = table[:-1, -1], table[1:, 0]
    np.testing.assert_array_equal(starts, -(-ends // SLOT_BLOCK) * SLOT_BLOCK)
    assert (ends % SLOT_BLOCK != 0).any(), "no neuron's block is padded"
    for end, start in zip(ends, starts, strict=True):
        for k in range(end, start):
            assert net.s_value[k] == 0 and target_at(net.s_index, k) == 0
    assert -(-table[-1, -1] // SLOT_BLOCK) * SLOT_BLOCK == net.s_value.size
    assert net.s_index.size == 7 * net.s_value.size // 4
    codes = np.asarray(net.row_grp, np.int64)
    np.testing.assert_array_equal(codes[:-1, -1], codes[1:, 0])  # codes: no padding
    assert codes[-1, -1] == net.g_code.size


def test_kernel_tables_point_at_every_row():
    """Entries i and i + 1 of the flat tables, i = p * stride[0] + j * stride[1], bound
    row (p, j) in either layout."""
    for layout in rows.LAYOUTS:
        net = compiled(small_exp_network, layout, 17)
        syn, grp, stride = rows.kernel_tables(net.arrays, layout)
        assert syn.base is not None and grp.base is not None  # views, not copies
        for p in range(net.n_partitions):
            i = p * stride[0] + np.arange(net.n_neurons) * stride[1]
            for flat, kind in ((syn, "syn"), (grp, "grp")):
                first, stop = rows.row_bounds(net.arrays, layout, p, kind)
                base = net.arrays[f"{kind}_base"][p]
                np.testing.assert_array_equal(base + flat[i].astype(np.int64), first)
                np.testing.assert_array_equal(base + flat[i + 1].astype(np.int64), stop)


@pytest.mark.parametrize("profile, substep_bits", [("seed", 0), ("float32", 0), ("seed", 2)])
@pytest.mark.parametrize("threads", [1, 2])
def test_layouts_give_the_same_spikes(profile, substep_bits, threads):
    out = []
    for layout in rows.LAYOUTS:
        sim = Simulator(compiled(small_exp_network, layout, 40, profile, substep_bits),
                        threads=threads)
        sim.run(60.0)
        out.append((*sim.spike_arrays(), sim.v.copy(), sim.events.copy()))
    assert out[0][0].size > 50
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_networks_past_32_bit_positions_keep_the_partition_layout(monkeypatch):
    monkeypatch.setattr(rows, "MAX_POSITION", 100)
    net = compiled(small_delta_network, "neuron")
    assert net.n_partitions > 1
    assert net.layout == "partition" and net.row_syn.shape == (net.n_partitions,
                                                                net.n_neurons + 1)


def test_one_partition_keeps_the_partition_layout():
    """One partition's rows are in neuron order already: no padding, no extra table row."""
    net = bm.Network()
    a = net.population("A", 300, "lif_exp", EXP_PARAMS)
    net.connect(a, a, bm.FixedIndegree(20), 87.8, 1.5)
    one = compile_network(net, layout="neuron")
    assert one.n_partitions == 1 and one.layout == "partition"


@pytest.mark.parametrize("owned", [(0, 1), (1, 4), (2, 5)])
def test_the_exchange_sees_the_same_targets_in_both_layouts(owned):
    """alltoallv sends a rank only the spikes of neurons with targets on its partitions."""
    from brainmac.parallel.exchange import neurons_with_targets

    masks = []
    for layout in rows.LAYOUTS:
        net = compiled(small_delta_network, layout, 40)
        masks.append(neurons_with_targets(net.arrays, owned, net.layout))
    np.testing.assert_array_equal(*masks)
    assert masks[0].any()
    if owned == (0, 1):  # one partition of 40 neurons: not every neuron reaches it
        assert masks[0].sum() < masks[0].size


def test_the_cli_offers_the_layouts_of_the_compiler():
    from brainmac.commands.options import ROW_LAYOUTS

    assert ROW_LAYOUTS == rows.LAYOUTS


def test_brainmac_run_compiles_the_layout_asked_for(tmp_path, monkeypatch):
    """``brainmac run --row-layout partition`` reaches compile_network; the default is the
    neuron layout."""
    import brainmac.runner as runner
    from brainmac.cli import main

    seen = []
    real = runner.compile_network

    def spy(*args, **kwargs):
        net = real(*args, **kwargs)
        seen.append(net.layout)
        return net

    monkeypatch.setattr(runner, "compile_network", spy)
    for extra in ([], ["--row-layout", "partition"]):
        argv = ["run", "brunel", "--scale", "0.02", "--duration", "20ms", "--warmup", "0ms",
                "--threads", "1", "--quiet", "--out", str(tmp_path / f"o{len(seen)}"), *extra]
        assert main(argv) == 0
    assert seen == ["neuron", "partition"]


def test_an_unknown_layout_is_refused():
    with pytest.raises(ConfigError, match="unknown row layout 'rows'; choose one of"):
        compile_network(small_delta_network(), layout="rows")
