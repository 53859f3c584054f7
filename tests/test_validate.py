"""``brainmac validate``: the verdict logic, the reports, bad input, and (marker ``nest``) a
reduced validation against NEST that must pass for brainmac and fail for a broken network.

The NEST tests need NEST 3.10 (extra ``reference``). NEST simulates in child processes
(`brainmac.validation.runs.run_reference`); this process imports it only to skip without
it. Their thresholds come from NEST's own seed-to-seed spread, measured in the test.
"""

import dataclasses
import io
import json
import math
import os
import pickle

import numpy as np
import pytest
from rich.console import Console

from brainmac import cli
from brainmac.compile import compile_network
from brainmac.engine import Simulator
from brainmac.errors import ConfigError
from brainmac.network import DCDrive, Network, Normal, OneToOne
from brainmac.validation import (
    ValidationConfig,
    cell_verdicts,
    default_tolerance,
    validate_published,
)
from brainmac.validation.report import markdown, render, write_outputs
from brainmac.validation.runs import RunResult, _Pickler, build_network
from brainmac.validation.spread import allowed_outside, summarize
from brainmac.validation.study import NestValidation

os.environ.setdefault("PYNEST_QUIET", "1")

POPS = ("A", "B")


def fake_run(seed: int, shift: float = 0.0, n: int = 2000, simulator: str = "NEST") -> RunResult:
    """A run whose populations have normal rates, uniform CVs and normal correlations."""
    rng = np.random.default_rng(seed)
    dists = {pop: {"rate": rng.normal(5.0 + shift, 1.0, n), "cv": rng.uniform(0.3, 1.0, n),
                   "corr": rng.normal(0.01, 0.02, n)} for pop in POPS}
    summary = {pop: {"rate_mean_hz": float(d["rate"].mean()), "cv_mean": float(d["cv"].mean()),
                     "corr_mean": float(d["corr"].mean()), "n_spikes": n} for pop, d in
               dists.items()}
    return RunResult(simulator, seed, dists, summary, {"simulate": 1.0})


def fake_validation(shift: float, seeds: int = 3) -> NestValidation:
    ref = [fake_run(s) for s in range(1, seeds + 1)]
    cand = [fake_run(100 + s, shift, simulator="brainmac") for s in range(1, seeds + 1)]
    cells = cell_verdicts([r.distributions for r in ref], [r.distributions for r in cand])
    cfg = ValidationConfig(seeds=seeds)
    info = {"name": "fake", "neurons": 4000, "populations": dict.fromkeys(POPS, 2000)}
    return NestValidation(cfg, info, default_tolerance(seeds), ref, cand, cells,
                          summarize(cells), 1.0, "fake")


# -- the verdict -----------------------------------------------------------------------------

def test_default_tolerance_shrinks_to_one_with_seeds():
    assert [default_tolerance(s) for s in (2, 3, 4, 5, 10)] == [1.9, 1.3, 1.1, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least 2 seeds"):
        default_tolerance(1)


def test_allowed_outside_is_a_binomial_bound():
    assert [allowed_outside(n) for n in (0, 1, 6, 24)] == [0, 0, 1, 3]


def test_a_candidate_drawn_like_the_reference_is_inside():
    result = fake_validation(shift=0.0)
    verdicts = {c["verdict"] for stats in result.cells.values() for c in stats.values()}
    assert verdicts == {"inside"}
    assert result.summary["passed"] and result.summary["outside"] == 0


def test_a_shifted_rate_is_outside_and_fails():
    result = fake_validation(shift=0.5)
    for pop in POPS:
        rate = result.cells[pop]["rate"]
        assert rate["verdict"] == "outside"
        assert rate["ks"]["ratio"] > 3 and rate["emd"]["distance"] == pytest.approx(0.5, abs=0.1)
        assert rate["ks"]["inside"] is False and rate["emd"]["inside"] is False
        assert result.cells[pop]["cv"]["verdict"] == "inside"
    assert result.summary["outside_cells"] == ["A/rate", "B/rate"]
    assert not result.summary["passed"]  # 2 outside of 6 cells: more than chance allows (1)


def test_cell_keeps_every_distance():
    cell = fake_validation(shift=0.0, seeds=3).cells["A"]["rate"]
    assert len(cell["ks"]["reference"]) == 3 and len(cell["ks"]["cross"]) == 9
    assert cell["ks"]["spread"] == max(cell["ks"]["reference"])
    assert cell["ks"]["distance"] == pytest.approx(np.median(cell["ks"]["cross"]))
    assert math.isfinite(cell["candidate_spread"]["ks"])


def test_empty_statistics_are_undefined_not_outside():
    empty = {"A": {"cv": np.empty(0)}}
    cells = cell_verdicts([empty, empty], [empty])
    assert cells["A"]["cv"]["verdict"] == "n/a"
    assert summarize(cells) | {"outside_cells": []} == {
        "inside": 0, "outside": 0, "n/a": 1, "outside_cells": [], "allowed_outside": 0,
        "passed": True}


def test_zero_spread_accepts_only_zero_distance():
    same = {"A": {"rate": np.zeros(50)}}
    other = {"A": {"rate": np.ones(50)}}
    assert cell_verdicts([same, same], [same])["A"]["rate"]["verdict"] == "inside"
    assert cell_verdicts([same, same], [other])["A"]["rate"]["verdict"] == "outside"


def test_ks_saturation_is_caught_by_emd():
    """Two NEST seeds with disjoint rates (D_KS = 1) make any D_KS look inside; EMD does not."""
    x = np.linspace(0.0, 1.0, 100)
    ref = [{"A": {"rate": 10 + x}}, {"A": {"rate": 40 + x}}]
    cell = cell_verdicts(ref, [{"A": {"rate": 333 + x}}])["A"]["rate"]
    assert cell["ks"]["inside"] and cell["ks"]["ratio"] == 1.0
    assert not cell["emd"]["inside"] and cell["emd"]["ratio"] > 9
    assert cell["verdict"] == "outside"


def test_tolerance_override():
    ref = [{"A": {"rate": np.arange(100.0)}}, {"A": {"rate": np.arange(100.0) + 10}}]
    cand = [{"A": {"rate": np.arange(100.0) + 25}}]  # D_KS 0.25 and 0.15: median 0.2
    strict = cell_verdicts(ref, cand, tolerance=1.0)["A"]["rate"]
    loose = cell_verdicts(ref, cand, tolerance=2.5)["A"]["rate"]
    assert strict["ks"]["ratio"] == pytest.approx(2.0)
    assert (strict["verdict"], loose["verdict"]) == ("outside", "inside")


# -- reports -----------------------------------------------------------------------------

def test_reports_of_a_nest_validation(tmp_path):
    result = fake_validation(shift=0.5)
    console = Console(file=io.StringIO(), width=120)
    render(console, result)
    text = console.file.getvalue()
    assert "OUT" in text and "FAIL" in text and "chance allows 1" in text
    md = markdown(result, "brainmac validate fake")
    assert "| A |" in md and "outside" in md and "`brainmac validate fake`" in md
    paths = write_outputs(tmp_path, result, "brainmac validate fake", suffix="-seed")
    assert [p.name for p in paths] == ["validation-seed.json", "validation-seed.md",
                                       "distributions-seed.png"]
    data = json.loads(paths[0].read_text())
    assert data["summary"]["outside_cells"] == ["A/rate", "B/rate"]
    assert data["cells"]["A"]["rate"]["ks"]["cross"] and data["command"]
    assert paths[2].stat().st_size > 1000


def test_network_pickles_for_the_nest_child():
    net = build_network(ValidationConfig(scale=0.02))
    buffer = io.BytesIO()
    _Pickler(buffer).dump(net)
    copy = pickle.loads(buffer.getvalue())
    assert [p.name for p in copy.populations] == [p.name for p in net.populations]
    assert copy.populations[0].neuron["tau_m"] == 10.0
    assert copy.projections[3].delay == net.projections[3].delay


# -- published values and the command line --------------------------------------------------

def _main(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_published_small_microcircuit(tmp_path, capsys):
    out = tmp_path / "pub"
    code, stdout, err = _main(
        ["validate", "microcircuit", "--reference", "published", "--scale", "0.02",
         "--k-scale", "0.1", "--duration", "100ms", "--warmup", "50ms", "--seeds", "1",
         "--threads", "1", "--quiet", "--out", str(out)], capsys)
    assert code == 0, err
    assert "L23E" in stdout and "full-scale" in stdout
    data = json.loads((out / "validation.json").read_text())
    assert list(data["rows"]) == ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
    row = data["rows"]["L4E"]["rate_hz"]
    assert row["reference"] == 4.41 and len(row["per_seed"]) == 1
    assert row["rel_deviation"] == pytest.approx((row["mean"] - 4.41) / 4.41)
    assert (out / "validation.md").exists() and (out / "distributions.png").exists()


def test_published_brunel_compares_all_neurons():
    cfg = ValidationConfig(model="brunel", reference="published", scale=1.0, seeds=1,
                           duration_ms=20.0, warmup_ms=0.0, threads=1)
    net = build_network(dataclasses.replace(cfg, scale=0.02))  # order 50: fast
    published = build_network(cfg).metadata  # order 2500: the published values
    assert published["reference_rates_hz"] == {"E": 32.0, "I": 32.0}
    for key in ("reference", "reference_rates_hz", "reference_rates_source"):
        net.metadata[key] = published[key]
    result = validate_published(cfg, network=net)
    assert set(result.rows) == {"E", "I", "all"}
    assert set(result.rows["all"]) == {"rate_hz", "cv"} and set(result.rows["E"]) == {"rate_hz"}
    assert result.rows["all"]["rate_hz"]["reference"] == 32.0


BAD = [
    (["validate", "nosuchmodel", "--reference", "published"], "unknown model"),
    (["validate", "microcircuit", "--seeds", "1"], "--seeds must be >= 2"),
    (["validate", "microcircuit", "--reference", "published", "--duration", "0.05"],
     "multiple of dt"),
    (["validate", "microcircuit", "--reference", "published", "--scale", "2"], "(0, 1]"),
    (["validate", "brunel", "--reference", "published", "--scale", "0.1"], "order 2500"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD)
def test_bad_input_is_one_line_and_status_2(argv, fragment, capsys, tmp_path):
    code, _, err = _main([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("brainmac validate")


def test_bad_precision_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "microcircuit", "--precision", "seed,int4"])
    assert exc.value.code == 2
    assert "choose profiles among" in capsys.readouterr().err


def test_missing_nest_asks_for_the_extra(monkeypatch, capsys, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "nest", None)  # find_spec("nest") -> None
    code, _, err = _main(["validate", "microcircuit", "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.strip() == ("brainmac validate: error: NEST is not installed: "
                           "pip install brainmac[reference]")
    with pytest.raises(ConfigError, match="brainmac\\[reference\\]"):
        from brainmac.validation import validate_nest

        validate_nest(ValidationConfig())


# -- against NEST ---------------------------------------------------------------------------

#: A reduced validation: microcircuit at scale 0.1 (full in-degree), 100 ms warm-up + 300 ms,
#: 2 seeds a side, dt 0.1 ms.
REDUCED = ValidationConfig(model="microcircuit", scale=0.1, duration_ms=300.0, warmup_ms=100.0,
                           seeds=2, threads=2, profile="seed")


def broken(net: Network) -> Network:
    """A copy of ``net`` whose inhibitory synapses act 4x weaker (the sabotage fixture)."""
    out = Network(net.name + "_broken")
    for pop in net.populations:
        out.add(pop)
    for proj in net.projections:
        w = proj.weight
        if isinstance(w, Normal) and w.mean < 0:
            w = Normal(w.mean / 4, w.std / 4, w.low, w.high)
        out.add(dataclasses.replace(proj, weight=w))
    for drive in net.drives:
        out.add(drive)
    out.metadata = dict(net.metadata)
    return out


@pytest.fixture(scope="module")
def reduced():
    """brainmac (intact and broken) against the same two NEST seeds."""
    pytest.importorskip("nest")
    from brainmac.validation.study import validate_nest_profiles

    net = build_network(REDUCED)
    intact = validate_nest_profiles(REDUCED, [REDUCED.profile], net)[0]
    sabotaged = validate_nest_profiles(REDUCED, [REDUCED.profile], net, broken(net),
                                       reference_runs=intact.reference_runs)[0]
    nearest = validate_nest_profiles(dataclasses.replace(REDUCED, rounding="nearest"),
                                     [REDUCED.profile], net,
                                     reference_runs=intact.reference_runs)[0]
    return intact, sabotaged, nearest


@pytest.mark.nest
@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")  # ties in spike counts
def test_reduced_validation_is_inside_nest_spread(reduced):
    """brainmac's seed profile against NEST: thresholds from NEST's own spread, here."""
    from brainmac.analysis import emd, ks_distance

    intact, _, _ = reduced
    nest = [r.distributions for r in intact.reference_runs]
    ours = [r.distributions for r in intact.candidate_runs]
    tolerance = default_tolerance(len(nest))
    for pop in intact.cells:
        inside = []
        for name, metric in (("ks", ks_distance), ("emd", emd)):
            spread = metric(nest[0][pop]["rate"], nest[1][pop]["rate"])  # NEST vs NEST
            cross = np.median([metric(b[pop]["rate"], a[pop]["rate"]) for b in ours
                               for a in nest])
            cell = intact.cells[pop]["rate"][name]
            assert cell["spread"] == pytest.approx(spread)
            assert cell["distance"] == pytest.approx(cross)
            inside.append(bool(cross <= tolerance * spread))
        assert (intact.cells[pop]["rate"]["verdict"] == "inside") == all(inside)
    assert intact.summary["passed"], intact.summary


@pytest.mark.nest
@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")
def test_broken_inhibition_fails_the_verdict(reduced):
    """The same validation with inhibitory weights at a quarter on brainmac's side fails:
    its rates leave NEST's spread (inhibitory populations fire several times faster, L2/3E
    falls nearly silent)."""
    _, sabotaged, _ = reduced
    rates = {pop: (np.mean([r.summary[pop]["rate_mean_hz"] for r in sabotaged.candidate_runs]),
                   np.mean([r.summary[pop]["rate_mean_hz"] for r in sabotaged.reference_runs]))
             for pop in sabotaged.cells}
    assert not sabotaged.summary["passed"], rates
    outside = [pop for pop, stats in sabotaged.cells.items()
               if stats["rate"]["verdict"] == "outside"]
    far = [pop for pop in outside if max(rates[pop]) > 1.5 * min(rates[pop])]
    assert len(far) >= 4, (sabotaged.summary, rates)  # mean rates off by half or more


@pytest.mark.nest
@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")
def test_seed_profile_does_not_saturate_with_either_rounding(reduced):
    """The state ranges hold one synchronous volley of each population's input: no V or
    current saturates at scale 0.1 (the first sweep's headroom-4 ranges did, up to 0.7 % of
    neuron-steps: docs/fidelity.md), and nearest weight rounding passes as well."""
    intact, _, nearest = reduced
    for result in (intact, nearest):
        for run in result.candidate_runs:
            assert run.info["saturation"] == {"v": 0, "i_ex": 0, "i_in": 0}, run.info
    assert intact.candidate_runs[0].info["rounding"] == "stochastic"
    assert nearest.candidate_runs[0].info["rounding"] == "nearest"
    assert nearest.summary["passed"], nearest.summary


def timing_network() -> Network:
    """One lif_delta neuron A firing every 24 ms (DC) kicks three neurons with a
    suprathreshold spike after 1.5 ms and again 1.9, 2.0 and 2.1 ms later: within
    (dropped) and just after (counted) their 2 ms refractory period."""
    params = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=0.0, V_th=20.0)
    net = Network("timing")
    source = net.population("A", 1, "lif_delta", params, v_init=0.0)
    net.add(DCDrive(source, 1.5))
    for name, second in (("B19", 3.4), ("B20", 3.5), ("B21", 3.6)):
        target = net.population(name, 1, "lif_delta", params, v_init=0.0)
        net.connect(source, target, OneToOne(), 25.0, 1.5)
        net.connect(source, target, OneToOne(), 25.0, second)
    return net


@pytest.mark.nest
@pytest.mark.parametrize("profile", ["float64", "seed"])
def test_delay_and_refractory_semantics_match_nest_spike_for_spike(profile):
    """Aligned spike times equal NEST's to the step: delays, and input dropped while
    refractory (B19, B20 spike once per kick pair, B21 twice)."""
    pytest.importorskip("nest")
    from brainmac.validation.runs import _in_child

    net = timing_network()
    cfg = ValidationConfig(duration_ms=100.0, warmup_ms=0.0, threads=1, seeds=2)
    payload = _in_child(net, cfg, 1)
    nest = {k: np.round(t - cfg.dt_ms, 6) for k, (t, _) in payload["spikes"].items()}
    sim = Simulator(compile_network(net, profile, cfg.dt_ms, 1), threads=1)
    sim.run(cfg.duration_ms)
    ours = {k: np.round(t, 6) for k, (t, _) in sim.spikes().items()}
    assert len(nest["B21"]) == 2 * len(nest["B20"]) == 2 * len(nest["A"]) > 0
    for name in ("A", "B19", "B20", "B21"):
        np.testing.assert_array_equal(ours[name], nest[name])
