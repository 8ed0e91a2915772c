"""Figures from run results. Each function reads tables (never a model) and returns a Figure."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .observe import COLUMNS
from .results import RunResult, migration_curve, retention_curve
from .style import DPI, add_caption, new_figure, region_colours, styled

__all__ = ["evidence", "plot_migration_curves", "plot_retention_curves", "save_figure"]

TIER_LABELS = {"all": "all", "top_tier": "top-tier", "elite": "elite"}


@cache
def evidence() -> dict:
    """Return the published reference figures shipped with the package (with their sources)."""
    return yaml.safe_load(resources.files("simulation").joinpath("data/evidence.yaml").read_text())


def _band(table: pd.DataFrame, keys: list[str], column: str, interval: float = 0.9) -> pd.DataFrame:
    low, high = (1 - interval) / 2, 1 - (1 - interval) / 2
    grouped = table.groupby(keys, observed=True)[column]
    out = grouped.median().rename("median").reset_index()
    out["low"] = grouped.quantile(low).to_numpy()
    out["high"] = grouped.quantile(high).to_numpy()
    return out


def _caption(result: RunResult, extra: str = "") -> str:
    reps = result.stocks["replicate"].nunique()
    n = result.manifest.get("researchers", "?")
    band = f"; lines: median, band: 90% of {reps} replicates" if reps > 1 else ""
    text = f"talentsim scenario '{result.scenario.name}', {reps} replicate(s) x {n:,} researchers{band}."
    return f"{text} {extra}".strip()


@styled
def plot_migration_curves(result: RunResult, *, tier: str = "top_tier", ax=None, reference: bool = True) -> Figure:
    """Return the migration curves: share of ``tier`` researchers working in each region over time.

    Published work-location shares (MacroPolo) are drawn as points where the regions match.
    """
    fig, ax = new_figure() if ax is None else (ax.figure, ax)
    regions = result.scenario.region_ids
    colours = region_colours(regions)
    band = _band(migration_curve(result.stocks, tier), ["year", "region"], "share")
    for region in regions:
        rows = band[band.region == region]
        name = result.scenario.regions[region].name
        ax.plot(rows.year, rows["median"], color=colours[region], lw=1.8, label=name)
        ax.fill_between(rows.year, rows.low, rows.high, color=colours[region], alpha=0.2, lw=0)
    extra = ""
    if reference and tier == "top_tier":
        ref = evidence()["top_tier_work_location"]
        points = [p for p in ref["values"] if p["region"] in regions]
        for p in points:
            ax.plot(p["year"], p["share"], "o", ms=5, mfc="white", mec=colours[p["region"]], mew=1.5, zorder=5)
        if points:
            ax.plot([], [], "o", ms=5, mfc="white", mec="#333333", mew=1.5, label="Published (MacroPolo)")
            extra = f"Points: {ref['source']}."
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, None)
    ax.set_xlabel(f"{COLUMNS['year'].label}")
    ax.set_ylabel(f"Share of {TIER_LABELS.get(tier, tier)} researchers working there")
    ax.set_title(f"Where {TIER_LABELS.get(tier, tier)} AI researchers work")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    add_caption(fig, _caption(result, extra))
    return fig


@styled
def plot_retention_curves(result: RunResult, *, tier: str = "all", ax=None) -> Figure:
    """Return the retention curves: share of each origin's researchers working in their origin region."""
    fig, ax = new_figure() if ax is None else (ax.figure, ax)
    regions = result.scenario.region_ids
    colours = region_colours(regions)
    band = _band(retention_curve(result.retention, tier).dropna(subset=["retention"]), ["year", "origin"], "retention")
    for origin in regions:
        rows = band[band.origin == origin]
        if rows.empty:
            continue
        ax.plot(rows.year, rows["median"], color=colours[origin], lw=1.8, label=f"{result.scenario.regions[origin].name} origin")
        ax.fill_between(rows.year, rows.low, rows.high, color=colours[origin], alpha=0.2, lw=0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1)
    ax.set_xlabel(COLUMNS["year"].label)
    ax.set_ylabel(f"Share of origin's {TIER_LABELS.get(tier, tier)} researchers at home")
    ax.set_title(f"Home retention of {TIER_LABELS.get(tier, tier)} AI researchers by origin (undergraduate region)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    add_caption(fig, _caption(result))
    return fig


def save_figure(fig: Figure, path: str | Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Write ``fig`` as each of ``formats`` (png at print resolution, svg, pdf) next to ``path``; return the paths."""
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        fig.savefig(target, dpi=DPI, bbox_inches="tight", metadata={"Software": None} if fmt == "png" else None)
        written.append(target)
    plt.close(fig)
    return written
