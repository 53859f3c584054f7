"""Code generation settings for numba, chosen before numba is imported.

On CPUs with AVX-512, LLVM's tuning for several Intel cores prefers 256-bit vectors
(``prefer-256-bit``), which halves the width of the neuron update's vector loops. brainmac
lifts that preference by setting ``NUMBA_CPU_FEATURES`` to the host's features with
``-prefer-256-bit``: full-scale microcircuit, 2 threads, dev VM (Cascade Lake), alternating
runs: RTF 9.76 / 10.13 -> 8.31 / 8.25 with identical spikes (docs/performance.md). The
kernels' arithmetic does not depend on the vector width (integer lanes; float loops are
not reassociated), so results are the same bit for bit; numba caches code per feature set.

A user's own ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` wins, ``BRAINMAC_WIDE_VECTORS=0``
turns this off, and it has no effect if numba was imported before brainmac.
"""

from __future__ import annotations

import os
import sys

WIDE_VECTORS_VARIABLE = "BRAINMAC_WIDE_VECTORS"


def prefer_wide_vectors() -> bool:
    """Set ``NUMBA_CPU_FEATURES`` for 512-bit vectors where that applies; returns whether
    it did."""
    if (os.environ.get(WIDE_VECTORS_VARIABLE, "1") == "0" or "numba" in sys.modules
            or "NUMBA_CPU_FEATURES" in os.environ or "NUMBA_CPU_NAME" in os.environ):
        return False
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    except Exception:  # noqa: BLE001 - no feature list: keep numba's defaults
        return False
    flags = features.split(",")
    if "+avx512f" not in flags or "+prefer-256-bit" in flags:
        return False
    os.environ["NUMBA_CPU_FEATURES"] = ",".join(
        [f for f in flags if not f.endswith("prefer-256-bit")] + ["-prefer-256-bit"])
    return True
