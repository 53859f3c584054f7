"""brainmac._cpu: 512-bit vectors where the CPU has them, never over the user's settings.

That results do not depend on the vector width is what the oracle and determinism tests
check: they run with whatever this sets on the machine (wide vectors on AVX-512).
"""

import os
import subprocess
import sys

import llvmlite.binding as llvm

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
