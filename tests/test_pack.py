"""The partition packer against a plain NumPy sort (lexsort), on random synapse sets."""

import numpy as np
import pytest

from brainmac.compile import pack
from brainmac.compile.pack import pack_partition
from brainmac.errors import CapacityError


def reference_pack(pre, post, value, delay, gain, n_neurons, n_gains):
    """Stable sort by (pre, delay * n_gains + gain), groups = runs of one key in a row."""
    key = delay.astype(np.int64) * n_gains + gain
    order = np.lexsort((np.arange(pre.size), key, pre))
    pre_s, key_s = pre[order], key[order]
    new = np.ones(pre.size, bool)
    new[1:] = (pre_s[1:] != pre_s[:-1]) | (key_s[1:] != key_s[:-1])
    firsts = np.flatnonzero(new)
    rows = np.arange(n_neurons + 1)
    return {"row_syn": np.searchsorted(pre_s, rows).astype(np.uint32),
            "row_grp": np.searchsorted(pre_s[firsts], rows).astype(np.uint32),
            "g_delay": (key_s[firsts] // n_gains).astype(np.uint16),
            "g_gain": (key_s[firsts] % n_gains).astype(np.uint16),
            "g_count": np.diff(np.append(firsts, pre.size)).astype(np.uint32),
            "s_index": post[order].astype(np.uint16), "s_value": value[order]}


def random_synapses(rng, n, n_neurons, n_gains, max_delay, uniform_rows, value_dtype):
    pre = rng.integers(0, n_neurons, n).astype(np.int32)
    if uniform_rows:  # every row one (delay, gain), as a Brunel partition
        delay = (pre % max_delay + 1).astype(np.uint16)
        gain = (pre % n_gains).astype(np.uint16)
    else:
        delay = rng.integers(1, max_delay + 1, n).astype(np.uint16)
        gain = rng.integers(0, n_gains, n).astype(np.uint16)
    post = rng.integers(0, 4096, n).astype(np.uint16)
    value = (rng.integers(-127, 128, n) if np.dtype(value_dtype).kind == "i"
             else rng.normal(0.0, 1.0, n)).astype(value_dtype)
    return pre, post, value, delay, gain


@pytest.mark.parametrize("n, n_neurons, uniform_rows, value_dtype", [
    (0, 10, False, np.int8),
    (1, 1, True, np.int8),
    (5_000, 300, False, np.int8),
    (5_000, 300, True, np.float64),
    (200_000, 5_000, False, np.int16),  # two-pass row sort (cache-sized buckets)
    (200_000, 5_000, True, np.int8),
    (100_000, 70, False, np.float32),  # long rows
])
def test_pack_equals_a_stable_lexsort(n, n_neurons, uniform_rows, value_dtype):
    rng = np.random.default_rng(n + n_neurons)
    columns = random_synapses(rng, n, n_neurons, 7, 40, uniform_rows, value_dtype)
    got = pack_partition(list(columns), n_neurons, 7)
    for name, want in reference_pack(*columns, n_neurons, 7).items():
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
