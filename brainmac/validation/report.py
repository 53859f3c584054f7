"""What a validation writes: a terminal table, ``validation.json``, ``validation.md`` and a
figure of the distributions (``distributions.png``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from brainmac.validation.spread import STATISTICS
from brainmac.validation.study import NestValidation, PublishedValidation

__all__ = ["nest_rows", "render", "write_outputs"]

STAT_NAMES = {"rate": "rate", "cv": "CV ISI", "corr": "corr"}


def _f(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def _mean_rate(runs, pop: str) -> float:
    values = [r.summary[pop]["rate_mean_hz"] for r in runs]
    return float(np.mean(values)) if values else math.nan


def nest_rows(result: NestValidation) -> list[dict]:
    """One row per population: mean rates of both sides, and per statistic the KS distance,
    the spread, their ratio and the verdict."""
    rows = []
    for pop, stats in result.cells.items():
        row = {"population": pop, "nest_rate_hz": _mean_rate(result.reference_runs, pop),
               "brainmac_rate_hz": _mean_rate(result.candidate_runs, pop)}
        for stat in STATISTICS:
            cell = stats[stat]
            row[stat] = {"distance": cell["ks"]["distance"], "spread": cell["ks"]["spread"],
                         "ratio": cell["ks"]["ratio"], "emd_ratio": cell["emd"]["ratio"],
                         "verdict": cell["verdict"]}
        rows.append(row)
    return rows


def _cell_text(cell: dict) -> str:
    return (f"{_f(cell['distance'])} / {_f(cell['spread'])} (KS {_f(cell['ratio'], 2)}, "
            f"EMD {_f(cell['emd_ratio'], 2)})")


def describe(result: NestValidation | PublishedValidation) -> str:
    """One line: network, profile, dt, times, seeds, threads."""
    c = result.config
    return (f"{result.network['name']} ({result.network['neurons']:,} neurons), brainmac "
            f"profile {c.label}, dt {c.dt_ms:g} ms, warm-up {c.warmup_ms:g} ms + "
            f"{c.duration_ms:g} ms analysed, seeds {c.seed_list[0]}..{c.seed_list[-1]}, "
            f"{c.threads} threads")


def rule_text(result: NestValidation) -> str:
    n = result.config.seeds
    return (f"A cell is inside when, for D_KS and for EMD, the median distance over the "
            f"{n * n} brainmac-NEST pairs is <= {result.tolerance:g} x the largest over the "
            f"{n * (n - 1) // 2} NEST-NEST pair(s). Cells: median D_KS / largest NEST D_KS "
            "(ratios distance/spread of KS and EMD).")


def _verdict_line(result: NestValidation) -> str:
    s = result.summary
    head = "PASS" if s["passed"] else "FAIL"
    tail = f": outside {', '.join(s['outside_cells'])}" if s["outside_cells"] else ""
    return (f"{head}: {s['inside']} inside, {s['outside']} outside (chance allows "
            f"{s['allowed_outside']}), {s['n/a']} undefined cells{tail}")


def render(console, result: NestValidation | PublishedValidation) -> None:
    """Print the result as a rich table and a verdict line."""
    from rich.table import Table

    if isinstance(result, PublishedValidation):
        _render_published(console, result)
        return
    table = Table(title=f"brainmac {result.config.label} vs NEST: distance / NEST spread "
                  "(KS ratio, EMD ratio)", title_justify="left")
    for col in ("population", "NEST Hz", "brainmac Hz", *(STAT_NAMES[s] for s in STATISTICS)):
        table.add_column(col, justify="right")
    colors = {"inside": "green", "outside": "bold red", "n/a": "dim"}
    marks = {"inside": "in", "outside": "OUT", "n/a": "n/a"}
    for row in nest_rows(result):
        cells = [f"[{colors[row[s]['verdict']]}]{_f(row[s]['ratio'], 2)}, "
                 f"{_f(row[s]['emd_ratio'], 2)} {marks[row[s]['verdict']]}[/]"
                 for s in STATISTICS]
        table.add_row(row["population"], _f(row["nest_rate_hz"], 2),
                      _f(row["brainmac_rate_hz"], 2), *cells)
    console.print(table)
    console.print(describe(result))
    console.print(rule_text(result))
    style = "bold green" if result.summary["passed"] else "bold red"
    console.print(f"[{style}]{_verdict_line(result)}[/]")


def _published_rows(result: PublishedValidation) -> list[tuple[str, str, float, float, float]]:
    rows = []
    for name, stats in result.rows.items():
        for stat, v in stats.items():
            rows.append((name, stat, v["reference"], v["mean"], v["rel_deviation"]))
    return rows


def _render_published(console, result: PublishedValidation) -> None:
    from rich.table import Table

    table = Table(title=f"brainmac vs published values: {describe(result)}",
                  title_justify="left")
    for col in ("population", "statistic", "published", "brainmac (mean of seeds)",
                "deviation"):
        table.add_column(col, justify="right")
    for name, stat, ref, mean, dev in _published_rows(result):
        table.add_row(name, stat, _f(ref, 3), _f(mean, 3), f"{dev:+.1%}")
    console.print(table)
    console.print(f"source: {result.source}")
    if result.note:
        console.print(f"[yellow]note: {result.note}[/]")


def markdown(result: NestValidation | PublishedValidation, command: str) -> str:
    """The report as Markdown."""
    lines = [f"# brainmac validate: {result.network['name']} against "
             f"{'NEST' if isinstance(result, NestValidation) else 'published values'}", "",
             f"Command: `{command}`", "", describe(result) + f"; wall time {result.wall_s:.0f} s.",
             ""]
    if isinstance(result, PublishedValidation):
        lines += ["| population | statistic | published | brainmac | deviation |",
                  "|---|---|---|---|---|"]
        lines += [f"| {n} | {s} | {_f(r)} | {_f(m)} | {d:+.1%} |"
                  for n, s, r, m, d in _published_rows(result)]
        lines += ["", f"Source: {result.source}."]
        if result.note:
            lines += ["", f"Note: {result.note}."]
        return "\n".join(lines) + "\n"
    head = "| population | NEST (Hz) | brainmac (Hz) | " + " | ".join(
        f"{STAT_NAMES[s]}" for s in STATISTICS) + " |"
    lines += [head, "|---" * (3 + len(STATISTICS)) + "|"]
    for row in nest_rows(result):
        cells = " | ".join(f"{_cell_text(row[s])} {row[s]['verdict']}" for s in STATISTICS)
        lines.append(f"| {row['population']} | {_f(row['nest_rate_hz'], 2)} | "
                     f"{_f(row['brainmac_rate_hz'], 2)} | {cells} |")
    lines += ["", rule_text(result), "", f"**{_verdict_line(result)}**"]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, result: NestValidation | PublishedValidation,
                  command: str, suffix: str = "") -> list[Path]:
    """Write validation.json, validation.md and distributions.png into ``out``.

    ``suffix`` goes before each file's extension (``validation-seed.json``), so that several
    profiles' results share one directory.
    """
    from brainmac.analysis import distributions_png
    from brainmac.runner import versions, write_json
    from brainmac.validation.runs import pooled

    data = result.to_dict() | {"command": command, "versions": versions()}
    paths = [out / f"{name}{suffix}.{ext}" for name, ext in
             (("validation", "json"), ("validation", "md"), ("distributions", "png"))]
    write_json(paths[0], data)
    paths[1].write_text(markdown(result, command))
    if isinstance(result, NestValidation):
        cand, ref = result.pooled()
        labels = (f"brainmac {result.config.label}", "NEST")
    else:
        cand, ref, labels = pooled(result.runs), {}, (f"brainmac {result.config.label}", "")
    distributions_png(paths[2], cand, ref, labels)
    return paths
