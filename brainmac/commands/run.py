"""``brainmac run``: simulate a model, show progress, print and write the report."""

from __future__ import annotations

import argparse
import time

from brainmac.commands.options import (
    MODELS,
    PARTITION_HELP,
    PROFILES,
    ROUNDING_HELP,
    ROUNDINGS,
    ROW_LAYOUTS,
    SUBSTEP_HELP,
    duration_ms,
    positive_float,
    positive_int,
    record_spec,
    substep_bits,
)


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="simulate a model (default: the full-scale PD14 microcircuit)",
        description="Simulate a built-in model and write spikes.h5 (SONATA), report.json, "
        "raster.png and rates.png into the output directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model_arg", nargs="?", metavar="MODEL", default=None,
                   help=f"model to run: {' | '.join(MODELS)} (same as --model), or a store "
                   "directory written by `brainmac compile` (run from its memory-mapped arrays)")
    p.add_argument("--model", default=None, help="model to run (default: microcircuit)")
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="fraction of neurons, in (0, 1] (Brunel: order = 2500 x scale)")
    p.add_argument("--k-scale", type=positive_float, default=1.0,
                   help="fraction of in-degree, in (0, 1], with DC compensation (microcircuit)")
    p.add_argument("--drive", choices=("poisson", "dc"), default="poisson",
                   help="external input of the microcircuit")
    p.add_argument("--duration", type=duration_ms, default=1000.0,
                   help="measured biological time after warm-up (1s, 500ms, or ms)")
    p.add_argument("--warmup", type=duration_ms, default=500.0,
                   help="biological time simulated before the measured window")
    p.add_argument("--dt", type=positive_float, default=None,
                   help="time step in ms (default 0.1; a store's own)")
    p.add_argument("--precision", choices=PROFILES, default=None,
                   help="numeric profile: seed = int8 weights, 16-bit state (default seed; "
                   "a store's own)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of every random draw (default 1; a store's own)")
    p.add_argument("--rounding", choices=ROUNDINGS, default=None,
                   help=ROUNDING_HELP + " (a store's own)")
    p.add_argument("--substep-bits", type=substep_bits, default=None, metavar="K",
                   help=SUBSTEP_HELP + " (default 0; a store's own)")
    p.add_argument("--partition-size", type=positive_int, default=None,
                   help=PARTITION_HELP + "; built-in models only (a store keeps its own)")
    p.add_argument("--row-layout", choices=ROW_LAYOUTS, default=None,
                   help="order of the synapse rows in memory: neuron (default; faster where "
                   "few neurons spike per step) or partition (faster where many do, e.g. "
                   "the microcircuit at --dt 1); built-in models only (a store keeps the "
                   "partition layout)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="worker threads (default: all cores)")
    p.add_argument("--out", default=None, help="output directory (default: brainmac-out/MODEL)")
    p.add_argument("--record", type=record_spec, default="all",
                   help="spikes to keep: all, none, a fraction (0.1) or populations (L4E,L4I)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    p.add_argument("--checkpoint-every", type=duration_ms, default=None, metavar="TIME",
                   help="write the dynamic state to OUT/checkpoint every TIME of biological "
                   "time (1s, 500ms), flushing the spike file")
    p.add_argument("--resume", default=None, metavar="OUTDIR",
                   help="continue the interrupted run in OUTDIR from its last checkpoint "
                   "(its model and options; only --threads and --quiet apply)")


def main(args) -> int:
    from rich.console import Console

    from brainmac.runner import execute

    cfg = _resumed_config(args) if args.resume else _job_config(args)
    quiet = args.quiet or not _is_root_process()
    console = Console(stderr=True, quiet=quiet)
    with _progress_hooks(console, quiet) as hooks:
        report = execute(cfg, hooks, resume=bool(args.resume))
    if _is_root_process():
        print_summary(Console(), report, cfg.out)
        _print_mpi_summary(Console(), report)
    return 0


def _is_root_process() -> bool:
    """False on MPI ranks other than 0: only rank 0 shows progress and the summary."""
    from brainmac.parallel import is_root_process

    return is_root_process()


def _print_mpi_summary(console, report: dict) -> None:
    """One line on the ranks and the spike exchange of an MPI run (nothing otherwise)."""
    mpi = report.get("mpi")
    if mpi:
        console.print(f"MPI: {mpi['ranks']} ranks x {mpi['threads_per_rank']} threads, "
                      f"exchange {mpi['exchange']}: {mpi['communication_fraction']:.1%} of the "
                      f"simulation time, {mpi['bytes_exchanged_per_bio_s'] or 0:,.0f} bytes "
                      "per biological second")


def _job_config(args):
    from brainmac.errors import ConfigError
    from brainmac.runner import JobConfig
    from brainmac.store import is_store_dir, read_manifest

    model = args.model or args.model_arg or "microcircuit"
    if args.model and args.model_arg and args.model != args.model_arg:
        raise ConfigError(f"two models given: {args.model_arg!r} and --model {args.model!r}")
    given = {"precision": args.precision, "dt": args.dt, "seed": args.seed,
             "substep-bits": args.substep_bits, "rounding": args.rounding}
    if is_store_dir(model):
        _check_store_options(model, read_manifest(model), given)
        if args.partition_size is not None:
            raise ConfigError(f"the store {model} keeps the partitions it was compiled with; "
                              "compile another store with --partition-size to change them")
        if args.row_layout not in (None, "partition"):
            raise ConfigError(f"the store {model} holds its rows in the partition layout; "
                              "--row-layout applies to built-in models")
    elif model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}, "
                          "or a store directory")
    name = model.rstrip("/").rsplit("/", 1)[-1] or "store"
    return JobConfig(model=model, scale=args.scale, k_scale=args.k_scale, drive=args.drive,
                     profile=args.precision or "seed", dt_ms=args.dt or 0.1,
                     warmup_ms=args.warmup, duration_ms=args.duration,
                     seed=1 if args.seed is None else args.seed, threads=args.threads,
                     record=args.record, out=args.out or f"brainmac-out/{name}",
                     checkpoint_every_ms=args.checkpoint_every,
                     substep_bits=args.substep_bits or 0,
                     rounding=args.rounding or "stochastic",
                     partition_size=args.partition_size,
                     row_layout=args.row_layout or "neuron")


def _check_store_options(path: str, manifest: dict, given: dict) -> None:
    """A store fixes profile, dt and seed: refuse options that say otherwise."""
    from brainmac.errors import ConfigError

    fixed = {"precision": manifest["profile"], "dt": manifest["dt_ms"],
             "seed": manifest["seed"],
             "substep-bits": int(manifest["model"].get("substep_bits", 0)),
             "rounding": manifest["model"].get("weight_rounding", "nearest")}
    for option, value in given.items():
        if value is not None and value != fixed[option]:
            raise ConfigError(f"the store {path} was compiled with --{option} {fixed[option]}, "
                              f"not {value}; compile another store to change it")


def _resumed_config(args):
    """The job recorded by the checkpoint in ``args.resume``, with this --threads."""
    from dataclasses import replace

    from brainmac.errors import ConfigError
    from brainmac.runner import job_config_from_dict
    from brainmac.store.checkpoint import read_index

    if args.model or args.model_arg:
        raise ConfigError("--resume continues the run recorded in OUTDIR; give no MODEL")
    index = read_index(args.resume)
    cfg = job_config_from_dict(index["config"], f"{args.resume}/checkpoint")
    return replace(cfg, out=args.resume, threads=args.threads or cfg.threads)


class _progress_hooks:
    """A rich progress display for the compile and simulate stages (a context manager)."""

    def __init__(self, console, quiet: bool) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from brainmac.runner import Hooks

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[bio]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"), console=console, disable=quiet,
            transient=False)
        self.hooks = Hooks(stage=self._stage, compile_progress=self._compile,
                           run_progress=self._run)
        self._compile_task = self._run_task = None
        self._start = 0.0

    def __enter__(self):
        self.progress.__enter__()
        return self.hooks

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def _stage(self, name: str) -> None:
        if name == "simulating":
            self._start = time.perf_counter()
        elif not self.progress.disable:
            self.progress.console.log(name)

    def _compile(self, done: int, total: int) -> None:
        if self._compile_task is None:
            self._compile_task = self.progress.add_task("compile", total=total, bio="",
                                                        rate="partitions")
        self.progress.update(self._compile_task, completed=done)

    def _run(self, done: int, total: int, sim) -> None:
        dt = sim.net.dt_ms
        if self._run_task is None:
            self._run_task = self.progress.add_task("simulate", total=total, bio="", rate="")
        wall = max(sim.stats.wall_s, 1e-9)
        bio = done * dt / 1000.0
        self.progress.update(
            self._run_task, completed=done,
            bio=f"{bio:.2f}/{total * dt / 1000.0:.2f} s bio",
            rate=f"RTF {wall / max(bio, 1e-12):.2f}  {sim.stats.spikes / wall:,.0f} spikes/s")


def print_summary(console, report: dict, out: str) -> None:
    """The population table and the run's figures."""
    from rich.table import Table

    table = Table(title=f"{report['network']}  ({report['profile']}, dt {report['dt_ms']} ms, "
                  f"{report['threads']} threads)")
    for col in ("population", "neurons", "rate (Hz)", "CV ISI", "corr", "reference (Hz)"):
        table.add_column(col, justify="right")
    for name, row in report["populations"].items():
        ref = row.get("reference_rate_hz")
        table.add_row(name, f"{row['n_neurons']:,}", _fmt(row["rate_mean_hz"], 2),
                      _fmt(row["cv_mean"], 2), _fmt(row["corr_mean"], 4),
                      "-" if ref is None else f"{ref:.2f}")
    console.print(table)
    w = report["wall_s"]
    q = report["quantization_summary"]
    sat = report["saturation"]
    lines = [
        f"synapses {report['synapses']:,}   neurons {report['neurons']:,}   "
        f"bytes/synapse {report['bytes_per_synapse']:.2f}",
        f"build {w['build']:.1f} s   kernels {w['kernel_compile']:.1f} s   simulate "
        f"{w['simulate']:.1f} s for {report['biological_s']:.2f} s bio   real-time factor "
        f"{report['real_time_factor']:.2f}",
        f"synaptic events/s {report['synaptic_events_per_wall_s']:.3g}   peak RSS "
        f"{report['peak_rss_bytes'] / 2**30:.2f} GiB",
        f"saturations  V {sat['v']:,}  I_ex {sat['i_ex']:,}  I_in {sat['i_in']:,}",
        f"weights: {q['projections']} projection receptors, relative error mean "
        f"{q['mean_rel_error']:.2%} max {q['max_rel_error']:.2%}, clipped {q['clipped']:,}",
        f"output: {out}/ (spikes.h5, report.json, raster.png, rates.png)",
    ]
    for line in lines:
        console.print(line)


def _fmt(value, digits: int) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"
