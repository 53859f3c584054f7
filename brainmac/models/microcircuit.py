"""The cortical microcircuit of Potjans & Diesmann (2014).

Potjans TC, Diesmann M (2014) The cell-type specific cortical microcircuit: relating structure
and activity in a full-scale spiking network model. Cereb Cortex 24:785-806.
doi:10.1093/cercor/bhs358

Numbers from the reference implementations (code written anew here):
``PyNEST/src/microcircuit/{network_params,stimulus_params,helpers,network}.py`` of
INM-6/microcircuit-PD14-model (commit fd40046, 2026), identical to NEST's former example
``pynest/examples/Potjans_2014`` (nest/nest-simulator, last version before 09c1a3c).

Neurons: 8 populations (L2/3, L4, L5, L6; E and I) of current-based LIF neurons with
exponential synaptic currents (``lif_exp`` = NEST ``iaf_psc_exp``)::

    C_m dV/dt = -C_m (V - E_L) / tau_m + I_syn(t) + I_DC
    tau_syn dI_syn/dt = -I_syn + C tau_syn sum_j w_j sum_k delta(t - t_j^k - d_j)

with C_m = 250 pF, tau_m = 10 ms, tau_syn = 0.5 ms, t_ref = 2 ms, E_L = V_reset = -65 mV,
V_th = -50 mV.

Connectivity: from the connection probability C_ab (target a, source b) the total number of
synapses, drawn with random pre and post and multapses (FixedTotalNumber), is

    K_ab = log(1 - C_ab) / log(1 - 1 / (N_a N_b)),

scaled by ``scale * k_scale``. Weights: the PSC amplitude J = PSP * PSC/PSP with
PSC/PSP = 1 / (tau_m tau_s / (C_m (tau_s - tau_m)) * (f^tau_m - f^tau_s)),
f = (tau_m / tau_s)^(1 / (tau_s - tau_m)); PSP = 0.15 mV gives 87.8 pA. Inhibitory weights are
g J with g = -4; L4E -> L2/3E is 2 J. Each weight is normal with relative SD 0.1, redrawn
until it keeps its sign. Delays: normal, mean 1.5 ms (E sources), 0.75 ms (I sources), relative
SD 0.5, redrawn below one time step.

External input: K_ext independent Poisson sources of 8 Hz with weight J per neuron, or their
mean as a DC current I = 8 Hz * K_ext * J * tau_syn. When in-degrees are scaled by k < 1, the
weights become J / sqrt(k) and a DC current restores the mean input:
0.001 tau_syn (1 - sqrt(k)) sum_b J_ab K_ab r_b (r_b: full-scale rates), plus the same term for
the Poisson input.
"""

from __future__ import annotations

import math

import numpy as np

from brainmac.errors import ConfigError
from brainmac.network import DCDrive, FixedTotalNumber, Network, Normal, PoissonDrive

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
FULL_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
#: Connection probabilities; row = target, column = source (order of POPULATIONS).
CONN_PROBS = (
    (0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0),
    (0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0),
    (0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0),
    (0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0),
    (0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0),
    (0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0),
    (0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252),
    (0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443),
)
K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)
BG_RATE_HZ = 8.0
PSP_EXC_MV = 0.15
WEIGHT_REL_STD = 0.1
G = -4.0
DELAY_EXC_MS, DELAY_INH_MS, DELAY_REL_STD = 1.5, 0.75, 0.5
#: Largest time step accepted (ms): the 1 kHz clock of DESIGN.md.
MAX_DT_MS = 1.0
NEURON_PARAMS = {
    "C_m": 250.0,
    "tau_m": 10.0,
    "tau_syn_ex": 0.5,
    "tau_syn_in": 0.5,
    "t_ref": 2.0,
    "E_L": -65.0,
    "V_th": -50.0,
    "V_reset": -65.0,
}
#: Initial membrane potential (mV): mean and SD per population ("optimized", the reference
#: default, reduces the initial burst) or one value for all ("original").
V0 = {
    "optimized": (
        (-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43),
        (5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48),
    ),
    "original": ((-58.0,) * 8, (10.0,) * 8),
}
#: Full-scale rates (Hz) the reference uses for the k_scale compensation (network_params.py).
FULL_MEAN_RATES_HZ = (0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829)
#: NEST 3.10 full-scale rates on this machine (PEERS.md: 2 threads, dt 0.1 ms, Poisson drive,
#: 500 ms warm-up + 1 s, one run).
PEERS_NEST_RATES_HZ = (0.86, 2.96, 4.41, 5.87, 7.72, 8.63, 1.13, 7.84)
#: Thalamic input of stimulus_params.py: 902 Poisson neurons firing 120 Hz in [700, 710) ms.
THALAMUS = {
    "n_neurons": 902,
    "rate_hz": 120.0,
    "start_ms": 700.0,
    "duration_ms": 10.0,
    "conn_probs": (0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196),
    "psp_mV": 0.15,
    "delay_mean_ms": 1.5,
    "delay_rel_std": 0.5,
}
SOURCES = (
    "Potjans & Diesmann 2014, Cereb Cortex 24:785",
    "INM-6/microcircuit-PD14-model PyNEST/src/microcircuit (commit fd40046)",
    "nest/nest-simulator pynest/examples/Potjans_2014 (before its removal in 09c1a3c)",
)


def psc_over_psp(c_m: float, tau_m: float, tau_syn: float) -> float:
    """PSC amplitude (pA) per mV of PSP peak for ``iaf_psc_exp`` (reference helpers.py)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / c_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def synapse_numbers(conn_probs, n_post, n_pre) -> np.ndarray:
    """Total synapse numbers K = log(1 - p) / log(1 - 1/(N_post N_pre)), shape (post, pre)."""
    prod = np.outer(np.asarray(n_post, float), np.asarray(n_pre, float))
    return np.log(1.0 - np.asarray(conn_probs, float)) / np.log((prod - 1.0) / prod)


def microcircuit(
    scale: float = 1.0,
    k_scale: float = 1.0,
    drive: str = "poisson",
    thalamus: bool = False,
    v0: str = "optimized",
    dt_ms: float = 0.1,
) -> Network:
    """Build the Potjans & Diesmann (2014) microcircuit.

    Parameters
    ----------
    scale : float
        Fraction of neurons, in (0, 1]; synapse numbers scale with it (in-degrees kept).
    k_scale : float
        Fraction of in-degrees, in (0, 1]; weights grow by 1/sqrt(k_scale) and a DC current
        compensates the mean input, as in the reference implementation.
    drive : {"poisson", "dc"}
        External input: K_ext Poisson sources of 8 Hz per neuron, or their mean as DC.
    thalamus : bool
        The reference's optional thalamic pulse: a population "TH" of 902 ``poisson_source``
        neurons at 120 Hz during [700, 710) ms onto L4 and L6 (see ``_add_thalamus``).
    v0 : {"optimized", "original"}
        Initial membrane potentials: per-population normal (reference default) or N(-58, 10).
    dt_ms : float
        Time step (ms) the network is meant for, in (0, 1]: delays are redrawn below it
        (``Normal(low=dt_ms)``). The reference redraws below dt/2 and lets NEST round to the
        grid, which gives the same minimum delay of one step.

    Returns
    -------
    Network
        8 ``lif_exp`` populations, one projection per non-empty pair (55 at full scale), one
        drive per population (two with k_scale < 1 and Poisson drive). ``metadata`` holds
        ``reference_rates_hz``, ``parameters`` (JSON-serializable) and ``sources``.
    """
    _check_args(scale, k_scale, drive, thalamus, v0, dt_ms)
    p = derive_parameters(scale, k_scale, drive, v0, dt_ms)
    net = Network(f"microcircuit_scale{scale:g}_k{k_scale:g}")
    pops = []
    for i, name in enumerate(POPULATIONS):
        v_init = Normal(p["v0_mean_mV"][i], p["v0_std_mV"][i])
        pops.append(net.population(name, p["sizes"][i], "lif_exp", NEURON_PARAMS, v_init))
    for a, post in enumerate(pops):
        for b, pre in enumerate(pops):
            w = p["weight_mean_pA"][a][b]
            weight = Normal(w, abs(w) * WEIGHT_REL_STD, *((0.0, None) if w >= 0 else (None, 0.0)))
            d = p["delay_mean_ms"][a][b]
            delay = Normal(d, d * DELAY_REL_STD, low=dt_ms)
            if p["num_synapses"][a][b] > 0:
                net.connect(pre, post, FixedTotalNumber(p["num_synapses"][a][b]), weight, delay)
    for i, pop in enumerate(pops):
        if drive == "poisson":
            net.add(PoissonDrive(pop, BG_RATE_HZ, p["weight_ext_pA"], p["k_ext"][i]))
        if p["dc_pA"][i] != 0.0:
            net.add(DCDrive(pop, p["dc_pA"][i]))
    if thalamus:
        _add_thalamus(net, pops, p["thalamus"], scale, k_scale, dt_ms)
    net.metadata.update(
        model="microcircuit",
        sources=list(SOURCES),
        reference_rates_hz=dict(zip(POPULATIONS, PEERS_NEST_RATES_HZ, strict=True)),
        reference_rates_source="PEERS.md: NEST 3.10, full scale, 2 threads, dt 0.1 ms, "
        "Poisson drive, 500 ms warm-up + 1 s, one run",
        reference_rates_inm6_hz=dict(zip(POPULATIONS, FULL_MEAN_RATES_HZ, strict=True)),
        reference_rates_inm6_source="INM-6/microcircuit-PD14-model network_params.py "
        "full_mean_rates (one NEST run, 4 threads, full scale)",
        parameters=p,
    )
    return net


def _add_thalamus(net: Network, pops, th: dict, scale: float, k_scale: float,
                  dt_ms: float) -> None:
    """The reference's thalamic pulse: 902 Poisson sources at 120 Hz for 10 ms from 700 ms,
    shared by their targets (NEST: parrot neurons fed by a poisson_generator).

    Its synapse numbers scale with ``scale * k_scale`` like the recurrent ones, so that the
    thalamic in-degree is kept at any scale. (The reference scales them by k_scale only,
    which multiplies the in-degree by 1/scale on reduced networks.)
    """
    source = net.population("TH", th["n_neurons"], "poisson_source", {
        "rate_hz": th["rate_hz"], "start_ms": th["start_ms"],
        "stop_ms": th["start_ms"] + th["duration_ms"]})
    w = th["weight_pA"] / math.sqrt(k_scale)
    weight = Normal(w, w * WEIGHT_REL_STD, 0.0, None)
    d = th["delay_mean_ms"]
    delay = Normal(d, d * th["delay_rel_std"], low=dt_ms)
    for post, n_full in zip(pops, th["full_num_synapses"], strict=True):
        n = int(round(n_full * scale * k_scale))
        if n > 0:
            net.connect(source, post, FixedTotalNumber(n), weight, delay)


def derive_parameters(scale: float, k_scale: float, drive: str, v0: str, dt_ms: float) -> dict:
    """Every number of the network as plain Python values (JSON-serializable).

    Mirrors ``Network.__derive_parameters`` of the reference implementation.
    """
    n_full = np.array(FULL_SIZES, float)
    full_syn = synapse_numbers(CONN_PROBS, n_full, n_full)
    sizes = np.round(n_full * scale).astype(int)
    num_syn = np.round(full_syn * scale * k_scale).astype(int)
    k_ext = np.round(np.array(K_EXT, float) * k_scale).astype(int)
    tau_syn = NEURON_PARAMS["tau_syn_ex"]
    factor = psc_over_psp(NEURON_PARAMS["C_m"], NEURON_PARAMS["tau_m"], tau_syn)

    psp = np.tile(np.array([PSP_EXC_MV, G * PSP_EXC_MV]), (8, 4))
    psp[0, 2] = 2.0 * PSP_EXC_MV  # L4E -> L2/3E doubled
    w_full = psp * factor
    w_ext_full = PSP_EXC_MV * factor
    dc = np.zeros(8)
    if drive == "dc":
        dc = BG_RATE_HZ * np.array(K_EXT, float) * w_ext_full * tau_syn * 0.001
    w, w_ext = w_full, w_ext_full
    if k_scale != 1.0:
        w, w_ext = w_full / math.sqrt(k_scale), w_ext_full / math.sqrt(k_scale)
        indegree = full_syn / n_full[:, None]
        input_rec = np.sum(w_full * indegree * np.array(FULL_MEAN_RATES_HZ), axis=1)
        dc = dc + 0.001 * tau_syn * (1.0 - math.sqrt(k_scale)) * input_rec
        if drive == "poisson":
            input_ext = w_ext_full * np.array(K_EXT, float) * BG_RATE_HZ
            dc = dc + 0.001 * tau_syn * (1.0 - math.sqrt(k_scale)) * input_ext
    delay = np.tile(np.array([DELAY_EXC_MS, DELAY_INH_MS]), (8, 4))
    th_syn = synapse_numbers([THALAMUS["conn_probs"]], [THALAMUS["n_neurons"]], n_full)[0]
    return {
        "populations": list(POPULATIONS),
        "full_sizes": list(FULL_SIZES),
        "scale": float(scale),
        "k_scale": float(k_scale),
        "drive": drive,
        "dt_ms": float(dt_ms),
        "sizes": sizes.tolist(),
        "conn_probs": [list(row) for row in CONN_PROBS],
        "full_num_synapses": full_syn.tolist(),
        "num_synapses": num_syn.tolist(),
        "neuron_model": "lif_exp",
        "neuron_params": dict(NEURON_PARAMS),
        "v0_type": v0,
        "v0_mean_mV": list(V0[v0][0]),
        "v0_std_mV": list(V0[v0][1]),
        "psp_exc_mV": PSP_EXC_MV,
        "psc_over_psp_pA_per_mV": factor,
        "g": G,
        "weight_rel_std": WEIGHT_REL_STD,
        "weight_mean_pA": w.tolist(),
        "bg_rate_hz": BG_RATE_HZ,
        "K_ext_full": list(K_EXT),
        "k_ext": k_ext.tolist(),
        "weight_ext_pA": float(w_ext),
        "dc_pA": dc.tolist(),
        "full_mean_rates_hz": list(FULL_MEAN_RATES_HZ),
        "delay_mean_ms": delay.tolist(),
        "delay_rel_std": DELAY_REL_STD,
        "delay_low_ms": float(dt_ms),
        "thalamus": dict(
            THALAMUS,
            conn_probs=list(THALAMUS["conn_probs"]),
            full_num_synapses=th_syn.tolist(),
            weight_pA=PSP_EXC_MV * factor,
        ),
    }


def _check_args(scale, k_scale, drive, thalamus, v0, dt_ms) -> None:
    for name, value in (("scale", scale), ("k_scale", k_scale)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (0.0 < value <= 1.0)
        ):
            raise ConfigError(f"microcircuit: {name} must be in (0, 1], got {value!r}")
    smallest = min(FULL_SIZES)
    if round(smallest * scale) < 1:
        raise ConfigError(
            f"microcircuit: scale={scale!r} leaves population L5I empty; "
            f"use scale >= {0.5 / smallest:.2g}"
        )
    if drive not in ("poisson", "dc"):
        raise ConfigError(f"microcircuit: drive must be 'poisson' or 'dc', got {drive!r}")
    if v0 not in V0:
        raise ConfigError(f"microcircuit: v0 must be one of {sorted(V0)}, got {v0!r}")
    if (
        isinstance(dt_ms, bool)
        or not isinstance(dt_ms, int | float)
        or not (math.isfinite(dt_ms) and 0.0 < dt_ms <= MAX_DT_MS)
    ):
        raise ConfigError(f"microcircuit: dt_ms must be in (0, {MAX_DT_MS}] ms, got {dt_ms!r}")
    if not isinstance(thalamus, bool):
        raise ConfigError(f"microcircuit: thalamus must be True or False, got {thalamus!r}")
