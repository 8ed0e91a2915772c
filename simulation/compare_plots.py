"""Figures comparing scenarios: their migration curves on shared axes, and each scenario's difference from the baseline.

The figures draw what :mod:`simulation.compare` pairs and tabulates: differences from the baseline are paired
replicate by replicate (same seed, and in calibration ensembles the same parameter draw), and an unpaired comparison
is labelled unpaired in the title and caption. Every function reads results (:class:`~simulation.results.RunResult`),
never a model, and returns a Figure drawn in the project's style (``simulation.style``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .compare import CompareError, _check_comparable, _identity, differences, pairing, scenario_labels
from .observe import COLUMNS
from .results import RunResult, migration_curve
from .summary import INTERVAL, MIN_REPLICATES_FOR_INTERVAL, replicate_band, statistic_note
from .style import NEUTRAL, add_caption, add_title, body, display_name, figure_legend, label_line_ends, new_figure
from .style import percent_axis, region_styles, scenario_linestyles, styled, year_axis

__all__ = ["curve_differences", "plot_compare_curves", "plot_compare_difference"]


def _curve_band(curves: pd.DataFrame, keys: list[str], column: str, interval: float) -> pd.DataFrame:
    return replicate_band(curves, keys, column, interval)


def _region_axes(regions: list[str], height_per_row: float = 1.8):
    """Return a figure with one panel per region, sharing both axes."""
    ncols = 2 if len(regions) <= 4 else 3
    nrows = math.ceil(len(regions) / ncols)
    fig, axes = new_figure(height_in=height_per_row * nrows + 1.2, nrows=nrows, ncols=ncols, sharex=True,
                           sharey=True, squeeze=False)
    for ax in axes.flat[len(regions):]:
        ax.set_visible(False)
    for col in range(ncols):
        visible = [axes[row, col] for row in range(nrows) if axes[row, col].get_visible()]
        if visible:
            visible[-1].set_xlabel(COLUMNS["year"].label)
            visible[-1].xaxis.set_tick_params(labelbottom=True)
    return fig, axes


def _scenario_note(results: Sequence[RunResult], labels: Sequence[str]) -> str:
    parts = [f"{display_name(label)} ({label}): {r.stocks['replicate'].nunique()} replicates × "
             f"{r.scenario.run.researchers:,} model researchers" for label, r in zip(labels, results)]
    return f"Scenarios: {'; '.join(parts)}."


def _policy_years(results: Sequence[RunResult]) -> list[float]:
    """Return the dates at which any compared scenario's levers start to differ from the baseline's."""
    from .changes import changes_between
    from .plots import change_years

    years: set[float] = set()
    for result in results[1:]:
        years.update(change_years([c.to_dict() for c in changes_between(results[0].scenario, result.scenario)]))
    return sorted(years)


def _marks(ax, results: Sequence[RunResult], label: bool = True) -> str:
    from .plots import _period_marks

    return _period_marks(ax, results[0], policies=_policy_years(results), label=label)


@styled
def plot_compare_curves(results: Sequence[RunResult], *, tier: str = "top_tier", interval: float = INTERVAL,
                        caption: bool = True) -> Figure:
    """Return the migration curves of several scenarios on shared axes: each region in its colour and marker
    (named at its line's end), each scenario in its line style (the baseline, first, solid), bands the central
    ``interval`` of replicates; policy changes marked, the fitted period shaded."""
    from .plots import _names, _places

    _check_comparable(results)
    labels = scenario_labels(results)
    names = _names(results[0])
    curves = [migration_curve(result.stocks, tier) for result in results]
    places = _places(results[0], pd.concat(curves))
    styles = region_styles(places)
    lines = scenario_linestyles(labels)
    fig, ax = new_figure(height_in=3.8)
    ends = {}
    for label, _result, curve in zip(labels, results, curves):
        band = _curve_band(curve, ["region", "year"], "share", interval)
        for region in places:
            rows = band[band.region == region]
            if rows.empty:
                continue
            ax.plot(rows.year, rows["median"], color=styles[region]["color"], ls=lines[label],
                    lw=1.9 if label == labels[0] else 1.6, gid=f"median:{label}:{region}",
                    marker=styles[region]["marker"], markevery=max(1, len(rows) // 8), ms=3.4,
                    mfc="white" if label == labels[0] else styles[region]["color"], mew=1.0,
                    zorder=3 if label == labels[0] else 4)
            if rows["low"].notna().any() and (rows["high"] > rows["low"]).any():
                ax.fill_between(rows.year, rows["low"], rows["high"], color=styles[region]["color"],
                                alpha=0.16 if label == labels[0] else 0.10, lw=0, gid=f"band:{label}:{region}")
            ends.setdefault(region, []).append((float(rows.year.iloc[-1]), float(rows["median"].iloc[-1])))
    percent_axis(ax.yaxis)
    ax.set_ylim(0, None)
    ax.set_xlabel(COLUMNS["year"].label)
    tier_label = tier.replace("_", "-")
    ax.set_ylabel(f"Share of {tier_label} researchers (%)")
    marks = _marks(ax, results)
    # Each region is named at the end of its baseline line (the solid one).
    label_line_ends(ax, [(points[0][0], points[0][1], names.get(r, r), styles[r]["color"])
                         for r, points in ends.items()])
    handles = [Line2D([], [], color=styles[r]["color"], marker=styles[r]["marker"], mfc="white", lw=1.9)
               for r in places]
    handles += [Line2D([], [], color=NEUTRAL, ls=lines[label], lw=1.7) for label in labels]
    legend_labels = [names.get(r, r) for r in places]
    legend_labels += [display_name(label) + (" (baseline)" if i == 0 and label != "baseline" else "")
                      for i, label in enumerate(labels)]
    add_title(fig, f"Where {tier_label} AI researchers work: {' vs '.join(display_name(x) for x in labels)}")
    figure_legend(fig, handles, legend_labels)
    reps = min(int(r.stocks["replicate"].nunique()) for r in results)
    text = (f"Share of {tier_label} researchers working in each region (colour and marker) under each scenario "
            f"(line style). {marks}{statistic_note(reps, interval, shown='the band')} "
            f"{_scenario_note(results, labels)}")
    add_caption(fig, text, draw=caption)
    return fig


def curve_differences(results: Sequence[RunResult], *, tier: str = "top_tier",
                      unpaired: bool = False) -> tuple[pd.DataFrame, dict]:
    """Return each scenario's difference from the baseline (the first) in the share of ``tier`` researchers
    working in each region, per replicate pair and year, and whether each is paired (see :func:`pairing`).

    Columns: scenario, region, year, the replicate identity (seed, ...), difference (a share difference; x100
    for percentage points).
    """
    _check_comparable(results)
    labels = scenario_labels(results)
    base = migration_curve(results[0].stocks, tier).merge(_identity(results[0]), on="replicate")
    parts, paired = [], {}
    for label, result in zip(labels[1:], results[1:]):
        how = pairing(results[0], result, unpaired=unpaired)
        other = migration_curve(result.stocks, tier).merge(_identity(result), on="replicate")
        diff, paired[label] = differences(base, other, ["region", "year"], "share", pair_on=list(how.keys),
                                          paired=how.paired)
        parts.append(diff.assign(scenario=label))
    if not parts:
        return pd.DataFrame(columns=["scenario", "region", "year", "seed", "difference"]), paired
    table = pd.concat(parts, ignore_index=True)
    identity = [c for c in table.columns if c not in ("scenario", "region", "year", "difference")]
    return table[["scenario", "region", "year", *identity, "difference"]], paired


@styled
def plot_compare_difference(results: Sequence[RunResult], *, tier: str = "top_tier", interval: float = INTERVAL,
                            caption: bool = True, unpaired: bool = False) -> Figure:
    """Return each scenario's difference from the baseline (the first result) in the share of ``tier``
    researchers working in each region, in percentage points: the median of paired differences and the range of
    the central ``interval`` of them. Unpaired comparisons (``unpaired``) say so in the title and caption."""
    from .plots import _names

    if len(results) < 2:
        raise CompareError("a difference needs a baseline and at least one other scenario")
    labels = scenario_labels(results)
    regions = results[0].scenario.region_ids
    names = _names(results[0])
    styles = region_styles(regions)
    lines = scenario_linestyles(labels)
    table, paired = curve_differences(results, tier=tier, unpaired=unpaired)
    table = table.assign(pp=table["difference"] * 100)
    band = _curve_band(table, ["scenario", "region", "year"], "pp", interval)
    fig, axes = _region_axes(regions)
    values = band[["median", "low", "high"]].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if len(band) and np.isfinite(values).any() else 1.0
    marks = ""
    first, last = float(table["year"].min()), float(table["year"].max())
    for i, (ax, region) in enumerate(zip(axes.flat, regions)):
        ax.axhline(0, color=NEUTRAL, lw=0.8)
        for label in labels[1:]:
            rows = band[(band.scenario == label) & (band.region == region)]
            ax.plot(rows.year, rows["median"], color=styles[region]["color"], ls=lines[label], lw=1.7,
                    gid=f"difference:{label}:{region}")
            if rows["low"].notna().any() and (rows["high"] > rows["low"]).any():
                ax.fill_between(rows.year, rows["low"], rows["high"], color=styles[region]["color"], alpha=0.18,
                                lw=0, gid=f"band:{label}:{region}")
        ax.set_title(names.get(region, region), loc="left")
        ax.set_ylim(-1.1 * max(limit, 0.5), 1.1 * max(limit, 0.5))
        marks = _marks(ax, results, label=i == 0)
        year_axis(ax, first, last)
    tier_label = tier.replace("_", "-")
    body(fig).supylabel(f"Change in share of {tier_label} researchers\n(percentage points)", fontsize=9)
    handles = [Line2D([], [], color=NEUTRAL, ls=lines[label], lw=1.7) for label in labels[1:]]
    all_paired = all(paired.values())
    title = f"Change from {display_name(labels[0])} in where {tier_label} researchers work"
    add_title(fig, title + ("" if all_paired else " (UNPAIRED)"))
    figure_legend(fig, handles, [f"{display_name(label)} minus {display_name(labels[0])}"
                                 + ("" if paired[label] else " (UNPAIRED)") for label in labels[1:]])
    reps = min(int(r.stocks["replicate"].nunique()) for r in results)
    how = ("Lines: median of paired differences (each replicate minus the baseline replicate with the same seed); "
           if all_paired else "UNPAIRED: the runs share no seeds, so lines are medians of differences over every "
           "pair of replicates and bands include the noise between replicates; ")
    band_text = (f"bands: {interval:.0%} of the differences fall inside. " if reps >= MIN_REPLICATES_FOR_INTERVAL
                 else "a single replicate: no band. ")
    text = (f"Difference from {display_name(labels[0])} (the baseline) in the share of {tier_label} researchers "
            f"working in each region, in percentage points. {how}{band_text}{marks}{_scenario_note(results, labels)}")
    add_caption(fig, text, draw=caption)
    return fig
