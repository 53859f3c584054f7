"""``brainmac validate``: brainmac against NEST's own seed-to-seed spread, or published rates.

Examples::

    brainmac validate microcircuit --reference nest          # scale 0.1, 2 seeds, 2-4 min
    brainmac validate microcircuit --reference nest --precision float64 --seeds 5
    brainmac validate brunel --reference nest --scale 1 --seeds 3
    brainmac validate microcircuit --reference published --scale 1
"""

from __future__ import annotations

import argparse
import dataclasses

from brainmac.commands.options import (
    MODELS,
    PROFILES,
    ROUNDINGS,
    SUBSTEP_HELP,
    duration_ms,
    positive_float,
    positive_int,
    substep_bits,
)

EPILOG = """\
method: per population, the distributions of firing rate, CV of ISI and spike-count
correlation (2 ms bins, 200 neurons) of S brainmac and S NEST runs (seeds 1..S, same network
description, drive, dt, warm-up and duration). A cell (population, statistic) is inside when,
for the two-sample KS distance and for the Earth Mover's Distance, the median over the S*S
brainmac-NEST pairs is at most TOL times the largest over the NEST-NEST pairs; TOL defaults
to 1.9, 1.3, 1.1 for 2, 3, 4 seeds and 1 from 5 on (about 5% of a perfect simulator's cells
fall outside by chance). The run passes (exit status 0) when no more cells are outside than
chance allows (3 of the microcircuit's 24, 1 of Brunel's 6), else fails (exit status 1).
See docs/fidelity.md.

cost on a 2-core machine (measured): the defaults (microcircuit, scale 0.1, 200 ms warm-up
+ 1 s, 2 seeds) take about 2 min idle, 4 min under load: per seed ~40 s NEST (14 s of it
building) and ~10 s brainmac (6 s compile). Brunel at --scale 1 (order 2500, the published
network): ~42 s NEST and ~6 s brainmac per seed. Time grows with scale * (warm-up +
duration) * seeds. Two seeds are the least that gives a spread, and too few to place one
odd run: use --seeds 3 or more for a verdict (the literature uses 10 seeds, 10 s or more).
"""


def register(sub) -> None:
    """Add the ``validate`` subcommand (argparse only: nothing heavy is imported here)."""
    p = sub.add_parser(
        "validate", help="compare brainmac with NEST (seed-to-seed spread) or published rates",
        description="Run a model in brainmac and in NEST with several seeds and judge, per "
        "population and statistic, whether the distance between the simulators lies within "
        "NEST's own seed-to-seed spread; or compare mean rates with published values. Writes "
        "validation.json, validation.md and distributions.png.",
        epilog=EPILOG, formatter_class=_Formatter)
    p.add_argument("model", metavar="MODEL", help=f"model: {' | '.join(MODELS)}")
    p.add_argument("--reference", choices=("nest", "published"), default="nest",
                   help="NEST runs (needs pip install brainmac[reference]) or published rates")
    p.add_argument("--scale", type=positive_float, default=0.1,
                   help="fraction of neurons, in (0, 1] (Brunel: order = 2500 x scale)")
    p.add_argument("--k-scale", type=positive_float, default=1.0,
                   help="fraction of in-degree, in (0, 1] (microcircuit)")
    p.add_argument("--drive", choices=("poisson", "dc"), default="poisson",
                   help="external input of the microcircuit")
    p.add_argument("--duration", type=duration_ms, default=1000.0,
                   help="analysed biological time after the warm-up (1s, 500ms, or ms)")
    p.add_argument("--warmup", type=duration_ms, default=200.0,
                   help="biological time simulated before the analysed window")
    p.add_argument("--dt", type=positive_float, default=0.1, help="time step in ms (both sides)")
    p.add_argument("--precision", type=profile_list, default=["seed"], metavar="PROFILES",
                   help=f"brainmac's numeric profile(s), comma-separated, of: "
                   f"{', '.join(PROFILES)}; several share the NEST runs")
    p.add_argument("--rounding", choices=ROUNDINGS, default="stochastic",
                   help="weight rounding of the fixed-point profiles: stochastic, keeping each "
                   "projection's mean and variance, or to the nearest step")
    p.add_argument("--substep-bits", type=substep_bits, default=0, metavar="K",
                   help=f"brainmac's sub-steps: {SUBSTEP_HELP}")
    p.add_argument("--seeds", type=positive_int, default=2,
                   help="runs per simulator, seeds 1..S (>= 2 against NEST)")
    p.add_argument("--threads", type=positive_int, default=2,
                   help="brainmac threads and NEST local_num_threads")
    p.add_argument("--tolerance", type=positive_float, default=None,
                   help="largest distance/spread ratio called inside (default: 1.9, 1.3, 1.1 "
                   "for 2, 3, 4 seeds, 1 from 5 on)")
    p.add_argument("--out", default=None,
                   help="output directory (default: brainmac-out/validate-MODEL)")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the table")


def profile_list(text: str) -> list[str]:
    """'seed' or 'seed,float64' -> a list of known profiles, without repeats."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose profiles among {', '.join(PROFILES)}, comma-separated")
    return names


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Raw epilog; every option's default in its help, except None and False."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in action.help:
            return action.help
        return f"{action.help} (default: %(default)s)"


def main(args) -> int:
    """Run ``brainmac validate``; bad input raises ConfigError (exit status 2)."""
    from rich.console import Console

    from brainmac.errors import ConfigError
    from brainmac.runner import prepare_output
    from brainmac.validation import ValidationConfig, validate_published
    from brainmac.validation.report import render, write_outputs
    from brainmac.validation.study import require_nest, validate_nest_profiles

    if args.model not in MODELS:
        raise ConfigError(f"unknown model {args.model!r}; choose one of: {', '.join(MODELS)}")
    cfg = ValidationConfig(model=args.model, reference=args.reference, scale=args.scale,
                           k_scale=args.k_scale, drive=args.drive, duration_ms=args.duration,
                           warmup_ms=args.warmup, dt_ms=args.dt, profile=args.precision[0],
                           rounding=args.rounding, seeds=args.seeds, threads=args.threads,
                           tolerance=args.tolerance, substep_bits=args.substep_bits)
    cfg.check()
    if cfg.reference == "nest":
        require_nest()  # fail before any work if NEST is missing
    out = prepare_output(args.out or f"brainmac-out/validate-{cfg.model}")
    log = Console(stderr=True, quiet=args.quiet)
    with log.status("validating (see --help for the expected time)"):
        if cfg.reference == "nest":
            results = validate_nest_profiles(cfg, args.precision, progress=log.log)
        else:
            results = [validate_published(dataclasses.replace(cfg, profile=p),
                                          progress=log.log) for p in args.precision]
    console = Console()
    paths = []
    for result in results:
        render(console, result)
        suffix = f"-{result.config.label}" if len(results) > 1 else ""
        paths += write_outputs(out, result, _command(args), suffix)
    log.print(f"output: {', '.join(str(p) for p in paths)}")
    return 0 if all(_passed(r) for r in results) else 1


def _passed(result) -> bool:
    """NEST validations pass without an outside cell; a published comparison always ends 0."""
    return getattr(result, "summary", {"passed": True})["passed"]


def _command(args) -> str:
    """The command line equivalent to ``args`` (for the report)."""
    parts = ["brainmac", "validate", args.model, "--reference", args.reference,
             "--scale", f"{args.scale:g}", "--k-scale", f"{args.k_scale:g}",
             "--drive", args.drive, "--duration", f"{args.duration:g}ms",
             "--warmup", f"{args.warmup:g}ms", "--dt", f"{args.dt:g}",
             "--precision", ",".join(args.precision), "--rounding", args.rounding,
             "--seeds", str(args.seeds), "--substep-bits", str(args.substep_bits),
             "--threads", str(args.threads)]
    if args.tolerance is not None:
        parts += ["--tolerance", f"{args.tolerance:g}"]
    return " ".join(parts)
