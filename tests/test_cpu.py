"""brainmac._cpu: 512-bit vectors where the CPU has them, never over the user's settings.

That results do not depend on the vector width is what the oracle and determinism tests
check: they run with whatever this sets on the machine (wide vectors on AVX-512).
"""

import os
import subprocess
import sys

import llvmlite.binding as llvm
import pytest

PROBE = "import os, brainmac; print(os.environ.get('NUMBA_CPU_FEATURES', 'unset'))"


def features_after_import(**env) -> str:
    """NUMBA_CPU_FEATURES as a fresh process sees it after ``import brainmac``."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME", "BRAINMAC_WIDE_VECTORS")}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_wide_vectors_on_avx512_hosts_only():
    host = llvm.get_host_cpu_features().flatten().split(",")
    got = features_after_import()
    if "+avx512f" in host and "+prefer-256-bit" not in host:
        flags = got.split(",")
        assert flags[-1] == "-prefer-256-bit" and "+avx512f" in flags
        assert set(flags) - {"-prefer-256-bit", "+prefer-256-bit"} \
            == set(host) - {"-prefer-256-bit", "+prefer-256-bit"}
    else:
        assert got == "unset"


def test_the_users_settings_win():
    assert features_after_import(BRAINMAC_WIDE_VECTORS="0") == "unset"
    assert features_after_import(NUMBA_CPU_FEATURES="+avx2") == "+avx2"
    assert features_after_import(NUMBA_CPU_NAME="generic") == "unset"


def test_the_step_loop_compiles_without_literal_arguments():
    """A constant argument (chunk_region(t, 0, ...)) makes numba compile the whole loop
    once more for that literal: ~20 s per profile on a cold cache."""
    from numba.core import types

    from brainmac import models
    from brainmac.backends.numba_cpu import driver
    from brainmac.compile import compile_network
    from brainmac.engine import Simulator

    sim = Simulator(compile_network(models.build("brunel", order=20)), threads=1)
    sim.run(2.0)
    for kernel in (driver.run_steps, driver.chunk_region):
        for signature in kernel.signatures:
            assert not any(isinstance(t, types.Literal) for t in signature), kernel


def test_step_words_draws_the_update_words_of_rng():
    """The update's word per neuron-step is hash3, its high half the Poisson draw; the
    oracle draws it from brainmac.rng."""
    import numpy as np

    from brainmac.backends.numba_cpu.neuron_kernels import step_words
    from brainmac.rng import hash3

    key, t, b0, n = np.uint64(2**63 + 12345), np.int64(77), np.int64(4000), 300
    hs, xs = np.empty(n, np.uint64), np.empty(n, np.uint32)
    step_words(key, t, b0, n, hs, xs)
    first = [int(hash3(key, int(b0) + j, int(t))) for j in range(n)]
    assert [int(h) for h in hs] == first
    assert [int(x) for x in xs] == [h >> 32 for h in first]


@pytest.mark.parametrize("frac_bits", [24, 28])
def test_exp_dithers_are_centred_fields_of_one_word(frac_bits):
    """lif_exp's three dithers are disjoint 8-bit fields of the word's low half, ending at
    bits F, F - 8 and F - 16, each the top of an F-bit fraction and centred: an F-bit
    fraction f rounds up for round(f / 2**(F - 8)) of the 256 values of a field, so a
    rounding's mean is off by at most 2**-9 LSB."""
    import numpy as np

    from brainmac.backends.numba_cpu.neuron_kernels import DITHER_BITS, dither, dither_masks

    mask, half = dither_masks(frac_bits)
    h = np.uint64(0x0123456789ABCDEF)
    fields = [(int(h) >> (frac_bits - DITHER_BITS * (k + 1))) & 0xFF for k in range(3)]
    step = 1 << (frac_bits - DITHER_BITS)
    assert [int(dither(h, k, mask, half)) for k in range(3)] == [
        f * step + step // 2 for f in fields]
    one = 1 << frac_bits
    every_dither = np.array([int(dither(np.uint64(r << (frac_bits - DITHER_BITS)), 0, mask,
                                        half)) for r in range(1 << DITHER_BITS)], np.int64)
    for frac in (0, 1, step // 2 - 1, step // 2, one // 3, one - 1):
        ups = int(((frac + every_dither) >= one).sum())
        assert ups == int(np.floor(frac / step + 0.5))
        assert abs(ups / 2**DITHER_BITS - frac / one) <= 2.0 ** -(DITHER_BITS + 1)


def test_a_fixed_point_profile_needs_more_fraction_than_a_dither():
    """A fixed-point profile whose fractional bits cannot hold three dithers below bit 32
    is refused in one line."""
    from brainmac.backends.numba_cpu.driver import check_dither_bits

    check_dither_bits(0)  # float profiles: no dither
    check_dither_bits(24)
    check_dither_bits(32)
    for bad in (10, 23, 33):
        with pytest.raises(ValueError, match="fractional bits"):
            check_dither_bits(bad)


JOIN_PROBE = ("import os, brainmac.backends.numba_cpu.driver; "
              "print(os.environ.get('GOMP_SPINCOUNT', 'unset'))")


def spin_count_after_import(**env) -> str:
    """GOMP_SPINCOUNT as a fresh process sees it after importing the numba driver."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", JOIN_PROBE], env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_join_spins_a_bounded_while_unless_the_user_chose():
    from brainmac.backends.numba_cpu.driver import JOIN_SPIN_COUNT

    assert spin_count_after_import() == str(JOIN_SPIN_COUNT)
    assert spin_count_after_import(GOMP_SPINCOUNT="7") == "7"
    # libgomp lets GOMP_SPINCOUNT override the policy: a user's policy must stand alone
    assert spin_count_after_import(OMP_WAIT_POLICY="PASSIVE") == "unset"


@pytest.mark.parametrize("mean", [0.3, 1.6, 9.0, 40.0])
def test_poisson_counts_by_window_equal_the_inversion_search(mean):
    """The vectorized count (a window of thresholds compared in 32-bit lanes, the draws
    outside it searched) is searchsorted(cdf, u) for every draw, in and out of the window,
    in whole vectors and in the tail of a block."""
    import numpy as np

    from brainmac.backends.numba_cpu import neuron_kernels as nk
    from brainmac.compile.drives import poisson_cdf

    cdf = poisson_cdf(mean)[None, :]
    thr = nk.poisson_thresholds(cdf)
    window, bounds = nk.poisson_windows(thr, cdf)
    k0, lo, hi = bounds[0]
    gen = np.random.default_rng(int(mean * 10))
    xs = gen.integers(0, 2**32, nk.BLOCK, dtype=np.uint64).astype(np.uint32)
    xs[:4] = [0, 2**32 - 1, lo, max(hi - 1, 0)]
    xs[40:44] = [max(lo - 1, 0), hi, 2**32 - 2, 1]
    edges = window[0].astype(np.int64)
    xs[64:64 + 3 * edges.size] = np.clip(np.concatenate([edges - 1, edges, edges + 1]), 0,
                                         2**32 - 1)  # on and beside every window threshold
    cnt = np.full(nk.BLOCK, -1, np.int32)
    nb = nk.BLOCK - 9  # a tail past the last whole vector
    nk.count_events(nb, xs, window[0], k0, np.uint32(lo), np.uint32(hi), thr[0], cnt)
    u = (xs[:nb].astype(np.float64) + 0.5) / 2.0**32
    assert np.array_equal(cnt[:nb], np.searchsorted(cdf[0], u, side="right"))
    assert (cnt[nb:] == -1).all()
    outside = (xs[:nb] < lo) | (xs[:nb] >= hi)
    assert outside.any()  # the search was exercised
