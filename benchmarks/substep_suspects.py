"""What keeps a coarse step from the asynchronous state? brainmac against brainmac.

    python benchmarks/substep_suspects.py --out /tmp/suspects --seeds 2 \\
        --variants base,same-delays,dc,tau2 [--dt 1 --bits 8]

For each variant, brainmac at dt 0.1 ms without sub-steps (float64; within NEST's spread in
docs/fidelity.md) is the reference and brainmac at the coarse dt with k sub-step bits is
judged against its seed-to-seed spread, as ``brainmac validate`` judges against NEST. A
variant changes *both* sides the same way, so a gap that closes names its cause:

    base         the microcircuit as built for each side's dt (delays redrawn below dt)
    same-delays  both sides use the coarse side's delays (redrawn below the coarse dt)
    dc           both sides get the Poisson drive's mean as DC (no lumped drive)
    tau2         both sides have tau_syn 2 ms (PSP amplitudes kept) instead of 0.5 ms
    a+b          variants combined, e.g. same-delays+tau2
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import time
from pathlib import Path

from brainmac.validation.runs import ValidationConfig, build_network, run_brainmac
from brainmac.validation.spread import cell_verdicts, default_tolerance, summarize

microcircuit = importlib.import_module("brainmac.models.microcircuit")  # the module


def networks(variant: str, fine: ValidationConfig, coarse: ValidationConfig):
    """(reference network, candidate network) of one variant."""
    saved = dict(microcircuit.NEURON_PARAMS)
    if "tau2" in variant:
        microcircuit.NEURON_PARAMS.update(tau_syn_ex=2.0, tau_syn_in=2.0)
    try:
        if "dc" in variant:
            fine, coarse = (dataclasses.replace(c, drive="dc") for c in (fine, coarse))
        cand = build_network(coarse)
        ref = cand if "same-delays" in variant else build_network(fine)
    finally:
        microcircuit.NEURON_PARAMS.clear()
        microcircuit.NEURON_PARAMS.update(saved)
    return ref, cand


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--variants", default="base,same-delays,dc,tau2")
    ap.add_argument("--dt", type=float, default=1.0)
    ap.add_argument("--bits", type=int, default=8)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fine = ValidationConfig(model="microcircuit", scale=0.1, dt_ms=0.1, profile="float64",
                            seeds=args.seeds, threads=2)
    coarse = dataclasses.replace(fine, dt_ms=args.dt, substep_bits=args.bits)
    for variant in args.variants.split(","):
        ref_net, cand_net = networks(variant, fine, coarse)
        drive = "dc" if "dc" in variant else "poisson"
        ref = [run_brainmac(ref_net, dataclasses.replace(fine, drive=drive), s)
               for s in fine.seed_list]
        cand = [run_brainmac(cand_net, dataclasses.replace(coarse, drive=drive), s)
                for s in coarse.seed_list]
        cells = cell_verdicts([r.distributions for r in ref], [r.distributions for r in cand],
                              default_tolerance(args.seeds))
        row = {"variant": variant, "dt": args.dt, "bits": args.bits,
               "summary": summarize(cells),
               "reference": {p: ref[0].summary[p] for p in ref[0].summary},
               "candidate": {p: cand[0].summary[p] for p in cand[0].summary}}
        with (out / "results.jsonl").open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        fmt = " ".join
        print(time.strftime("%H:%M:%S"), variant, f"{row['summary']['outside']} outside;",
              "ref", fmt(f"{v['rate_mean_hz']:.1f}" for v in row["reference"].values()),
              "| cand", fmt(f"{v['rate_mean_hz']:.1f}" for v in row["candidate"].values()),
              flush=True)


if __name__ == "__main__":
    main()
