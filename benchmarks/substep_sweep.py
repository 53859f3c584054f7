"""Sub-step spike times against NEST at 0.1 ms: the microcircuit at coarse dt and k bits.

    python benchmarks/substep_sweep.py --out /tmp/substep --seeds 3 \\
        --dts 1,0.5 --bits 0,2,4,8 --profiles seed,float64 [--nest-grid] [--nest-precise] \\
        [--variant ...]

NEST runs (0.1 ms; with --nest-grid also NEST's own grid at each dt, with --nest-precise
NEST's precise-timing models, ``*_ps``, at each dt) are cached in
``OUT/nest-[ps-]<dt>-<drive>.pkl`` and shared by every brainmac configuration. Each
configuration's summary (rates, CV ISI, correlations per population, verdicts as
``brainmac validate``, real-time factor) is appended to ``OUT/results.jsonl`` as soon as it is done.

Variants (``--variant``), to find what restores the asynchronous state:
    plain        the network built for the run's dt (delays redrawn below dt)
    fine-delays  the network built for dt 0.1 (delays below dt rounded up to one step)
    dc           the Poisson drive replaced by its mean (DC)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import time
from pathlib import Path

from brainmac.validation.runs import (
    ValidationConfig,
    build_network,
    run_brainmac,
    run_reference,
)
from brainmac.validation.spread import cell_verdicts, default_tolerance, summarize


def nest_runs(cfg: ValidationConfig, out: Path, log) -> list:
    """NEST's runs of ``cfg`` (cached by dt and drive)."""
    kind = "ps-" if cfg.nest_precise else ""
    path = out / f"nest-{kind}{cfg.dt_ms:g}-{cfg.drive}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    net = build_network(cfg)
    runs = []
    for seed in cfg.seed_list:
        runs.append(run_reference(net, cfg, seed))
        log(f"NEST {kind}dt {cfg.dt_ms} seed {seed}: {sum(runs[-1].wall_s.values()):.0f} s")
    path.write_bytes(pickle.dumps(runs))
    return runs


def summary_row(label: dict, runs: list, reference: list, tolerance: float,
                bio_s: float) -> dict:
    """One configuration: per population mean rate / CV / corr over seeds, the verdicts."""
    cells = cell_verdicts([r.distributions for r in reference],
                          [r.distributions for r in runs], tolerance)
    pops = {}
    for pop in runs[0].summary:
        pops[pop] = {k: sum(r.summary[pop][k] for r in runs) / len(runs)
                     for k in ("rate_mean_hz", "cv_mean", "corr_mean")}
    # brainmac's "simulate" spans warm-up + T; NEST times its warm-up apart
    sim_s = [r.wall_s.get("simulate", 0.0) + r.wall_s.get("warmup", 0.0) for r in runs]
    return {**label, "populations": pops, "summary": summarize(cells),
            "rtf": [s / bio_s for s in sim_s],
            "saturation": [r.info.get("saturation") for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dts", default="1,0.5")
    ap.add_argument("--bits", default="0,2,4,8")
    ap.add_argument("--profiles", default="seed,float64")
    ap.add_argument("--variant", default="plain", choices=("plain", "fine-delays", "dc"))
    ap.add_argument("--nest-grid", action="store_true")
    ap.add_argument("--nest-precise", action="store_true",
                    help="also NEST's precise-timing models (*_ps) at each dt")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"

    def log(text: str) -> None:
        print(time.strftime("%H:%M:%S"), text, flush=True)

    drive = "dc" if args.variant == "dc" else "poisson"
    base = ValidationConfig(model="microcircuit", scale=0.1, k_scale=1.0, drive=drive,
                            duration_ms=1000.0, warmup_ms=200.0, dt_ms=0.1,
                            seeds=args.seeds, threads=args.threads)
    reference = nest_runs(base, out, log)
    tolerance = default_tolerance(args.seeds)
    bio_s = (base.warmup_ms + base.duration_ms) / 1000.0
    for dt in [float(x) for x in args.dts.split(",")]:
        cfg_dt = dataclasses.replace(base, dt_ms=dt)
        if args.nest_grid:
            grid = nest_runs(cfg_dt, out, log)
            row = summary_row({"simulator": "NEST", "dt": dt, "variant": args.variant},
                              grid, reference, tolerance, bio_s)
            with results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            log(f"NEST grid dt {dt}: {row['summary']['outside']} outside")
        if args.nest_precise:
            precise = nest_runs(dataclasses.replace(cfg_dt, nest_precise=True), out, log)
            row = summary_row({"simulator": "NEST precise", "dt": dt, "variant": args.variant},
                              precise, reference, tolerance, bio_s)
            with results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            rates = " ".join(f"{p['rate_mean_hz']:.1f}" for p in row["populations"].values())
            log(f"NEST precise dt {dt}: {row['summary']['outside']} outside, rates {rates}, "
                f"rtf {min(row['rtf']):.2f}")
        net = build_network(base if args.variant == "fine-delays" else cfg_dt)
        for bits in [int(x) for x in args.bits.split(",") if x.strip()]:
            for profile in args.profiles.split(","):
                cfg = dataclasses.replace(cfg_dt, profile=profile, substep_bits=bits)
                runs = [run_brainmac(net, cfg, seed) for seed in cfg.seed_list]
                row = summary_row({"simulator": "brainmac", "dt": dt, "bits": bits,
                                   "profile": profile, "variant": args.variant},
                                  runs, reference, tolerance, bio_s)
                with results.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                rates = " ".join(f"{p['rate_mean_hz']:.1f}" for p in row["populations"].values())
                log(f"dt {dt} k {bits} {profile}: {row['summary']['outside']} outside, "
                    f"rates {rates}, rtf {min(row['rtf']):.2f}")


if __name__ == "__main__":
    main()
