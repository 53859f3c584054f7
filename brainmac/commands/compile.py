"""``brainmac compile``: compile a model or a network file into a store directory.

Examples::

    brainmac compile brunel --scale 0.1 -o brunel.store
    brainmac compile microcircuit --dt 0.1 --precision seed -o mc.store
    brainmac compile my_network.py -o mine.store      # a file defining network()
"""

from __future__ import annotations

import argparse
import time

from brainmac.commands.options import (
    MODELS,
    PARTITION_HELP,
    PROFILES,
    ROUNDING_HELP,
    ROUNDINGS,
    SUBSTEP_HELP,
    positive_float,
    positive_int,
    substep_bits,
)


def register(sub) -> None:
    """Add the ``compile`` subcommand (argparse only: nothing heavy is imported here)."""
    p = sub.add_parser(
        "compile", help="compile a network once into a store directory (run it many times)",
        description="Quantize, partition and pack a network, partition by partition, into a "
        "store directory: manifest.json and flat .npy arrays, written atomically. Run it with "
        "`brainmac run STORE`, inspect it with `brainmac info STORE`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help=f"{' | '.join(MODELS)} | path/to/network.py (a Python file defining "
                   "network() that returns a brainmac.Network)")
    p.add_argument("-o", "--out", required=True, metavar="STORE", help="store directory")
    p.add_argument("--precision", choices=PROFILES, default="seed", help="numeric profile")
    p.add_argument("--dt", type=positive_float, default=0.1, help="time step in ms")
    p.add_argument("--seed", type=int, default=1, help="seed of every random draw")
    p.add_argument("--rounding", choices=ROUNDINGS, default="stochastic",
                   help=ROUNDING_HELP)
    p.add_argument("--substep-bits", type=substep_bits, default=0, metavar="K",
                   help=SUBSTEP_HELP)
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="fraction of neurons, in (0, 1] (Brunel: order = 2500 x scale)")
    p.add_argument("--k-scale", type=positive_float, default=1.0,
                   help="fraction of in-degree, in (0, 1], with DC compensation (microcircuit)")
    p.add_argument("--drive", choices=("poisson", "dc"), default="poisson",
                   help="external input of the microcircuit")
    p.add_argument("--partition-size", type=positive_int, default=None, help=PARTITION_HELP)
    p.add_argument("--threads", type=positive_int, default=1,
                   help="partitions built at once; each holds about one partition in memory")
    p.add_argument("--force", action="store_true", help="replace an existing store")
    p.add_argument("--quiet", action="store_true", help="no progress, only the summary")


def load_network_file(path: str):
    """Run a Python file and return what its ``network()`` returns (a Network)."""
    import importlib.util
    from pathlib import Path

    from brainmac.errors import ConfigError
    from brainmac.network import Network

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"network file {file} does not exist")
    spec = importlib.util.spec_from_file_location(f"brainmac_network_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ConfigError(f"{file}:{err.lineno}: syntax error: {err.msg}") from None
    build = getattr(module, "network", None)
    if not callable(build):
        raise ConfigError(f"{file} defines no function network()")
    net = build()
    if not isinstance(net, Network):
        raise ConfigError(f"{file}: network() returned {type(net).__name__}, not a "
                          "brainmac.Network")
    return net


def _network(args):
    from brainmac.errors import ConfigError
    from brainmac.runner import JobConfig, build_network

    if args.model in MODELS:
        return build_network(JobConfig(model=args.model, scale=args.scale, k_scale=args.k_scale,
                                       drive=args.drive, dt_ms=args.dt))
    if args.model.endswith(".py"):
        return load_network_file(args.model)
    raise ConfigError(f"unknown model {args.model!r}; choose one of: {', '.join(MODELS)}, "
                      "or a network file ending in .py")


def main(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from brainmac.compile.profiles import with_rounding
    from brainmac.store import read_manifest, write_store

    start = time.perf_counter()
    net = _network(args)
    with Progress(TextColumn("[bold]compile"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total} partitions"), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=args.quiet) as bar:
        task = bar.add_task("compile", total=None)
        write_store(net, args.out, profile=with_rounding(args.precision, args.rounding),
                    dt_ms=args.dt, seed=args.seed,
                    partition_size=args.partition_size,
                    threads=args.threads, overwrite=args.force,
                    substep_bits=args.substep_bits,
                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    wall = time.perf_counter() - start
    manifest = read_manifest(args.out)
    n = manifest["synapses"]
    print(f"wrote {args.out}: {manifest['neurons']:,} neurons, {n:,} synapses, "
          f"{manifest['bytes_per_synapse']:.2f} bytes/synapse, in {wall:.1f} s "
          f"({n / max(wall, 1e-9):,.0f} synapses/s)")
    return 0
