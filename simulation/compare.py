"""Comparing scenarios: headline indicators with intervals, differences from a baseline, and their figures.

Every function reads saved or in-memory results (:class:`~simulation.results.RunResult`), never a model.
Differences from the baseline are paired by replicate seed when the runs share their seeds (common random numbers:
the difference is then the policy, not noise) and taken over all pairs of replicates otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .observe import COLUMNS
from .results import RunResult, load_results, migration_curve
from .style import NEUTRAL, add_caption, add_title, body, figure_legend, new_figure, percent_axis, region_colours
from .style import scenario_linestyles, styled

__all__ = [
    "CompareError",
    "compare_table",
    "differences",
    "format_compare_table",
    "indicator_summary",
    "indicators",
    "load_many",
    "plot_compare_curves",
    "plot_compare_difference",
    "scenario_labels",
]

INTERVAL = 0.9
SHARE_INDICATORS = ("top-tier share", "elite share", "home retention (top-tier)")


class CompareError(ValueError):
    """Results that cannot be compared as asked (different regions, a year outside the runs)."""


def load_many(paths: Sequence[str | Path]) -> list[RunResult]:
    """Return the runs saved in ``paths`` (each the --out folder of ``talentsim run``), in order."""
    results = []
    for path in paths:
        result = load_results(path)
        result.manifest.setdefault("results_folder", str(path))
        results.append(result)
    return results


def scenario_labels(results: Sequence[RunResult]) -> list[str]:
    """Return a distinct label per result: the scenario name, or name (folder) when names repeat."""
    names = [r.scenario.name for r in results]
    labels = []
    for result, name in zip(results, names):
        if names.count(name) > 1:
            folder = Path(result.manifest.get("results_folder", "")).name or f"#{len(labels) + 1}"
            name = f"{name} ({folder})"
        labels.append(name)
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


def _seeds(table: pd.DataFrame) -> pd.Series:
    return table.drop_duplicates("replicate").set_index("replicate")["seed"]


def _nearest_year(result: RunResult, year: float) -> float:
    recorded = np.sort(result.stocks["year"].unique())
    if year < recorded[0] - 1e-9 or year > recorded[-1] + 1e-9:
        raise CompareError(f"year {year:g} is outside scenario '{result.scenario.name}', which runs "
                           f"{recorded[0]:g} to {recorded[-1]:g}")
    return float(recorded[np.argmin(np.abs(recorded - year))])


def indicators(result: RunResult, years: Sequence[float]) -> pd.DataFrame:
    """Return the headline indicators of every replicate at each of ``years`` (the nearest recorded step).

    Indicators: share of top-tier and of elite researchers working in each region; home retention of top-tier
    researchers by origin; net inflow of researchers from other regions over the year up to the date (scaled to the
    researchers the population represents, per year). Columns: indicator, place, year, replicate, seed, value.
    """
    from .plots import flow_matrix, net_flows

    stocks, seeds = result.stocks, _seeds(result.stocks)
    regions = result.scenario.region_ids
    scale = result.scenario.population.represents / result.scenario.run.researchers
    parts = []
    for asked in years:
        year = _nearest_year(result, float(asked))
        at = stocks[np.isclose(stocks["year"], year)]
        for tier, name in (("top_tier", "top-tier share"), ("elite", "elite share")):
            shares = migration_curve(at, tier)
            parts.append(pd.DataFrame({"indicator": name, "place": shares["region"], "year": year,
                                       "replicate": shares["replicate"], "value": shares["share"]}))
        kept = result.retention[np.isclose(result.retention["year"], year) & (result.retention["tier"] == "top_tier")]
        parts.append(pd.DataFrame({"indicator": "home retention (top-tier)", "place": kept["origin"], "year": year,
                                   "replicate": kept["replicate"], "value": kept["retention"]}))
        first_state = float(stocks["year"].min())
        if year > first_state:
            start = max(first_state, year - 1.0)
            net = net_flows(flow_matrix(result.flows, start=start, end=year, scale=scale), regions)
            parts.append(pd.DataFrame({"indicator": "net inflow per year", "place": net["region"], "year": year,
                                       "replicate": net["replicate"], "value": net["net"]}))
    out = pd.concat(parts, ignore_index=True)
    out["place"] = out["place"].astype(str)
    out["seed"] = out["replicate"].map(seeds)
    order = {r: i for i, r in enumerate(regions)}
    names = ["top-tier share", "elite share", "home retention (top-tier)", "net inflow per year"]
    out["_i"] = out["indicator"].map(names.index)
    out["_p"] = out["place"].map(order)
    return out.sort_values(["_i", "_p", "year", "replicate"]).drop(columns=["_i", "_p"]).reset_index(drop=True)


def indicator_summary(values: pd.DataFrame, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the median and central ``interval`` over replicates of :func:`indicators`' values."""
    low, high = (1 - interval) / 2, 1 - (1 - interval) / 2
    grouped = values.groupby(["indicator", "place", "year"], sort=False, observed=True)["value"]
    out = grouped.median().rename("median").reset_index()
    out["low"] = grouped.quantile(low).to_numpy()
    out["high"] = grouped.quantile(high).to_numpy()
    out["replicates"] = grouped.count().to_numpy()
    return out


def differences(base: pd.DataFrame, other: pd.DataFrame, keys: Sequence[str], column: str) -> tuple[pd.DataFrame, bool]:
    """Return ``other - base`` of ``column`` for each group of ``keys``, per replicate pair, and whether it is paired.

    Both tables carry ``seed``. When the two runs have the same replicate seeds, replicates are paired by seed
    (common random numbers); otherwise every replicate of one is set against every replicate of the other.
    Columns: keys, seed (of ``other``), difference.
    """
    keys = list(keys)
    paired = set(base["seed"].unique()) == set(other["seed"].unique())
    left = base[[*keys, "seed", column]].rename(columns={column: "_base", "seed": "_base_seed"})
    right = other[[*keys, "seed", column]].rename(columns={column: "_other"})
    if paired:
        merged = right.merge(left, left_on=[*keys, "seed"], right_on=[*keys, "_base_seed"], how="inner")
    else:
        merged = right.merge(left, on=keys, how="inner")
    merged["difference"] = merged["_other"] - merged["_base"]
    return merged[[*keys, "seed", "difference"]], paired


def _check_comparable(results: Sequence[RunResult]) -> None:
    regions = results[0].scenario.region_ids
    for result in results[1:]:
        if set(result.scenario.region_ids) != set(regions):
            raise CompareError(f"scenario '{result.scenario.name}' has regions {result.scenario.region_ids}, the "
                               f"baseline '{results[0].scenario.name}' has {regions}; compare runs with the same "
                               "regions")


def default_years(results: Sequence[RunResult], preferred: float = 2030) -> list[float]:
    """Return the years a comparison reports by default: ``preferred`` if every run covers it, else the last
    year they all cover."""
    last = min(float(r.stocks["year"].max()) for r in results)
    first = max(float(r.stocks["year"].min()) for r in results)
    return [preferred] if first <= preferred <= last else [last]


def compare_table(results: Sequence[RunResult], at: Sequence[float] | None = None,
                  interval: float = INTERVAL) -> pd.DataFrame:
    """Return the headline indicators of each scenario at the years ``at``, with replicate intervals, and each
    scenario's difference from the first (the baseline) with its interval.

    Columns: indicator, place, year, scenario, median, low, high, replicates, diff_median, diff_low, diff_high,
    paired (whether the difference is paired by replicate seed).
    """
    if len(results) < 1:
        raise CompareError("nothing to compare")
    _check_comparable(results)
    at = list(at) if at else default_years(results)
    labels = scenario_labels(results)
    low, high = (1 - interval) / 2, 1 - (1 - interval) / 2
    values = [indicators(result, at) for result in results]
    rows = []
    for label, table in zip(labels, values):
        summary = indicator_summary(table, interval)
        summary.insert(3, "scenario", label)
        if label == labels[0]:
            summary[["diff_median", "diff_low", "diff_high"]] = np.nan
            summary["paired"] = pd.NA
        else:
            diff, paired = differences(values[0].drop(columns="replicate"), table.drop(columns="replicate"),
                                       ["indicator", "place", "year"], "value")
            grouped = diff.groupby(["indicator", "place", "year"], sort=False)["difference"]
            stats = grouped.median().rename("diff_median").reset_index()
            stats["diff_low"] = grouped.quantile(low).to_numpy()
            stats["diff_high"] = grouped.quantile(high).to_numpy()
            summary = summary.merge(stats, on=["indicator", "place", "year"], how="left")
            summary["paired"] = paired
        rows.append(summary)
    table = pd.concat(rows, ignore_index=True)
    order = {name: i for i, name in enumerate(labels)}
    table["_s"] = table["scenario"].map(order)
    first = table.drop_duplicates(["indicator", "place", "year"])[["indicator", "place", "year"]].reset_index(drop=True)
    first["_k"] = range(len(first))
    table = table.merge(first, on=["indicator", "place", "year"]).sort_values(["_k", "_s"])
    return table.drop(columns=["_k", "_s"]).reset_index(drop=True)


def format_value(indicator: str, value: float) -> str:
    """Return an indicator value as text: shares in %, flows as whole researchers per year."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if indicator in SHARE_INDICATORS:
        return f"{value:.1%}"
    return f"{value:,.0f}"


def format_difference(indicator: str, value: float) -> str:
    """Return a difference as text: shares in percentage points, flows in researchers per year, signed."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    text = f"{value * 100:+.1f} pp" if indicator in SHARE_INDICATORS else f"{value:+,.0f}"
    return text.replace("-0.0 pp", "+0.0 pp") if text.startswith("-0.0 ") else "+0" if text == "-0" else text


def format_compare_table(table: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    """Return the comparison table as aligned text for the terminal."""
    names = names or {}
    scenarios = list(dict.fromkeys(table["scenario"]))
    multiple = int(table["replicates"].max()) > 1
    width = 26 if multiple else 12
    lines = []
    for (indicator, year), group in table.groupby(["indicator", "year"], sort=False):
        unit = "" if indicator in SHARE_INDICATORS else " (researchers)"
        lines.append(f"{indicator}{unit}, {year:g}")
        header = f"  {'':<16}" + "".join(f"{s[:width - 2]:>{width}}" for s in scenarios)
        header += "".join(f"{('change ' + s)[:width + 4]:>{width + 6}}" for s in scenarios[1:])
        lines.append(header)
        for place, rows in group.groupby("place", sort=False):
            cells = []
            for scenario in scenarios:
                row = rows[rows.scenario == scenario].iloc[0]
                text = format_value(indicator, row["median"])
                if multiple:
                    text += f" [{format_value(indicator, row['low'])}, {format_value(indicator, row['high'])}]"
                cells.append(f"{text:>{width}}")
            for scenario in scenarios[1:]:
                row = rows[rows.scenario == scenario].iloc[0]
                text = format_difference(indicator, row["diff_median"])
                if multiple:
                    text += (f" [{format_difference(indicator, row['diff_low'])}, "
                             f"{format_difference(indicator, row['diff_high'])}]")
                cells.append(f"{text:>{width + 6}}")
            lines.append(f"  {names.get(place, place):<16}" + "".join(cells))
        lines.append("")
    if len(scenarios) > 1:
        lines.append(f"'change X': X minus '{scenarios[0]}'"
                     + (" (median and 90% interval over replicates; shares in percentage points)" if multiple
                        else " (shares in percentage points)") + ".")
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------------------------------------------
# Figures


def _curve_band(curves: pd.DataFrame, keys: list[str], column: str, interval: float) -> pd.DataFrame:
    low, high = (1 - interval) / 2, 1 - (1 - interval) / 2
    grouped = curves.groupby(keys, observed=True, sort=True)[column]
    out = grouped.median().rename("median").reset_index()
    out["low"] = grouped.quantile(low).to_numpy()
    out["high"] = grouped.quantile(high).to_numpy()
    return out


def _with_seed(curves: pd.DataFrame, stocks: pd.DataFrame) -> pd.DataFrame:
    return curves.assign(seed=curves["replicate"].map(_seeds(stocks)))


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


def _scenario_note(results: Sequence[RunResult], labels: Sequence[str], interval: float) -> str:
    parts = [f"'{label}' ({r.stocks['replicate'].nunique()} replicates x {r.scenario.run.researchers:,} model "
             f"researchers)" for label, r in zip(labels, results)]
    reps = max(r.stocks["replicate"].nunique() for r in results)
    band = (f"Lines: medians of replicates; bands: central {interval:.0%} of replicates. " if reps > 1
            else "One replicate each: no band. ")
    return f"{band}Scenarios: {'; '.join(parts)}."


@styled
def plot_compare_curves(results: Sequence[RunResult], *, tier: str = "top_tier", interval: float = INTERVAL,
                        caption: bool = True) -> Figure:
    """Return the migration curves of several scenarios on shared axes: each region in its colour, each scenario
    in its line style (the baseline, first, solid), bands the central ``interval`` of replicates."""
    _check_comparable(results)
    labels = scenario_labels(results)
    regions = results[0].scenario.region_ids
    names = {k: r.name for k, r in results[0].scenario.regions.items()}
    colours = region_colours(regions)
    styles = scenario_linestyles(labels)
    fig, ax = new_figure(height_in=3.6)
    for label, result in zip(labels, results):
        band = _curve_band(migration_curve(result.stocks, tier), ["region", "year"], "share", interval)
        for region in regions:
            rows = band[band.region == region]
            ax.plot(rows.year, rows["median"], color=colours[region], ls=styles[label],
                    lw=1.9 if label == labels[0] else 1.6, gid=f"median:{label}:{region}",
                    zorder=3 if label == labels[0] else 4)
            if (rows["high"] > rows["low"]).any():
                ax.fill_between(rows.year, rows["low"], rows["high"], color=colours[region],
                                alpha=0.16 if label == labels[0] else 0.10, lw=0, gid=f"band:{label}:{region}")
    percent_axis(ax.yaxis)
    ax.set_ylim(0, None)
    ax.set_xlabel(COLUMNS["year"].label)
    tier_label = {"top_tier": "top-tier", "elite": "elite", "all": "all"}.get(tier, tier)
    ax.set_ylabel(f"Share of {tier_label} researchers (%)")
    handles = [Line2D([], [], color=colours[r], lw=1.9) for r in regions]
    handles += [Line2D([], [], color=NEUTRAL, ls=styles[label], lw=1.7) for label in labels]
    legend_labels = [names[r] for r in regions]
    legend_labels += [label if i or label == "baseline" else f"{label} (baseline)" for i, label in enumerate(labels)]
    add_title(fig, f"Where {tier_label} AI researchers work: {' vs '.join(labels)}")
    figure_legend(fig, handles, legend_labels)
    text = (f"Share of {tier_label} researchers working in each region (colour) under each scenario (line style). "
            f"{_scenario_note(results, labels, interval)}")
    add_caption(fig, text, draw=caption)
    return fig


def curve_differences(results: Sequence[RunResult], *, tier: str = "top_tier") -> tuple[pd.DataFrame, dict]:
    """Return each scenario's difference from the baseline (the first) in the share of ``tier`` researchers
    working in each region, per replicate (pair) and year, and whether each is paired by seed.

    Columns: scenario, region, year, seed, difference (a share difference; x100 for percentage points).
    """
    _check_comparable(results)
    labels = scenario_labels(results)
    base = _with_seed(migration_curve(results[0].stocks, tier), results[0].stocks)
    parts, paired = [], {}
    for label, result in zip(labels[1:], results[1:]):
        other = _with_seed(migration_curve(result.stocks, tier), result.stocks)
        diff, paired[label] = differences(base, other, ["region", "year"], "share")
        parts.append(diff.assign(scenario=label))
    columns = ["scenario", "region", "year", "seed", "difference"]
    table = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    return table, paired


@styled
def plot_compare_difference(results: Sequence[RunResult], *, tier: str = "top_tier", interval: float = INTERVAL,
                            caption: bool = True) -> Figure:
    """Return each scenario's difference from the baseline (the first result) in the share of ``tier``
    researchers working in each region, in percentage points, with the replicate band of the difference."""
    if len(results) < 2:
        raise CompareError("a difference needs a baseline and at least one other scenario")
    labels = scenario_labels(results)
    regions = results[0].scenario.region_ids
    names = {k: r.name for k, r in results[0].scenario.regions.items()}
    colours = region_colours(regions)
    styles = scenario_linestyles(labels)
    table, paired = curve_differences(results, tier=tier)
    table = table.assign(pp=table["difference"] * 100)
    band = _curve_band(table, ["scenario", "region", "year"], "pp", interval)
    fig, axes = _region_axes(regions)
    limit = float(np.nanmax(np.abs(band[["low", "high"]].to_numpy()))) if len(band) else 1.0
    for ax, region in zip(axes.flat, regions):
        ax.axhline(0, color=NEUTRAL, lw=0.8)
        for label in labels[1:]:
            rows = band[(band.scenario == label) & (band.region == region)]
            ax.plot(rows.year, rows["median"], color=colours[region], ls=styles[label], lw=1.7,
                    gid=f"difference:{label}:{region}")
            if (rows["high"] > rows["low"]).any():
                ax.fill_between(rows.year, rows["low"], rows["high"], color=colours[region], alpha=0.18, lw=0,
                                gid=f"band:{label}:{region}")
        ax.set_title(names[region], loc="left", color=colours[region] if region != "RoW" else NEUTRAL)
        ax.set_ylim(-1.1 * max(limit, 0.5), 1.1 * max(limit, 0.5))
    tier_label = {"top_tier": "top-tier", "elite": "elite", "all": "all"}.get(tier, tier)
    body(fig).supylabel(f"Change in share of {tier_label} researchers\n(percentage points)", fontsize=9)
    handles = [Line2D([], [], color=NEUTRAL, ls=styles[label], lw=1.7) for label in labels[1:]]
    add_title(fig, f"Change from '{labels[0]}' in where {tier_label} researchers work")
    figure_legend(fig, handles, [f"{label} minus {labels[0]}" for label in labels[1:]])
    how = ("paired by replicate seed (common random numbers)" if all(paired.values())
           else "over all pairs of replicates (the runs do not share seeds)")
    reps = max(r.stocks["replicate"].nunique() for r in results)
    text = (f"Difference from the baseline '{labels[0]}' in the share of {tier_label} researchers working in each "
            f"region, in percentage points; " + (f"lines: median difference, bands: central {interval:.0%} of "
                                                 f"replicate differences, {how}. " if reps > 1 else
                                                 "one replicate each: no band. ")
            + _scenario_note(results, labels, interval).split(". ", 1)[-1])
    add_caption(fig, text, draw=caption)
    return fig
