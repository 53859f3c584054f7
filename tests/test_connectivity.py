"""Connectors, weights and delays: the generated network has the statistics it should."""

import numpy as np
import pytest
from scipy.stats import norm

import brainmac as bm
from brainmac.compile import compile_network
from brainmac.compile.generate import generate
from brainmac.compile.neurons import population_numerics
from brainmac.compile.plan import plan_projections
from brainmac.compile.profiles import get_profile

P = dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0)


def synapses(connector, weight=87.8, delay=1.0, n_pre=300, n_post=200, profile="float64",
             same=False):
    net = bm.Network()
    a = net.population("A", n_pre, "lif_exp", P)
    b = a if same else net.population("B", n_post, "lif_exp", P)
    net.connect(a, b, connector, weight, delay)
    prof = get_profile(profile)
    nums = {p.name: population_numerics(p, prof, 0.1, 0.0) for p in net.populations}
    plan = plan_projections(net, nums, prof, 0.1, seed=5)[0]
    return generate(plan, 0, plan.n_post, prof, 0.1), net.offsets()


def test_fixed_indegree_and_autapses():
    block, offs = synapses(bm.FixedIndegree(30, autapses=False), same=True)
    counts = np.bincount(block.post, minlength=300)
    assert np.all(counts == 30)
    assert not np.any(block.pre == block.post)
    # Sources are uniform: a chi-square-like check of the presynaptic histogram.
    hist = np.bincount(block.pre, minlength=300)
    assert abs(hist.mean() - 30) < 1e-9 and hist.std() < 2 * np.sqrt(30)


def test_fixed_total_number():
    block, offs = synapses(bm.FixedTotalNumber(12345))
    assert block.pre.size == 12345
    post = block.post - offs["B"]
    counts = np.bincount(post, minlength=200)
    assert abs(counts.mean() - 12345 / 200) < 1e-9
    assert counts.std() == pytest.approx(np.sqrt(12345 / 200), rel=0.25)


def test_pairwise_bernoulli():
    block, _ = synapses(bm.PairwiseBernoulli(0.1))
    n = 300 * 200
    assert block.pre.size == pytest.approx(0.1 * n, abs=4 * np.sqrt(n * 0.09))
    pairs = set(zip(block.pre.tolist(), block.post.tolist(), strict=True))
    assert len(pairs) == block.pre.size  # no multapses


def test_one_to_one_and_all_to_all():
    block, offs = synapses(bm.OneToOne(), n_pre=50, n_post=50)
    np.testing.assert_array_equal(block.pre, block.post - offs["B"])
    block, _ = synapses(bm.AllToAll(autapses=False), n_pre=40, same=True)
    assert block.pre.size == 40 * 39


def test_explicit_passes_through():
    pre, post = np.array([3, 1, 2, 1]), np.array([0, 4, 0, 1])
    w, d = np.array([10.0, -20.0, 30.0, 40.0]), np.array([1.0, 0.5, 0.2, 3.0])
    block, offs = synapses(bm.Explicit(pre, post, w, d), n_pre=5, n_post=5)
    order = np.argsort(post, kind="stable")
    np.testing.assert_array_equal(block.pre, pre[order])
    np.testing.assert_array_equal(block.post - offs["B"], post[order])
    np.testing.assert_array_equal(block.weight, w[order])
    np.testing.assert_array_equal(block.delay, np.round(d[order] / 0.1))


def test_normal_weights_keep_their_sign_and_delays_stay_above_one_step():
    block, _ = synapses(bm.FixedIndegree(200), weight=bm.Normal(-10.0, 20.0),
                        delay=bm.Normal(0.75, 0.75))
    assert block.weight.max() <= 0.0
    assert block.delay.min() >= 1
    # A redraw bounded at 0 gives the truncated normal: its median solves
    # Phi((x - mean) / std) = Phi(-mean / std) / 2.
    expected = -10.0 + 20.0 * norm.ppf(norm.cdf(10.0 / 20.0) / 2)
    assert np.median(block.weight) == pytest.approx(expected, abs=0.5)


def test_the_ziggurat_normal_has_the_normal_distribution():
    """rng.normal against the standard normal: KS over 1e6 draws, and the mass beyond a few
    edges over 5e7 draws, the ziggurat's base strip r = 3.44 among them, where a wrong tail
    sampler shows first (restarting the whole draw on a tail rejection gave 6 % too few:
    -10 sd here)."""
    from numba import njit
    from scipy.stats import kstest

    from brainmac import rng

    edges = np.array([2.0, rng.ZIG_R, 4.0])

    @njit
    def draws(n, out, edges, beyond):
        for k in range(n):
            z = rng.normal(rng.hash3(np.uint64(12345), 3, k))
            if k < out.size:
                out[k] = z
            beyond += np.abs(z) > edges
        return np.abs(out).max()

    n, sample, beyond = 50_000_000, np.empty(1_000_000), np.zeros(3, np.int64)
    largest = draws(n, sample, edges, beyond)
    assert kstest(sample, "norm").pvalue > 1e-3
    assert largest <= rng.Z_MAX
    want = 2 * norm.sf(edges)
    assert (np.abs(beyond / n - want) < 4 * np.sqrt(want / n)).all(), (beyond / n, want)


def test_normal_weight_moments():
    block, _ = synapses(bm.FixedIndegree(200), weight=bm.Normal(87.8, 8.78))
    assert block.weight.mean() == pytest.approx(87.8, rel=0.003)
    assert block.weight.std() == pytest.approx(8.78, rel=0.02)


def test_seed_quantization_error_is_reported_and_small():
    net = bm.Network()
    a = net.population("A", 200, "lif_exp", P)
    net.connect(a, a, bm.FixedIndegree(50), bm.Normal(87.8, 8.78), 1.0)
    compiled = compile_network(net, "seed", 0.1)
    (row,) = compiled.manifest["quantization"]
    assert row["synapses"] == 200 * 50
    assert 0 < row["mean_rel_error"] < row["max_rel_error"] < 0.02
    # The mantissa uses its 8 bits: the largest stored magnitude is near 127.
    assert 64 <= np.abs(compiled.s_value).max() <= 127


def test_bytes_per_synapse_of_the_seed_store():
    net = bm.Network()
    a = net.population("A", 2000, "lif_exp", P)
    net.connect(a, a, bm.FixedIndegree(500), 87.8, 1.5)
    compiled = compile_network(net, "seed", 0.1)
    assert compiled.s_value.dtype == np.int8 and compiled.s_index.dtype == np.uint8
    assert compiled.s_index.size == 7 * compiled.s_value.size // 4  # 14-bit targets
    # 2.75 bytes of weight and target, a code byte per 15 synapses (one delay, one gain)
    # and the row pointers: 2 x 4 bytes per neuron per 500 synapses
    assert 2.75 < compiled.bytes_per_synapse() < 2.75 + 1 / 15 + 3 / 500 + 8 / 500 + 0.01


def test_clipped_weights_are_those_beyond_the_largest_mantissa():
    """A weight counts as clipped only when stored at the largest mantissa and drawn beyond
    what rounding reaches: the mantissa itself (stochastic rounding cannot round up from
    there) or half a step above it (nearest). Stochastic rounding down by more than half a
    step is no clipping (it was counted as such before session 12: 12.7 % of PD14)."""
    from brainmac.compile.compiler import _QuantizationTally
    from brainmac.compile.profiles import get_profile, with_rounding

    stored = np.array([127, 127, -127, 10, 10, 126], np.int8)
    drawn = np.array([127.4, 130.0, -127.2, 10.9, 9.2, 126.9])  # in steps (lsb 1)
    for rounding, expected in (("stochastic", 3), ("nearest", 1)):
        tally = _QuantizationTally(1, 1, with_rounding("seed", rounding))
        tally.add(0, stored, drawn, np.zeros(stored.size, np.int64), np.ones(1))
        assert int(tally.clipped[0]) == expected, rounding
    never = _QuantizationTally(1, 1, get_profile("float32"))
    never.add(0, drawn.astype(np.float32), drawn * 2, np.zeros(drawn.size, np.int64),
              np.ones(1))
    assert int(never.clipped[0]) == 0


def test_stochastic_rounding_of_a_normal_weight_reports_few_clipped():
    """PD14's weight (87.8 pA, sd 10 %) clips a few synapses per million at the chosen gain
    (docs/engine.md), with either rounding rule."""
    from brainmac.compile.profiles import with_rounding

    net = bm.Network()
    a = net.population("A", 2000, "lif_exp", P)
    net.connect(a, a, bm.FixedIndegree(500), bm.Normal(87.8, 8.78), 1.0)
    for rounding in ("stochastic", "nearest"):
        compiled = compile_network(net, with_rounding("seed", rounding), 0.1)
        (row,) = compiled.manifest["quantization"]
        assert row["clipped"] <= 1e-4 * row["synapses"], (rounding, row)
