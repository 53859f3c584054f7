"""The benchmark networks, described once for both peers (brainmac_peer.py, nest_peer.py).

Models:

- ``microcircuit``: Potjans & Diesmann (2014), ``--scale`` (neurons), ``--k-scale``
  (in-degrees), ``--drive poisson|dc``; its delays are drawn for the run's ``--dt``.
- ``brunel``: NEST's brunel_delta example, ``--order`` (N = 5 order, in-degree 0.1 N).
- ``random``: the scaling sweep's network: Brunel's model with ``--neurons`` N and a fixed
  in-degree ``--indegree`` K (0.8 K excitatory, 0.2 K inhibitory: epsilon = K / N), so
  that the work per neuron stays the same as N grows (g = 5, eta = 2, J = 0.1 mV, delay
  1.5 ms: the asynchronous irregular regime of the example).
"""

from __future__ import annotations

import argparse

from brainmac.models import build
from brainmac.network import Network

MODEL_NAMES = ("brunel", "microcircuit", "random")


def add_network_args(parser: argparse.ArgumentParser) -> None:
    """The options that choose a benchmark network."""
    parser.add_argument("--model", choices=MODEL_NAMES, default="brunel")
    parser.add_argument("--order", type=int, default=2500, help="brunel: N_E = 4 order")
    parser.add_argument("--scale", type=float, default=1.0, help="microcircuit: neurons")
    parser.add_argument("--k-scale", type=float, default=1.0, help="microcircuit: in-degree")
    parser.add_argument("--drive", choices=["poisson", "dc"], default="poisson",
                        help="microcircuit: external drive")
    parser.add_argument("--neurons", type=int, default=10_000, help="random: neurons")
    parser.add_argument("--indegree", type=int, default=1000, help="random: synapses/neuron")


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """The options of one run: threads, measured window, warm-up, step."""
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=float, default=1000.0, help="measured time (ms)")
    parser.add_argument("--warmup", type=float, default=0.0, help="unmeasured warm-up (ms)")
    parser.add_argument("--dt", type=float, default=0.1, help="time step (ms)")


def network_from_args(args: argparse.Namespace) -> Network:
    """The network ``add_network_args``' options describe, at step ``args.dt`` (ms)."""
    if args.model == "brunel":
        return build("brunel", order=args.order)
    if args.model == "random":
        return random_network(args.neurons, args.indegree)
    return build("microcircuit", scale=args.scale, k_scale=args.k_scale, drive=args.drive,
                 dt_ms=args.dt)


def random_network(n_neurons: int, indegree: int) -> Network:
    """Brunel's network with N = ``n_neurons`` (a multiple of 5) and in-degree ``indegree``."""
    if n_neurons < 5 or n_neurons % 5 or not 0 < indegree <= n_neurons:
        raise SystemExit(f"random: need neurons a multiple of 5 and 0 < indegree <= neurons, "
                         f"got {n_neurons}, {indegree}")
    net = build("brunel", order=n_neurons // 5, epsilon=indegree / n_neurons)
    net.name = f"random_n{n_neurons}_k{indegree}"
    return net
