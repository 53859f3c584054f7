"""Analysis: statistics on spike trains with known answers, against naive oracles; distances; plots.

Tolerances for random trains are derived from the sample size (delta method), so that they
hold for any seed and still fail when the statistic is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainmac.analysis import (
    compare,
    cv_isi,
    distributions_png,
    emd,
    firing_rates,
    ks_distance,
    population_distributions,
    population_summary,
    raster_png,
    rates_png,
    spike_count_correlations,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def poisson_trains(rng, n_neurons, rate_hz, t_stop_ms):
    """Independent Poisson trains: (times_ms, node_ids), sorted by time."""
    counts = rng.poisson(rate_hz * t_stop_ms * 1e-3, size=n_neurons)
    ids = np.repeat(np.arange(n_neurons), counts)
    times = rng.uniform(0.0, t_stop_ms, size=ids.size)
    order = np.argsort(times)
    return times[order], ids[order]


# --- naive oracles: one neuron at a time, obviously correct -----------------------------------


def naive_cv(times, ids, n, t0, t1, min_spikes):
    out = []
    for i in range(n):
        t = np.sort(times[(ids == i) & (times >= t0) & (times < t1)])
        if t.size >= min_spikes:
            isi = np.diff(t)
            if isi.mean() > 0:
                out.append(isi.std() / isi.mean())
    return np.array(out)


def naive_corr(times, ids, neurons, t0, t1, bin_ms):
    n_bins = int(np.floor((t1 - t0) / bin_ms + 1e-9))
    edges = t0 + bin_ms * np.arange(n_bins + 1)
    rows = [np.histogram(times[ids == i], bins=edges)[0] for i in neurons]
    rows = [r for r in rows if r.var() > 0]
    cc = np.corrcoef(np.array(rows, dtype=float))
    return cc[np.triu_indices(len(rows), k=1)]


# --- firing rates ------------------------------------------------------------------------------


def test_firing_rates_of_known_trains():
    times = np.concatenate([np.arange(10) * 100.0, [0.0, 500.0, 999.9], [-1.0, 1000.0, 1500.0]])
    ids = np.concatenate([np.zeros(10), [1, 1, 1], [0, 1, 0]]).astype(np.int64)
    rates = firing_rates(times, ids, n_neurons=3, t_start_ms=0.0, t_stop_ms=1000.0)
    # t_start is inside the window, t_stop is not; neuron 2 is silent
    np.testing.assert_array_equal(rates, [10.0, 3.0, 0.0])


def test_firing_rates_scale_with_window():
    times, ids = np.array([100.0, 200.0, 300.0]), np.array([0, 0, 0])
    assert firing_rates(times, ids, 1, 0.0, 500.0)[0] == pytest.approx(6.0)
    assert firing_rates(times, ids, 1, 150.0, 250.0)[0] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("ids", "t0", "t1"),
    [([0, 3], 0.0, 10.0), ([-1, 0], 0.0, 10.0), ([0, 1], 10.0, 10.0)],
)
def test_firing_rates_reject_bad_input(ids, t0, t1):
    with pytest.raises(ValueError):
        firing_rates(np.array([1.0, 2.0]), np.array(ids), 3, t0, t1)


# --- CV of ISI -----------------------------------------------------------------------------------


def test_cv_of_regular_train_is_zero():
    times = np.tile(np.arange(0.0, 1000.0, 10.0), 2)
    ids = np.repeat([0, 1], 100)
    cvs = cv_isi(times, ids, 2, 0.0, 1000.0)
    np.testing.assert_allclose(cvs, [0.0, 0.0], atol=1e-12)


def test_cv_of_poisson_trains_is_near_one():
    # For exponential ISIs the delta method gives Var(CV_hat) ~ 1/n_isi. With ~1000 ISIs per
    # neuron: SD 0.032 per neuron, 0.0032 for the mean of 100 neurons. Bounds are >= 6 SD.
    rng = np.random.default_rng(42)
    times, ids = poisson_trains(rng, n_neurons=100, rate_hz=10.0, t_stop_ms=100_000.0)
    cvs = cv_isi(times, ids, 100, 0.0, 100_000.0)
    assert cvs.shape == (100,)
    assert abs(cvs.mean() - 1.0) < 0.02
    assert np.all(np.abs(cvs - 1.0) < 0.2)


def test_cv_leaves_out_neurons_with_few_spikes_and_keeps_id_order():
    times = np.array([0.0, 10.0, 30.0, 5.0, 6.0, 1.0, 2.0, 4.0, 999.0, 1200.0])
    ids = np.array([2, 2, 2, 0, 0, 3, 3, 3, 0, 0])  # neuron 1 silent; 1200 is outside
    # neuron 0: spikes 5, 6, 999 (isi 1, 993); neuron 2: isi 10, 20; neuron 3: isi 1, 2
    expected = {0: np.std([1, 993]) / np.mean([1, 993]), 2: 5 / 15, 3: 0.5 / 1.5}
    cvs = cv_isi(times, ids, 4, 0.0, 1000.0, min_spikes=3)
    np.testing.assert_allclose(cvs, [expected[0], expected[2], expected[3]])
    assert cv_isi(times, ids, 4, 0.0, 1000.0, min_spikes=4).size == 0
    assert cv_isi(times, ids, 4, 0.0, 7.0, min_spikes=2).size == 2  # neurons 0 and 3
    with pytest.raises(ValueError):
        cv_isi(times, ids, 4, 0.0, 1000.0, min_spikes=1)


def test_cv_matches_naive_oracle_on_unsorted_spikes():
    rng = np.random.default_rng(7)
    times, ids = poisson_trains(rng, n_neurons=40, rate_hz=8.0, t_stop_ms=3000.0)
    perm = rng.permutation(times.size)
    times, ids = times[perm], ids[perm]
    got = cv_isi(times, ids, 40, 500.0, 2500.0, min_spikes=3)
    np.testing.assert_allclose(got, naive_cv(times, ids, 40, 500.0, 2500.0, 3), rtol=1e-12)


# --- spike-count correlations ----------------------------------------------------------------


def test_correlation_of_identical_trains_is_one():
    rng = np.random.default_rng(1)
    t, _ = poisson_trains(rng, n_neurons=1, rate_hz=20.0, t_stop_ms=10_000.0)
    times, ids = np.tile(t, 5), np.repeat(np.arange(5), t.size)
    cc = spike_count_correlations(times, ids, 5, 0.0, 10_000.0)
    assert cc.shape == (10,)
    np.testing.assert_allclose(cc, 1.0, atol=1e-12)


def test_correlation_of_independent_poisson_trains_is_near_zero():
    # Under independence r has SD ~ 1/sqrt(n_bins) = 0.01 for 10_000 bins of 2 ms. The mean of
    # 19_900 pairwise-uncorrelated coefficients has SD ~ 1e-4; the max over pairs ~ 4.3 SD.
    rng = np.random.default_rng(2)
    times, ids = poisson_trains(rng, n_neurons=300, rate_hz=20.0, t_stop_ms=20_000.0)
    cc = spike_count_correlations(times, ids, 300, 0.0, 20_000.0)
    assert cc.shape == (200 * 199 // 2,)
    assert abs(cc.mean()) < 0.003
    assert np.abs(cc).max() < 0.06


def test_correlation_detects_shared_spikes():
    # Each neuron copies every spike of a common 20 Hz source with probability 0.5 and adds
    # 20 Hz of its own: expected r = 0.5 * 0.5 * 20 / 30 ~ 0.17 (sources rarely share a bin).
    rng = np.random.default_rng(3)
    common, _ = poisson_trains(rng, 1, 20.0, 20_000.0)
    own_t, own_i = poisson_trains(rng, 50, 20.0, 20_000.0)
    copied = rng.random((50, common.size)) < 0.5
    times = np.concatenate([own_t, np.tile(common, 50)[copied.ravel()]])
    ids = np.concatenate([own_i, np.repeat(np.arange(50), common.size)[copied.ravel()]])
    cc = spike_count_correlations(times, ids, 50, 0.0, 20_000.0)
    assert 0.12 < cc.mean() < 0.22


def test_correlation_bin_is_bin_ms_wide():
    # Neuron 1 fires 1 ms after neuron 0, always in the same 2 ms bin (starting at t_start).
    t0 = np.arange(0.0, 1000.0, 10.0) + 0.2
    times, ids = np.concatenate([t0, t0 + 1.0]), np.repeat([0, 1], t0.size)
    assert spike_count_correlations(times, ids, 2, 0.0, 1000.0, bin_ms=2.0)[0] == pytest.approx(1)
    assert spike_count_correlations(times, ids, 2, 0.0, 1000.0, bin_ms=1.0)[0] < 0.0


def test_correlation_sample_is_among_spiking_neurons_and_seeded():
    rng = np.random.default_rng(4)
    times, ids = poisson_trains(rng, n_neurons=30, rate_hz=30.0, t_stop_ms=5000.0)
    ids = ids * 10  # neurons 0, 10, ..., 290 spike; 270 of 300 are silent
    assert spike_count_correlations(times, ids, 300, 0.0, 5000.0).size == 30 * 29 // 2
    first = spike_count_correlations(times, ids, 300, 0.0, 5000.0, n_sample=10, seed=5)
    again = spike_count_correlations(times, ids, 300, 0.0, 5000.0, n_sample=10, seed=5)
    other = spike_count_correlations(times, ids, 300, 0.0, 5000.0, n_sample=10, seed=6)
    assert first.size == 45
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_correlation_matches_naive_oracle():
    rng = np.random.default_rng(8)
    times, ids = poisson_trains(rng, n_neurons=25, rate_hz=15.0, t_stop_ms=4000.0)
    got = spike_count_correlations(times, ids, 25, 100.0, 3999.0, bin_ms=3.0, n_sample=25)
    want = naive_corr(times, ids, np.unique(ids), 100.0, 3999.0, 3.0)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_correlation_with_too_few_neurons_is_empty():
    assert spike_count_correlations(np.array([1.0]), np.array([0]), 5, 0.0, 100.0).size == 0
    assert spike_count_correlations(np.empty(0), np.empty(0, np.int64), 5, 0.0, 100.0).size == 0


# --- per-population helpers --------------------------------------------------------------------


def test_population_summary_and_distributions():
    rng = np.random.default_rng(9)
    spikes = {"E": poisson_trains(rng, 80, 5.0, 2000.0), "I": poisson_trains(rng, 20, 20.0, 2000.0)}
    sizes = {"E": 100, "I": 20, "X": 7}  # the last 20 of E and all of X are silent
    summary = population_summary(spikes, sizes, 0.0, 2000.0)
    assert list(summary) == ["E", "I", "X"]
    assert summary["E"]["n_neurons"] == 100
    assert summary["E"]["n_spikes"] == spikes["E"][0].size
    assert summary["E"]["rate_mean_hz"] == pytest.approx(spikes["E"][0].size / 100 / 2.0)
    assert summary["X"]["n_spikes"] == 0 and summary["X"]["rate_mean_hz"] == 0.0
    assert np.isnan(summary["X"]["cv_mean"]) and np.isnan(summary["X"]["corr_mean"])
    dists = population_distributions(spikes, sizes, 0.0, 2000.0)
    assert set(dists["I"]) == {"rate", "cv", "corr"}
    assert dists["E"]["rate"].shape == (100,)
    assert summary["I"]["cv_mean"] == pytest.approx(dists["I"]["cv"].mean())


# --- distances ---------------------------------------------------------------------------------


def test_ks_distance_of_identical_and_shifted_samples():
    a = np.random.default_rng(10).normal(size=2000)
    assert ks_distance(a, a.copy()) == 0.0
    assert ks_distance(a, a[::-1]) == 0.0
    d_small, d_big = ks_distance(a, a + 0.2), ks_distance(a, a + 1.0)
    assert 0.0 < d_small < d_big <= 1.0
    assert ks_distance(a, a + 100.0) == 1.0


def test_emd_of_a_shift_is_the_shift():
    a = np.random.default_rng(11).exponential(size=500)
    assert emd(a, a) == 0.0
    assert emd(a, a + 0.7) == pytest.approx(0.7, abs=1e-12)
    assert emd(a - 2.5, a) == pytest.approx(2.5, abs=1e-12)
    # not a difference of means: equal means, mass moved by 1 on each side; unequal sizes
    assert emd([0.0, 0.0], [-1.0, 1.0]) == pytest.approx(1.0)
    assert emd([0.0], [0.0, 1.0]) == pytest.approx(0.5)


def test_distances_of_empty_samples_are_nan():
    for distance in (ks_distance, emd):
        assert np.isnan(distance(np.empty(0), np.ones(3)))
        assert np.isnan(distance(np.ones(3), [np.nan]))


def test_compare_nests_population_statistic_distance():
    rng = np.random.default_rng(12)
    a = {"E": {"rate": rng.normal(size=100), "cv": rng.normal(size=50)}, "I": {"rate": []}}
    b = {"E": {"rate": a["E"]["rate"] + 1.0, "cv": a["E"]["cv"]}, "I": {"rate": [1.0]}}
    result = compare(a, b)
    assert list(result) == ["E", "I"]
    assert result["E"]["cv"] == {"ks": 0.0, "emd": 0.0}
    assert result["E"]["rate"]["emd"] == pytest.approx(1.0)
    assert np.isnan(result["I"]["rate"]["ks"])
    with pytest.raises(ValueError, match="populations"):
        compare(a, {"E": b["E"]})
    with pytest.raises(ValueError, match="statistics"):
        compare(a, {"E": {"rate": [1.0]}, "I": b["I"]})


# --- plots -------------------------------------------------------------------------------------


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


@pytest.fixture
def two_populations():
    rng = np.random.default_rng(13)
    spikes = {
        "E": poisson_trains(rng, 400, 5.0, 1000.0),
        "I": poisson_trains(rng, 100, 15.0, 1000.0),
    }
    sizes = {"E": 400, "I": 100, "silent": 10}
    return spikes, sizes, population_distributions(spikes, sizes, 0.0, 1000.0)


def test_plots_write_png_files(tmp_path, two_populations):
    spikes, sizes, dists = two_populations
    raster_png(tmp_path / "raster.png", spikes, sizes, (0.0, 1000.0), max_neurons_per_pop=50)
    rates_png(
        tmp_path / "rates.png",
        {p: d["rate"] for p, d in dists.items()},
        {p: d["cv"] for p, d in dists.items()},
    )
    other = population_distributions(spikes, sizes, 0.0, 1000.0, seed=1)
    distributions_png(tmp_path / "dist.png", dists, other, labels=("seed 0", "seed 1"))
    for name in ("raster.png", "rates.png", "dist.png"):
        assert_png(tmp_path / name)


def test_plots_leave_no_pyplot_figures(tmp_path, two_populations):
    # matplotlib may import pyplot internally (to resolve rcParams["backend"]); what must not
    # happen is a figure registered in pyplot's global state, which would leak memory per run.
    import matplotlib.pyplot as plt

    spikes, sizes, dists = two_populations
    before = plt.get_fignums()
    raster_png(tmp_path / "r.png", spikes, sizes, (0.0, 1000.0))
    rates_png(tmp_path / "c.png", {"E": dists["E"]["rate"]}, {"E": dists["E"]["cv"]})
    assert plt.get_fignums() == before
