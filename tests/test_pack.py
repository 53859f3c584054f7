"""The partition packer against a plain NumPy sort (lexsort), on random synapse sets."""

import numpy as np
import pytest

from brainmac.compile import pack
from brainmac.compile.pack import pack_partition
from brainmac.errors import CapacityError


def reference_codes(delays, gains):
    """The group codes of one row (already sorted by (gain, delay)), from the layout's
    definition in brainmac.compile.codes, written out plainly."""
    out, s, gain, delay = [], 0, None, 0
    while s < len(delays):
        if gains[s] != gain:
            gain, delay = int(gains[s]), 0
            out += [0, gain & 0xFF, gain >> 8]
        step = int(delays[s]) - delay
        while step > 15:
            h = max(h for h in range(1, 16) if 2 ** (h + 3) <= step)
            out.append(h << 4)
            step -= 2 ** (h + 3)
        delay = int(delays[s])
        e = s
        while e < len(delays) and e - s < 15 and gains[e] == gain and delays[e] == delay:
            e += 1
        out.append((e - s) | step << 4)
        s = e
    return out


def reference_pack(pre, post, value, delay, gain, n_neurons, n_gains):
    """Stable sort by (pre, gain, delay); codes per row; targets as 14-bit fields."""
    order = np.lexsort((np.arange(pre.size), delay, gain, pre))
    pre_s, delay_s, gain_s = pre[order], delay[order], gain[order]
    rows = np.arange(n_neurons + 1)
    row_syn = np.searchsorted(pre_s, rows)
    codes, row_grp = [], [0]
    for i in range(n_neurons):
        a, b = row_syn[i], row_syn[i + 1]
        codes += reference_codes(delay_s[a:b], gain_s[a:b])
        row_grp.append(len(codes))
    slots = -(-pre.size // 4) * 4
    bits = "".join(format(int(t), "014b")[::-1] for t in post[order]) + "0" * 14 * (slots
                                                                                  - pre.size)
    s_index = np.array([int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8)],
                       np.uint8)
    s_value = np.zeros(slots, value.dtype)
    s_value[:pre.size] = value[order]
    return {"row_syn": row_syn.astype(np.uint32), "row_grp": np.array(row_grp, np.uint32),
            "g_code": np.array(codes, np.uint8), "s_index": s_index, "s_value": s_value}


def random_synapses(rng, n, n_neurons, n_gains, max_delay, uniform_rows, value_dtype):
    pre = rng.integers(0, n_neurons, n).astype(np.int32)
    if uniform_rows:  # every row one (delay, gain), as a Brunel partition
        delay = (pre % max_delay + 1).astype(np.uint16)
        gain = (pre % n_gains).astype(np.uint16)
    else:
        delay = rng.integers(1, max_delay + 1, n).astype(np.uint16)
        gain = rng.integers(0, n_gains, n).astype(np.uint16)
    post = rng.integers(0, 16384, n).astype(np.uint16)
    if uniform_rows and n:
        delay[0] = max_delay
    value = (rng.integers(-127, 128, n) if np.dtype(value_dtype).kind == "i"
             else rng.normal(0.0, 1.0, n)).astype(value_dtype)
    return pre, post, value, delay, gain


@pytest.mark.parametrize("n, n_neurons, uniform_rows, value_dtype, n_gains, max_delay", [
    (0, 10, False, np.int8, 7, 40),
    (1, 1, True, np.int8, 7, 40),
    (5_000, 300, False, np.int8, 7, 40),
    (5_001, 300, True, np.float64, 7, 40),  # three padding slots
    (5_002, 300, False, np.int8, 7, 40),  # two
    (20_000, 500, False, np.int16, 7, 40),  # two-pass row sort (cache-sized buckets)
    (20_001, 500, True, np.int8, 7, 40),
    (10_000, 70, False, np.float32, 7, 40),  # long rows: groups of 15 and more
    (3_000, 40, False, np.int8, 300, 3_000),  # two-byte gains, long delay steps
    (3_000, 40, True, np.int8, 300, 65_535),  # the longest delay: a chain of long steps
])
def test_pack_equals_the_layouts_definition(n, n_neurons, uniform_rows, value_dtype, n_gains,
                                            max_delay):
    rng = np.random.default_rng(n + n_neurons)
    columns = random_synapses(rng, n, n_neurons, n_gains, max_delay, uniform_rows,
                              value_dtype)
    got = pack_partition(list(columns), n_neurons, n_gains)
    assert got.n_synapses == n
    for name, want in reference_pack(*columns, n_neurons, n_gains).items():
        have = getattr(got, name)
        assert have.dtype == want.dtype, name
        np.testing.assert_array_equal(have, want, err_msg=name)


def test_pack_with_a_key_range_too_wide_for_counting(monkeypatch):
    monkeypatch.setattr(pack, "MAX_KEY_BUCKETS", 2)
    rng = np.random.default_rng(3)
    columns = random_synapses(rng, 3_000, 50, 5, 9, False, np.int8)
    got = pack_partition(list(columns), 50, 5)
    for name, want in reference_pack(*columns, 50, 5).items():
        np.testing.assert_array_equal(getattr(got, name), want, err_msg=name)


def test_decoding_gives_back_the_sorted_synapses():
    """codes.decode_partition (what tools and tests read) inverts the packing."""
    from brainmac.compile.codes import decode_partition, delay_stats

    rng = np.random.default_rng(11)
    pre, post, value, delay, gain = random_synapses(rng, 4_001, 60, 300, 2_000, False,
                                                    np.int8)
    got = pack_partition([pre, post, value, delay, gain], 60, 300)
    d_pre, d_target, d_value, d_delay, d_gain = decode_partition(
        got.g_code, 0, got.row_grp, got.row_syn, 0, got.s_index, got.s_value)
    order = np.lexsort((np.arange(pre.size), delay, gain, pre))
    for have, want in ((d_pre, pre), (d_target, post), (d_value, value), (d_delay, delay),
                       (d_gain, gain)):
        np.testing.assert_array_equal(have, want[order])
    lo, hi, total, count = delay_stats(got.g_code)
    assert (lo, hi, count) == (delay.min(), delay.max(), pre.size)
    assert total == pytest.approx(delay.sum(dtype=np.float64))


def test_a_partition_above_16384_neurons_is_refused():
    from conftest import small_delta_network

    from brainmac.compile import compile_network
    from brainmac.errors import ConfigError

    with pytest.raises(ConfigError, match="partition_size must be in"):
        compile_network(small_delta_network(), partition_size=16385)


@pytest.mark.parametrize("edges, uniform_rows, n_gains, max_delay", [
    ((0, 3000, 7000, 16384), False, 7, 40),
    ((0, 5000, 5001, 16384), False, 300, 3_000),  # a one-neuron block, long delay steps
    ((0, 8000, 16384), True, 3, 40),  # every row one (delay, gain) in each block
])
def test_merged_blocks_equal_one_sort(edges, uniform_rows, n_gains, max_delay):
    """Rows sorted block by block (targets split at ``edges``) and merged are byte for byte
    the rows of one sort of the blocks' synapses in block order: each (gain, delay) group
    takes the blocks in order, so every target keeps the order of its inputs."""
    rng = np.random.default_rng(len(edges) + n_gains)
    n_neurons = 80
    columns = random_synapses(rng, 30_000, n_neurons, n_gains, max_delay, uniform_rows,
                              np.int8)
    block = np.searchsorted(np.asarray(edges), columns[1], side="right") - 1
    order = np.argsort(block, kind="stable")  # block order, generation order within
    columns = [c[order] for c in columns]
    block = block[order]
    whole = pack.sort_rows(list(columns), n_neurons, n_gains).packed()
    merger = pack.RowMerger(np.bincount(block, minlength=len(edges) - 1), n_neurons, np.int8)
    for j in range(len(edges) - 1):
        mine = block == j
        pre, post, value, delay, gain = (c[mine] for c in columns)
        post = (post - edges[j]).astype(np.uint16)
        merger.add(pack.sort_rows([pre, post, value, delay, gain], n_neurons, n_gains),
                   edges[j])
    merged = merger.packed()
    assert merged.n_synapses == 30_000
    for name in ("row_syn", "row_grp", "g_code", "s_index", "s_value"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name),
                                      err_msg=name)


def test_a_delay_beyond_the_group_field_is_refused():
    import brainmac as bm
    from brainmac.compile import compile_network

    net = bm.Network("long")
    a = net.population("A", 3, "lif_delta", dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0,
                                                 V_reset=10.0, V_th=20.0))
    net.connect(a, a, bm.FixedIndegree(2), 0.1, 7000.0)  # 70,000 steps of 0.1 ms
    with pytest.raises(CapacityError, match="exceeds 65535"):
        compile_network(net, dt_ms=0.1)


@pytest.mark.parametrize("profile", ["seed", "float32"])
def test_uniform_projections_compile_as_the_general_path(monkeypatch, profile):
    """Fixed in-degree with constant weight and delay (drawn ids only) == full generation."""
    from conftest import network_with_sources, small_delta_network

    from brainmac.compile import compile_network, compiler

    for make in (small_delta_network, network_with_sources):
        fast = compile_network(make(), profile=profile, dt_ms=0.1, seed=5, partition_size=37)
        with monkeypatch.context() as m:
            m.setattr(compiler, "_is_uniform", lambda plan: False)
            slow = compile_network(make(), profile=profile, dt_ms=0.1, seed=5,
                                   partition_size=37)
        assert fast.manifest == slow.manifest
        for name, values in slow.arrays.items():
            np.testing.assert_array_equal(fast.arrays[name], values, err_msg=name)


def test_default_partition_size_is_the_largest_with_two_partitions_per_thread():
    """16,384 neurons where that leaves each of two threads two partitions to balance
    (the full microcircuit: 10), else 8,192, else 4,096 (Brunel's 12,500 neurons: 4)."""
    from brainmac import models
    from brainmac.compile.compiler import default_partition_size, partition_bounds

    cases = ((models.build("microcircuit", scale=1.0), 16384, 10),
             (models.build("brunel", order=2500), 4096, 4),
             (models.build("brunel", order=5000), 8192, 4))  # E 20,000 in 3, I 5,000 in 1
    for net, size, partitions in cases:
        assert default_partition_size(net) == size
        assert partition_bounds(net, size)[1].size == partitions


def test_merged_rows_may_need_more_codes_than_their_blocks():
    """Long delay steps can cost more codes when the blocks' delays interleave (each
    step is coded in powers of two): here the merged rows need more code bytes than the
    blocks' rows together, and codes.merge_rows grows its code buffer for them."""
    delays = ([1159, 1679, 1704, 2731], [338, 1434, 2587])  # block 0, block 1
    n_rows = 8
    blocks = []
    for ds in delays:
        pre = np.repeat(np.arange(n_rows, dtype=np.int32), len(ds))
        delay = np.tile(np.array(ds, np.uint16), n_rows)
        post = (np.arange(pre.size) % 50).astype(np.uint16)
        value = np.ones(pre.size, np.int8)
        blocks.append([pre, post, value, delay, np.zeros(pre.size, np.uint16)])
    merger = pack.RowMerger([b[0].size for b in blocks], n_rows, np.int8)
    parts = [pack.sort_rows(list(b), n_rows, 1) for b in blocks]
    code_bytes = sum(p.g_code.size for p in parts)
    for j, part in enumerate(parts):
        merger.add(part, 50 * j)
    merged = merger.packed()
    assert merged.g_code.size > code_bytes  # the buffer had to grow
    together = [np.concatenate([b[i] for b in blocks]) for i in range(5)]
    together[1] = np.concatenate([blocks[0][1], blocks[1][1] + 50]).astype(np.uint16)
    whole = pack.sort_rows(together, n_rows, 1).packed()
    for name in ("row_syn", "row_grp", "g_code", "s_index", "s_value"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name),
                                      err_msg=name)


def test_a_delay_step_needs_at_most_12_long_step_codes():
    """codes.MAX_ROW_CODES_PER_SYNAPSE (the merge's code buffer) counts on it."""
    from brainmac.compile.codes import MAX_ROW_CODES_PER_SYNAPSE, _delay_codes

    none = np.empty(0, np.uint8)
    longest = max(_delay_codes(step, none, 0)[0] for step in range(pack.MAX_DELAY_STEPS + 1))
    assert longest == 12 == MAX_ROW_CODES_PER_SYNAPSE - 4


def test_partitions_built_in_blocks_equal_one_block(monkeypatch):
    """A partition generated in several blocks of neurons and merged is the partition
    generated at once, array for array (the merge keeps every target's input order)."""
    from brainmac.compile import compile_network, compiler
    from brainmac.models import microcircuit

    net = microcircuit(scale=0.02)
    whole = compile_network(net, "seed", 0.1, 1)
    monkeypatch.setattr(compiler, "BUILD_BLOCK_SYNAPSES", 20_000)
    monkeypatch.setattr(compiler, "MERGE_SYNAPSES_PER_ROW", 0)
    blocks = compile_network(net, "seed", 0.1, 1)
    counts = compiler.Compiler(net, "seed", 0.1, 1).synapse_counts()
    assert counts.max() > 3 * 20_000  # some partition is built in several blocks
    for name, values in whole.arrays.items():
        np.testing.assert_array_equal(blocks.arrays[name], values, err_msg=name)


def test_build_blocks_hold_enough_synapses_per_row():
    from types import SimpleNamespace

    from brainmac.compile import compiler
    from brainmac.models import microcircuit

    built = compiler.Compiler(microcircuit(scale=0.02), "seed", 0.1, 1)
    assert built.block_synapses() == compiler.BUILD_BLOCK_SYNAPSES  # 1,544 neurons
    built.net = SimpleNamespace(n_neurons=10**6)  # rows of 1e6 neurons: larger blocks
    assert built.block_synapses() == compiler.MERGE_SYNAPSES_PER_ROW * 10**6
