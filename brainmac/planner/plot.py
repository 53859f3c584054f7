"""PNG chart of a plan: units needed per resource (bars) per design (groups), log scale."""

from __future__ import annotations

from pathlib import Path

from brainmac.planner import designs as ds
from brainmac.planner.plan import Plan


def plot(plan: Plan, path: str | Path) -> Path:
    """Write a grouped bar chart of units needed per resource and design to ``path`` (PNG).

    For ``seed`` the chart shows the seed's network made realistic next to it as given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"{plan.scenario.name} as given", plan.designs)]
    if plan.seed is not None:
        panels.append(("seed's network made realistic", plan.seed.realistic_designs))
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 6.0), squeeze=False)
    for ax, (title, found) in zip(axes[0], panels, strict=True):
        _panel(ax, title, found)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _panel(ax, title: str, found: list[ds.Design]) -> None:
    resources = [r for r in ds.RESOURCES if any(r in d.needs for d in found)]
    width = 0.8 / len(found)
    for i, d in enumerate(found):
        shown = [j for j, r in enumerate(resources) if r in d.needs]
        offset = (i - (len(found) - 1) / 2) * width
        heights = [max(d.needs[resources[j]], 1e-3) for j in shown]
        bars = ax.bar(
            [j + offset for j in shown], heights, width, label=f"{d.name}: {d.units:,} x {d.unit}"
        )
        if d.binding in resources:
            bars[shown.index(resources.index(d.binding))].set_hatch("//")
    ax.set_yscale("log")
    ax.set_xticks(range(len(resources)))
    ax.set_xticklabels([r.split(" (")[0] for r in resources], rotation=30, ha="right")
    ax.set_ylabel("units needed (hatched: binds)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=1)
