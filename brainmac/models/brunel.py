"""The Brunel (2000) sparse balanced network of excitatory and inhibitory LIF neurons.

Brunel N (2000) Dynamics of sparsely connected networks of excitatory and inhibitory spiking
neurons. J Comput Neurosci 8:183-208. Parameters as in NEST's example
``pynest/examples/brunel_delta_nest.py`` (nest/nest-simulator; code written anew here).

Every neuron is a leaky integrate-and-fire neuron with delta synapses (``lif_delta``, NEST's
``iaf_psc_delta``)::

    tau_m dV/dt = -(V - E_L) + tau_m * sum_j J_j sum_k delta(t - t_j^k - D)

A spike of presynaptic neuron j makes V jump by J_j (mV) after the delay D; V >= V_th emits a
spike, and V is clamped to V_reset for t_ref. Each neuron receives C_E = epsilon N_E synapses
from the excitatory and C_I = epsilon N_I from the inhibitory population (fixed in-degree,
multapses and autapses allowed, as in NEST), with J_E = J and J_I = -g J, plus C_E external
Poisson sources of rate

    nu_ext = eta * nu_th,   nu_th = V_th / (J C_E tau_m)

(the rate at which C_E sources of weight J bring the free membrane to threshold). NEST's
example uses one ``poisson_generator`` of rate ``1000 * nu_ext * C_E`` Hz (tau_m in ms), which
is ``PoissonDrive(rate_hz=1000 * nu_ext, indegree=C_E)`` here.
"""

from __future__ import annotations

import math

from brainmac.errors import ConfigError
from brainmac.network import FixedIndegree, Network, Normal, PoissonDrive

#: Neuron parameters of NEST's brunel_delta_nest.py (mV, ms, pF); V_th is ``theta``.
NEURON_PARAMS = {"C_m": 1.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_th": 20.0, "V_reset": 0.0}

#: NEST 3.10 on this machine (PEERS.md): order 2500, g 5, eta 2, V0 = 0, V_reset = 0 mV,
#: 2 threads, dt 0.1 ms, 1 s. Mean rate over all neurons and mean CV of the ISI.
REFERENCE = {"rate_hz": 32.0, "cv_isi": 0.175, "source": "PEERS.md, NEST 3.10.0, one run"}


def brunel(
    order: int = 2500,
    g: float = 5.0,
    eta: float = 2.0,
    J: float = 0.1,
    delay_ms: float = 1.5,
    epsilon: float = 0.1,
    v0: float | Normal = 0.0,
    v_reset_mv: float = 0.0,
) -> Network:
    """Build the Brunel (2000) network with the parameters of NEST's brunel_delta example.

    Parameters
    ----------
    order : int
        N_E = 4 * order excitatory and N_I = order inhibitory neurons (default 2500:
        12,500 neurons, 1.56e7 synapses).
    g : float
        Relative inhibitory strength, J_I = -g J (dimensionless).
    eta : float
        External rate relative to the threshold rate nu_th (dimensionless).
    J : float
        Excitatory PSP amplitude (mV), > 0.
    delay_ms : float
        Synaptic delay of every recurrent synapse (ms).
    epsilon : float
        Connection probability, in (0, 1]; in-degrees C_E = int(epsilon N_E),
        C_I = int(epsilon N_I) as NEST's example truncates them.
    v0 : float or Normal
        Initial membrane potential (mV); NEST's example starts every neuron at V_m = 0.
    v_reset_mv : float
        Reset potential (mV). NEST's example uses 0 mV; Brunel (2000) uses 10 mV.

    Returns
    -------
    Network
        Populations ``E`` and ``I``; ``metadata`` holds the parameters, the derived rates
        and in-degrees, and the NEST reference rate (valid for the defaults only).
    """
    _check(order, g, eta, J, delay_ms, epsilon)
    n_e, n_i = 4 * int(order), int(order)
    c_e, c_i = int(epsilon * n_e), int(epsilon * n_i)
    if c_e < 1:
        raise ConfigError(
            f"brunel: epsilon * 4 * order must give C_E >= 1, got epsilon={epsilon}, order={order}"
        )
    params = dict(NEURON_PARAMS, V_reset=float(v_reset_mv))
    nu_th_hz = 1000.0 * params["V_th"] / (J * c_e * params["tau_m"])
    nu_ext_hz = eta * nu_th_hz

    net = Network(f"brunel_order{order}")
    exc = net.population("E", n_e, "lif_delta", params, v_init=v0)
    inh = net.population("I", n_i, "lif_delta", params, v_init=v0)
    for post in (exc, inh):
        net.connect(exc, post, FixedIndegree(c_e), weight=J, delay=delay_ms)
        net.connect(inh, post, FixedIndegree(c_i), weight=-g * J, delay=delay_ms)
        net.add(PoissonDrive(post, rate_hz=nu_ext_hz, weight=J, indegree=c_e))

    shape = (order, g, eta, J, delay_ms, epsilon)
    is_default = shape == (2500, 5.0, 2.0, 0.1, 1.5, 0.1) and v0 == 0.0 and v_reset_mv == 0.0
    net.metadata.update(
        model="brunel",
        source="Brunel 2000, J Comput Neurosci 8:183; NEST pynest/examples/brunel_delta_nest.py",
        parameters={
            "order": int(order),
            "N_E": n_e,
            "N_I": n_i,
            "C_E": c_e,
            "C_I": c_i,
            "g": float(g),
            "eta": float(eta),
            "J_mV": float(J),
            "J_I_mV": float(-g * J),
            "delay_ms": float(delay_ms),
            "epsilon": float(epsilon),
            "v0_mV": v0 if isinstance(v0, float | int) else repr(v0),
            "neuron_model": "lif_delta",
            "neuron_params": params,
            "nu_th_hz": nu_th_hz,
            "nu_ext_per_source_hz": nu_ext_hz,
            "poisson_total_rate_hz": nu_ext_hz * c_e,
        },
        reference=dict(REFERENCE) if is_default else None,
        # E and I neurons have the same parameters, in-degrees, weights and drive, so each
        # population's rate is the network's (NEST, 3 seeds: E 32.14-32.24, I 32.16-32.24 Hz).
        reference_rates_hz={"E": REFERENCE["rate_hz"], "I": REFERENCE["rate_hz"]}
        if is_default else {},
        reference_rates_source=REFERENCE["source"] + "; the mean over all neurons, which "
        "is each population's (E and I receive statistically identical input)",
    )
    return net


def _check(order, g, eta, J, delay_ms, epsilon) -> None:
    if isinstance(order, bool) or int(order) != order or order < 1:
        raise ConfigError(f"brunel: order must be an integer >= 1, got {order!r}")
    for name, value in (("g", g), ("eta", eta), ("J", J), ("delay_ms", delay_ms)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"brunel: {name} must be a finite number, got {value!r}")
    if J <= 0:
        raise ConfigError(f"brunel: J must be > 0 mV, got {J}")
    if g < 0 or eta < 0:
        raise ConfigError(f"brunel: g and eta must be >= 0, got g={g}, eta={eta}")
    if delay_ms <= 0:
        raise ConfigError(f"brunel: delay_ms must be > 0 ms, got {delay_ms}")
    if not (0.0 < epsilon <= 1.0):
        raise ConfigError(f"brunel: epsilon must be in (0, 1], got {epsilon!r}")
