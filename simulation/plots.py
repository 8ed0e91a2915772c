"""Figures from run and experiment results. Each function reads tables (never a model) and returns a Figure.

Run figures take a :class:`~simulation.results.RunResult` (one scenario, any number of replicates); sweep figures
take plain DataFrames (an experiment's outcome table: one row per run with parameter and outcome columns; its curve
table: run id, year, region, share). Lines are replicate medians, bands the central 90% of replicates.
Every figure is sized for a 6.5-inch report column, keeps each region's colour, labels its axes with units and
carries a caption naming its sources (written under the figure, and kept on it for reports: ``caption_of(fig)``).

Plotted artists carry ids (``Artist.get_gid()``) such as ``median:US``, ``band:US`` or ``reference:US:2019`` so the
drawn data can be checked against the tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .observe import COLUMNS, ENTRY, EXIT
from .outputs import atomic_write
from .results import RunResult, migration_curve, retention_curve
from .style import (
    COLUMN_WIDTH_IN,
    DPI,
    NEUTRAL,
    SAVE_RC,
    UNPLACED,
    add_caption,
    add_title,
    body,
    display_name,
    figure_legend,
    label_line_ends,
    mark_policy_changes,
    new_figure,
    percent_axis,
    region_colours,
    region_styles,
    shade_fitted_period,
    styled,
    wrap_text,
)
from .summary import INTERVAL, MIN_REPLICATES_FOR_INTERVAL, replicate_band

__all__ = [
    "FIGURE_FORMATS",
    "FigureOptionError",
    "RUN_FIGURES",
    "cohort_stay_curve",
    "default_flow_period",
    "evidence",
    "fitted_period",
    "flow_matrix",
    "net_flows",
    "plot_cohort_stay",
    "plot_employer_headcounts",
    "plot_flows",
    "plot_migration_by_origin",
    "plot_migration_curves",
    "plot_retention_curves",
    "plot_sweep_envelopes",
    "plot_sweep_heatmap",
    "plot_sweep_outcomes",
    "change_years",
    "policy_years",
    "run_figures",
    "save_figure",
    "sweep_figures",
]

FIGURE_FORMATS = ("png", "svg", "pdf")


class FigureOptionError(ValueError):
    """A figure asked for something the results do not hold (an unknown outcome, parameter or figure)."""
TIER_LABELS = {"all": "all", "top_tier": "top-tier", "elite": "elite", "frontier": "frontier"}
TIER_NOTES = {
    "all": "all researchers",
    "top_tier": "top-tier researchers (top 20% by quality, as MacroPolo's NeurIPS authors)",
    "elite": "elite researchers (top 1% by quality)",
    "frontier": "frontier researchers (top 0.1% by quality)",
}
BAND_ALPHA = 0.18
REPRESENTED_UNIT = "researchers represented"  # model counts scaled to the real researchers they stand for
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++++", "oooo", "----")  # bars told apart in greyscale


@cache
def evidence() -> dict:
    """Return the published reference figures shipped with the package (with their sources)."""
    return yaml.safe_load(resources.files("simulation").joinpath("data/evidence.yaml").read_text())


# --------------------------------------------------------------------------------------------------------------
# Helpers


def _band(table: pd.DataFrame, keys: list[str], column: str, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the median over replicates (or runs) of ``column`` per group of ``keys`` (sorted) and the range of
    the central ``interval`` of them: :func:`~simulation.summary.replicate_band`."""
    return replicate_band(table, keys, column, interval)


def _label(column: str, unit: str | None = None) -> str:
    """Return an axis label from the declared column: 'Label (unit)'."""
    declared = COLUMNS[column]
    unit = declared.unit if unit is None else unit
    unit = "%" if unit == "share" else unit
    if not unit or unit.rstrip("s") in declared.label.lower():  # "Year", "Years since PhD": the unit is the label
        return declared.label
    return f"{declared.label} ({unit})"


def _names(result: RunResult) -> dict[str, str]:
    """Return the human name of each region, and of categories that are not regions (researchers without a post)."""
    names = {k: region.name for k, region in result.scenario.regions.items()}
    return {UNPLACED: "No research post", **names}


def _places(result: RunResult, table: pd.DataFrame, column: str = "region") -> list[str]:
    """Return the places found in ``table[column]``: the scenario's regions in their order, then other categories
    the results declare (such as researchers without a research post)."""
    found = list(dict.fromkeys(table[column].astype(str))) if column in table else []
    regions = [r for r in result.scenario.region_ids if r in found or not found]
    return regions + [p for p in found if p not in regions]


def _tier_label(tier: str) -> str:
    return TIER_LABELS.get(tier, tier.replace("_", "-"))


def _tier_note(tier: str) -> str:
    return TIER_NOTES.get(tier, f"{_tier_label(tier)} researchers")


def _scale(result: RunResult) -> float:
    """Return the real researchers one model researcher stands for."""
    return result.scenario.population.represents / result.scenario.run.researchers


def _replicates(result: RunResult) -> int:
    return int(result.stocks["replicate"].nunique())


def _band_note(result: RunResult, interval: float = INTERVAL) -> str:
    reps = _replicates(result)
    if reps >= MIN_REPLICATES_FOR_INTERVAL:
        return (f"Lines: median of {reps} replicates; bands: {interval:.0%} of replicates fall inside (the spread "
                "between replicates). ")
    return "A single replicate: its line, no band. "


def _provenance(result: RunResult) -> str:
    reps = _replicates(result)
    version = result.manifest.get("talentsim_version")
    return (f"Scenario: {display_name(result.scenario.name)} ({result.scenario.name}), {reps} "
            f"replicate{'s' if reps != 1 else ''} × {result.scenario.run.researchers:,} model researchers"
            f"{f', talentsim {version}' if version else ''}.")


def _scale_note(result: RunResult) -> str:
    represents = result.scenario.population.represents
    return (f"Counts are researchers represented: model counts scaled to the {represents:,.0f} researchers the "
            f"population stands for at the start (one model researcher = {_scale(result):,.3g}).")


def _decimal_year(month: str) -> float:
    return int(month[:4]) + (int(month[5:7]) - 1) / 12


def policy_years(result: RunResult) -> list[float]:
    """Return the dates (decimal years) at which the run's scenario changes a lever from its reference scenario,
    as recorded in its manifest by ``talentsim run`` (empty if not recorded)."""
    record = result.manifest.get("changes") or {}
    return change_years(record.get("changes", []))


def change_years(changes: Sequence[dict]) -> list[float]:
    """Return the dates (decimal years) of policy changes: where a lever starts to differ from the reference, or
    where the scenario's own value of it changes (not where only the reference's value moves)."""
    years, previous = set(), {}
    for change in changes:
        if not change.get("lever") or not change.get("start"):
            previous.pop(change.get("path"), None)
            continue
        before = previous.get(change["path"])
        if before is None or before["end"] != change["start"] or before["new"] != change["new"]:
            years.add(_decimal_year(change["start"]))
        previous[change["path"]] = change
    return sorted(years)


def fitted_period() -> tuple[float, float, str] | None:
    """Return the years the baseline's parameters were fitted to, and where that is documented."""
    period = evidence().get("fitted_period")
    if not period:
        return None
    return float(period["start"]), float(period["end"]), period.get("source", "")


def _period_marks(ax, result: RunResult, *, policies: Sequence[float] | None = None, label: bool = True) -> str:
    """Shade the fitted period and mark each policy change on ``ax``; return the caption's sentence about them."""
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    text = []
    fitted = fitted_period()
    if fitted and fitted[0] < last and fitted[1] > first:
        shade_fitted_period(ax, fitted[0], fitted[1], label=label)
        text.append(f"Shaded: {fitted[0]:.0f}–{fitted[1]:.0f}, the years the baseline was {fitted[2]}; later years "
                    "are projection.")
    policies = policy_years(result) if policies is None else list(policies)
    policies = [p for p in policies if first < p < last]
    if policies:
        mark_policy_changes(ax, policies, label=label)
        when = ", ".join(_month_words(p) for p in sorted(set(policies)))
        text.append(f"Dashed vertical line{'s' if len(set(policies)) > 1 else ''}: the scenario's policy "
                    f"change{'s' if len(set(policies)) > 1 else ''} ({when}).")
    return " ".join(text) + (" " if text else "")


def _month_words(year: float) -> str:
    import calendar

    whole = int(math.floor(year + 1e-9))
    month = int(round((year - whole) * 12)) + 1
    return f"{calendar.month_abbr[min(max(month, 1), 12)]} {whole}"


def _own_figure(ax, **kwargs):
    if ax is None:
        fig, ax = new_figure(**kwargs)
        return fig, ax, True
    return ax.figure, ax, False


def _finish(fig, ax, own: bool, title: str, caption_text: str, caption: bool, handles=None, labels=None) -> None:
    """Title, legend and caption: figure-level when the function made the figure, on the axes otherwise."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if own:
        add_title(fig, title)
        figure_legend(fig, handles, labels)
    else:
        ax.set_title(title)
        if handles:
            ax.legend(handles, labels, loc="best", fontsize="small")
    add_caption(fig, caption_text, draw=caption and own)


def _markevery(x) -> int | tuple:
    """Return a marker spacing of about one marker every two years on a quarterly series."""
    n = len(x)
    return max(1, n // 8)


def _draw_band(ax, x, rows: pd.DataFrame, colour: str, key: str, label: str | None, *, lw: float = 1.8,
               linestyle="-", alpha: float = BAND_ALPHA, zorder: float = 2, marker: str | None = None,
               markersize: float = 3.6):
    style = {"marker": marker, "markevery": _markevery(x), "ms": markersize, "mfc": "white", "mew": 1.0} \
        if marker else {}
    (line,) = ax.plot(x, rows["median"], color=colour, lw=lw, ls=linestyle, label=label, gid=f"median:{key}",
                      zorder=zorder + 0.5, **style)
    if len(rows) and (rows["high"] > rows["low"]).any():
        ax.fill_between(x, rows["low"], rows["high"], color=colour, alpha=alpha, lw=0, gid=f"band:{key}",
                        zorder=zorder)
    return line


def _human(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        return "–"
    size = abs(value)
    if size >= 10_000:
        return f"{value / 1000:,.0f}k"
    if size >= 1_000:
        return f"{value / 1000:,.1f}k"
    if size >= 10:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _last_points(band: pd.DataFrame, key: str, places: Sequence[str], names: dict[str, str],
                 styles: dict[str, dict], x: str = "year") -> list[tuple[float, float, str, str]]:
    ends = []
    for place in places:
        rows = band[band[key] == place].dropna(subset=["median"])
        if not rows.empty:
            ends.append((float(rows[x].iloc[-1]), float(rows["median"].iloc[-1]), names.get(place, place),
                         styles[place]["color"]))
    return ends


# --------------------------------------------------------------------------------------------------------------
# Run figures


@styled
def plot_migration_curves(result: RunResult, *, tier: str = "top_tier", ax=None, reference: bool = True,
                          caption: bool = True, interval: float = INTERVAL) -> Figure:
    """Return the migration curves: share of ``tier`` researchers working in each place over time.

    Lines are replicate medians, bands the central ``interval`` of replicates; each region has its own colour,
    dash pattern and marker and is named at its line's end. Published work-location shares (MacroPolo Global AI
    Talent Tracker) are drawn as points where the regions match. The fitted period is shaded and each policy
    change marked.
    """
    fig, ax, own = _own_figure(ax)
    names = _names(result)
    curve = migration_curve(result.stocks, tier)
    places = _places(result, curve)
    styles = region_styles(places)
    band = _band(curve, ["region", "year"], "share", interval)
    for region in places:
        rows = band[band.region == region]
        _draw_band(ax, rows.year, rows, styles[region]["color"], region, names.get(region, region),
                   linestyle=styles[region]["ls"], marker=styles[region]["marker"])
    sources = ""
    if reference and tier == "top_tier":
        ref = evidence()["top_tier_work_location"]
        points = [p for p in ref["values"] if p["region"] in places]
        for p in points:
            ax.plot(p["year"], p["share"], "o", ms=6.5, mfc="white", mec=NEUTRAL, mew=1.4, zorder=5,
                    gid=f"reference:{p['region']}:{p['year']}")
            ax.plot(p["year"], p["share"], ".", ms=3.5, color=styles[p["region"]]["color"], zorder=5.5)
        if points:
            ax.plot([], [], "o", ms=6.5, mfc="white", mec=NEUTRAL, mew=1.4, label="Published (MacroPolo)")
            sources = f"Circles: published shares, {ref['source']}. "
    percent_axis(ax.yaxis)
    ax.set_ylim(0, None)
    ax.set_xlabel(COLUMNS["year"].label)
    ax.set_ylabel(f"Share of {_tier_label(tier)} researchers (%)")
    marks = _period_marks(ax, result)
    label_line_ends(ax, _last_points(band, "region", places, names, styles))
    text = (f"Share of {_tier_note(tier)} working in each region. {sources}{marks}"
            f"{_band_note(result, interval)}{_provenance(result)}")
    _finish(fig, ax, own, f"Where {_tier_label(tier)} AI researchers work: {display_name(result.scenario.name)}",
            text, caption)
    return fig


@styled
def plot_migration_by_origin(result: RunResult, *, tier: str = "top_tier", caption: bool = True,
                             interval: float = INTERVAL) -> Figure:
    """Return the migration curves by origin as small multiples: for each origin (region of undergraduate degree),
    the share of its ``tier`` researchers working in each place over time."""
    names = _names(result)
    regions = result.scenario.region_ids
    curve = migration_curve(result.stocks, tier, by_origin=True)
    places = _places(result, curve)
    styles = region_styles(places)
    ncols = 2 if len(regions) <= 4 else 3
    nrows = math.ceil(len(regions) / ncols)
    fig, axes = new_figure(height_in=1.9 * nrows + 1.1, nrows=nrows, ncols=ncols, sharex=True, sharey=True,
                           squeeze=False)
    band = _band(curve, ["origin", "region", "year"], "share", interval)
    policies = policy_years(result)
    marks = ""
    for i, (ax, origin) in enumerate(zip(axes.flat, regions)):
        for region in places:
            rows = band[(band.origin == origin) & (band.region == region)]
            _draw_band(ax, rows.year, rows, styles[region]["color"], f"{origin}:{region}", names.get(region, region),
                       lw=1.4, linestyle=styles[region]["ls"], marker=styles[region]["marker"], markersize=3.0)
        ax.set_title(f"{names[origin]} origin", loc="left")
        percent_axis(ax.yaxis)
        ax.set_ylim(0, 1)
        marks = _period_marks(ax, result, policies=policies, label=False)
    for ax in axes.flat[len(regions):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(COLUMNS["year"].label)
    for col in range(ncols):  # bottom row may be short: label the lowest visible axes of each column
        visible = [axes[row, col] for row in range(nrows) if axes[row, col].get_visible()]
        if visible:
            visible[-1].set_xlabel(COLUMNS["year"].label)
            visible[-1].xaxis.set_tick_params(labelbottom=True)
    body(fig).supylabel(f"Share of the origin's {_tier_label(tier)} researchers (%)", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    text = (f"Where {_tier_note(tier)} of each origin (region of undergraduate degree) work: each panel's "
            f"lines sum to 100%. {marks}{_band_note(result, interval)}{_provenance(result)}")
    add_title(fig, f"Where {_tier_label(tier)} AI researchers work, by origin: {display_name(result.scenario.name)}")
    figure_legend(fig, handles, labels)
    add_caption(fig, text, draw=caption)
    return fig


@styled
def plot_retention_curves(result: RunResult, *, tier: str = "all", ax=None, caption: bool = True,
                          interval: float = INTERVAL) -> Figure:
    """Return the retention curves: share of each origin's ``tier`` researchers working in their origin region."""
    fig, ax, own = _own_figure(ax)
    regions, names = result.scenario.region_ids, _names(result)
    styles = region_styles(regions)
    band = _band(retention_curve(result.retention, tier), ["origin", "year"], "retention", interval)
    for origin in regions:
        rows = band[band.origin == origin]
        if not rows.empty:
            _draw_band(ax, rows.year, rows, styles[origin]["color"], origin, f"{names[origin]} origin",
                       linestyle=styles[origin]["ls"], marker=styles[origin]["marker"])
    percent_axis(ax.yaxis)
    ax.set_ylim(0, 1)
    ax.set_xlabel(COLUMNS["year"].label)
    ax.set_ylabel(f"{_tier_label(tier).capitalize()} researchers working\nin their origin region (%)")
    marks = _period_marks(ax, result)
    label_line_ends(ax, _last_points(band, "origin", regions, names, styles))
    text = (f"Home retention: share of each origin's {_tier_note(tier)} who work in the region of their "
            f"undergraduate degree. {marks}{_band_note(result, interval)}{_provenance(result)}")
    _finish(fig, ax, own, f"Home retention of {_tier_label(tier)} AI researchers, by origin: "
            f"{display_name(result.scenario.name)}", text, caption)
    return fig


def cohort_stay_curve(cohorts: pd.DataFrame, *, by_origin: bool = False) -> pd.DataFrame:
    """Return the cohort stay rate pooled over entry cohorts, per replicate, host region and years since entry.

    Of the researchers who trained outside their origin (the ``cohorts`` table), the share of those still active
    who work in their host (training) region, as a function of years since they entered research.
    Columns: replicate, training_region, [origin,] years_since_entry, active, in_host_region, stay_rate, cohorts
    (how many entry cohorts the point pools).
    """
    keys = ["replicate", "training_region"] + (["origin"] if by_origin else []) + ["years_since_entry"]
    pooled = cohorts.groupby(keys, observed=True)[["active", "in_host_region"]].sum().reset_index()
    pooled["stay_rate"] = pooled["in_host_region"] / pooled["active"].where(pooled["active"] > 0)
    counted = cohorts[cohorts["active"] > 0].groupby(keys, observed=True)["cohort_year"].nunique()
    pooled["cohorts"] = pooled.set_index(keys).index.map(counted).fillna(0).astype(int)
    return pooled


_REFERENCE_MARKERS = (("lower bound", "^"), ("ORISE", "s"), ("NSB", "D"), ("CSET", "o"))


def _reference_marker(note: str) -> str:
    return next((marker for key, marker in _REFERENCE_MARKERS if key in note), "o")


@styled
def plot_cohort_stay(result: RunResult, *, hosts: Sequence[str] | None = None, reference: bool = True,
                     caption: bool = True, interval: float = INTERVAL, min_host_share: float = 0.1,
                     min_active: int = 30, min_cohorts: int = 5) -> Figure:
    """Return cohort stay curves: of researchers who trained abroad, the share still in the host region by years
    since entry, pooled over entry cohorts, for all origins together and for each origin.

    ``hosts`` defaults to the host regions that trained at least ``min_host_share`` of all researchers trained
    abroad. A curve is cut where fewer than ``min_cohorts`` entry cohorts remain to pool (late years rest on the
    earliest cohorts alone) and points resting on fewer than ``min_active`` model researchers are left out.
    Published stay rates (CSET 2019; ORISE, Finn 2014; NSB Indicators 2020) are drawn as reference points in the
    host's panel.
    """
    regions, names = result.scenario.region_ids, _names(result)
    styles = region_styles(regions)
    cohorts = result.cohorts
    if hosts is None:
        trained = cohorts.groupby("training_region", observed=True)["active"].sum()
        trained = trained[trained >= min_host_share * trained.sum()] if len(trained) else trained
        hosts = [r for r in regions if r in trained.index]
    hosts = [h for h in hosts if h in regions] or regions[:1]
    ncols = 1 if len(hosts) == 1 else 2
    nrows = math.ceil(len(hosts) / ncols)
    fig, axes = new_figure(height_in=(3.0 if nrows == 1 else 2.3 * nrows) + 1.2, nrows=nrows, ncols=ncols,
                           sharey=True, squeeze=False)

    def enough(table: pd.DataFrame) -> pd.DataFrame:
        return table[(table["active"] >= min_active) & (table["cohorts"] >= min_cohorts)]

    total = _band(enough(cohort_stay_curve(cohorts)), ["training_region", "years_since_entry"], "stay_rate",
                  interval)
    origins = _band(enough(cohort_stay_curve(cohorts, by_origin=True)),
                    ["training_region", "origin", "years_since_entry"], "stay_rate", interval)
    ref = evidence().get("us_phd_stay_rates", {}) if reference else {}
    lines: dict[str, object] = {}
    markers: dict[str, object] = {}
    longest = 0.0
    for ax, host in zip(axes.flat, hosts):
        rows = total[total.training_region == host]
        longest = max(longest, float(rows.years_since_entry.max()) if len(rows) else 0.0)
        lines["All origins"] = _draw_band(ax, rows.years_since_entry, rows, NEUTRAL, f"{host}:all", None, lw=2.0,
                                          zorder=3)
        for origin in regions:
            rows = origins[(origins.training_region == host) & (origins.origin == origin)]
            if origin == host or rows.empty:
                continue
            lines[origin] = _draw_band(ax, rows.years_since_entry, rows, styles[origin]["color"], f"{host}:{origin}",
                                       None, lw=1.3, alpha=0.10, linestyle=styles[origin]["ls"],
                                       marker=styles[origin]["marker"], markersize=3.0)
        for p in ref.get("values", []):
            if p["host"] != host or (p["origin"] != "all" and p["origin"] not in regions):
                continue
            colour = NEUTRAL if p["origin"] == "all" else styles[p["origin"]]["color"]
            marker = _reference_marker(p.get("note", ""))
            ax.plot(p["years_since_entry"], p["stay_rate"], marker, ms=6, mfc="white", mec=colour, mew=1.6, zorder=6,
                    clip_on=False, gid=f"reference:{host}:{p['origin']}:{p['years_since_entry']}:{p['stay_rate']}")
            label = p.get("note", "published stay rate")
            label = label[0].upper() + label[1:]
            markers.setdefault(label, Line2D([], [], ls="", marker=marker, ms=6, mfc="white", mec=colour, mew=1.6))
        ax.set_title(f"Trained in {names[host]}", loc="left")
        ax.set_xlabel(_label("years_since_entry"))
        ax.set_xlim(0, None)
        ax.set_ylim(0, 1.02)
        percent_axis(ax.yaxis)
    for ax in axes.flat[len(hosts):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("In the host region (%)")
    order = ["All origins", *[r for r in regions if r in lines]]
    handles = [lines[k] for k in order] + list(markers.values())
    labels = ["All origins trained abroad", *[f"{names[r]} origin" for r in order[1:]]] + list(markers)
    sources = ""
    if markers:
        sources = (f"Open markers: published stay rates of foreign PhDs in the US, {ref['source']}; National "
                   "Science Board, Science and Engineering Indicators 2020; the triangle is a lower bound. ")
    text = ("Cohort stay curves: of researchers who did their PhD outside their origin region, the share of those "
            "still in research who work in the host region, by years since entry, pooled over entry cohorts "
            f"{int(cohorts.cohort_year.min())}-{int(cohorts.cohort_year.max())}. Curves stop where fewer than "
            f"{min_cohorts} entry cohorts remain to pool (here after {longest:.0f} years) or fewer than {min_active} "
            f"model researchers stand behind a point. {sources}{_band_note(result, interval)}{_provenance(result)}")
    add_title(fig, "How long researchers trained abroad stay in the host region: "
              f"{display_name(result.scenario.name)}")
    figure_legend(fig, handles, labels, max_columns=2 if markers else None)
    add_caption(fig, text, draw=caption)
    return fig


def flow_matrix(flows: pd.DataFrame, *, start: float | None = None, end: float | None = None,
                scale: float = 1.0) -> pd.DataFrame:
    """Return moves per year from region to region over the period, per replicate.

    Counts the moves of steps ending in (``start``, ``end``] (defaults: the whole run), divides by the period's
    length in years and multiplies by ``scale`` (real researchers per model researcher).
    Columns: replicate, from_region, to_region, moves_per_year.
    """
    first_state = float(flows["year"].min()) - _step_years(flows)
    start = first_state if start is None else max(float(start), first_state)
    end = float(flows["year"].max()) if end is None else float(end)
    if end <= start:
        raise ValueError(f"flow period must end after it starts, got {start:g} to {end:g}")
    rows = flows[(flows["year"] > start + 1e-9) & (flows["year"] <= end + 1e-9)]
    years = end - start
    out = rows.groupby(["replicate", "from_region", "to_region"], observed=True)["moves"].sum().reset_index()
    out["moves_per_year"] = out["moves"] * scale / years
    return out.drop(columns="moves")


def _step_years(table: pd.DataFrame) -> float:
    years = np.sort(table["year"].unique())
    return float(np.min(np.diff(years))) if len(years) > 1 else 0.25


def net_flows(matrix: pd.DataFrame, regions: Sequence[str]) -> pd.DataFrame:
    """Return each region's net inflow from other regions (inflow minus outflow, entry and exit left out).

    ``matrix`` is :func:`flow_matrix`'s table. Columns: replicate, region, inflow, outflow, net (per year).
    """
    between = matrix[matrix.from_region.isin(regions) & matrix.to_region.isin(regions)
                     & (matrix.from_region != matrix.to_region)]
    rows = []
    for replicate, group in between.groupby("replicate"):
        for region in regions:
            inflow = group.loc[group.to_region == region, "moves_per_year"].sum()
            outflow = group.loc[group.from_region == region, "moves_per_year"].sum()
            rows.append({"replicate": replicate, "region": region, "inflow": inflow, "outflow": outflow,
                         "net": inflow - outflow})
    return pd.DataFrame(rows, columns=["replicate", "region", "inflow", "outflow", "net"])


def default_flow_period(result: RunResult) -> tuple[float, float]:
    """Return the flow figure's default period: from the first policy change to the end of the run (the whole
    run when the scenario changes no lever, or the change is not recorded)."""
    first = float(result.flows["year"].min()) - _step_years(result.flows)
    last = float(result.flows["year"].max())
    policies = [p for p in policy_years(result) if first < p < last]
    return (min(policies) if policies else first, last)


@styled
def plot_flows(result: RunResult, *, period: tuple[float, float] | None = None, caption: bool = True,
               interval: float = INTERVAL) -> Figure:
    """Return the flow figure for ``period`` (default: from the first policy change to the end of the run): a
    matrix of moves between regions per year with its colour bar, each region's net inflow from the others, and,
    apart from the moves, the new PhD graduates entering research and the researchers leaving it, per region."""
    names = _names(result)
    regions = result.scenario.region_ids
    start, end = period if period is not None else default_flow_period(result)
    first = float(result.flows["year"].min()) - _step_years(result.flows)
    start, end = max(float(start), first), float(end)
    scale = _scale(result)
    matrix = flow_matrix(result.flows, start=start, end=end, scale=scale)
    medians = matrix.groupby(["from_region", "to_region"], observed=True)["moves_per_year"].median()
    places = [p for p in _places(result, result.flows, "from_region") if p not in (ENTRY, EXIT)]
    places += [p for p in regions if p not in places]
    grid = np.array([[np.nan if s == t else medians.get((s, t), 0.0) for t in places] for s in places], dtype=float)

    fig = plt.figure(figsize=(COLUMN_WIDTH_IN, 5.6), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, hspace=0.02, wspace=0.02)
    outer = fig.add_gridspec(2, 1, height_ratios=[5.6, 1e-3], hspace=0)
    fig.talentsim_grid, fig.talentsim_body_height = outer, 5.6
    fig.talentsim_body = fig.add_subfigure(outer[0])
    fig.talentsim_foot = fig.add_subfigure(outer[1])
    top, bottom = fig.talentsim_body.subfigures(2, 1, height_ratios=[1.25, 1])
    ax, bars = top.subplots(1, 2, width_ratios=[1.35, 1])
    flows_ax = bottom.subplots(1, 1)

    finite = grid[np.isfinite(grid)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    cmap = plt.get_cmap("Blues").with_extremes(bad="#ffffff")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=vmax), aspect="auto",
                      gid="flow_matrix")
    for i in range(len(places)):
        for j in range(len(places)):
            value = grid[i, j]
            if not np.isfinite(value):
                ax.text(j, i, "–", ha="center", va="center", fontsize=7, color="#999999")
                continue
            dark = value > 0.45 * vmax
            ax.text(j, i, _human(value), ha="center", va="center", fontsize=7,
                    color="white" if dark else NEUTRAL, gid=f"cell:{places[i]}:{places[j]}")
    tick_names = [wrap_text(names.get(p, p), 52, fontsize=7.5) for p in places]
    ax.set_xticks(range(len(places)), tick_names, fontsize=7.5)
    ax.set_yticks(range(len(places)), tick_names, fontsize=7.5)
    ax.set_xlabel("To (region joined)")
    ax.set_ylabel("From (region left)")
    ax.grid(False)
    ax.tick_params(length=0)
    ax.set_title("Moves between regions per year", loc="left")
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, location="right", shrink=0.9, pad=0.02, aspect=25)
    bar.set_label(f"Moves per year ({REPRESENTED_UNIT})", fontsize=7.5)
    bar.ax.tick_params(labelsize=7)
    bar.locator = MaxNLocator(4)  # the square-root scale crowds default ticks at the top
    bar.update_ticks()
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v) if v else "0"))
    bar.ax.set_gid("colour_bar")

    net = net_flows(matrix, [p for p in places if p in regions])
    band = _band(net, ["region"], "net", interval).set_index("region").reindex([p for p in places if p in regions])
    net_regions = list(band.index)
    styles = region_styles(places)
    y = np.arange(len(net_regions))
    patches = bars.barh(y, band["median"].fillna(0), color=[styles[r]["color"] for r in net_regions], height=0.6,
                        gid="net_bars")
    for patch, region, hatch in zip(patches.patches, net_regions, HATCHES):
        patch.set_gid(f"net:{region}")
        patch.set_hatch(hatch)
        patch.set_edgecolor("white")
    if band["low"].notna().any():
        bars.errorbar(band["median"], y, xerr=[band["median"] - band["low"], band["high"] - band["median"]],
                      fmt="none", ecolor=NEUTRAL, elinewidth=1, capsize=2.5, gid="net_interval")
    bars.axvline(0, color=NEUTRAL, lw=0.8)
    bars.set_yticks(y, [names.get(r, r) for r in net_regions], fontsize=7.5)
    bars.invert_yaxis()
    bars.set_xlabel(f"Net inflow from other regions\n({REPRESENTED_UNIT}\nper year)")
    bars.set_title("Brain gain (+) or drain (−)", loc="left")
    bars.grid(axis="y", visible=False)
    bars.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v) if v else "0"))
    limit = float(np.nanmax(np.abs(band[["low", "high", "median"]].to_numpy()))) if len(band) else 1.0
    limit = limit if np.isfinite(limit) and limit > 0 else 1.0
    bars.set_xlim(-1.15 * limit, 1.15 * limit)

    entering = matrix[matrix.from_region == ENTRY].groupby(["replicate", "to_region"])["moves_per_year"].sum()
    leaving = matrix[matrix.to_region == EXIT].groupby(["replicate", "from_region"])["moves_per_year"].sum()
    entering = _band(entering.rename("v").reset_index().rename(columns={"to_region": "place"}), ["place"], "v",
                     interval).set_index("place")
    leaving = _band(leaving.rename("v").reset_index().rename(columns={"from_region": "place"}), ["place"], "v",
                    interval).set_index("place")
    x = np.arange(len(places))
    width = 0.38
    for offset, table, what, colour, hatch in ((-width / 2, entering, "New PhD graduates entering research",
                                                "#8FB8DE", ""),
                                               (width / 2, leaving, "Researchers leaving research", "#555555", "///")):
        values = table["median"].reindex(places).fillna(0).to_numpy()
        drawn = flows_ax.bar(x + offset, values, width=width, color=colour, edgecolor="white", hatch=hatch,
                             label=what, gid=f"{'entry' if offset < 0 else 'exit'}_bars")
        low, high = table["low"].reindex(places).to_numpy(), table["high"].reindex(places).to_numpy()
        if np.isfinite(low).any():
            flows_ax.errorbar(x + offset, values, yerr=[values - low, high - values], fmt="none", ecolor=NEUTRAL,
                              elinewidth=0.9, capsize=2)
        for patch, place in zip(drawn.patches, places):
            patch.set_gid(f"{'entry' if offset < 0 else 'exit'}:{place}")
    flows_ax.set_xticks(x, [names.get(p, p) for p in places], fontsize=7.5)
    flows_ax.set_ylabel(f"{REPRESENTED_UNIT.capitalize()}\nper year", fontsize=8)
    flows_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v) if v else "0"))
    flows_ax.set_title("Entering and leaving research, by region (not moves between regions)", loc="left")
    flows_ax.grid(axis="x", visible=False)

    period_text = f"{_month_words(start)} to {_month_words(end)}"
    add_title(fig, f"Moves between regions, {period_text}: {display_name(result.scenario.name)}")
    handles, labels = flows_ax.get_legend_handles_labels()
    figure_legend(fig, handles, labels)
    default = period is None and start > first + 1e-9
    text = (f"Top left: researchers moving from the row region to the column region per year, {period_text}"
            f"{' (from the first policy change to the end of the run)' if default else ''}; moves between "
            f"employers within a region are not shown. Top right: moves in from other regions minus moves out"
            f"{f'; whiskers: {interval:.0%} of replicates' if _replicates(result) > 1 else ''}. Bottom: new PhD "
            f"graduates entering research and researchers leaving it. Values are medians of replicates. "
            f"{_scale_note(result)} {_provenance(result)}")
    add_caption(fig, text, draw=caption)
    return fig


@styled
def plot_employer_headcounts(result: RunResult, *, years: tuple[float, float] | None = None,
                             caption: bool = True, interval: float = INTERVAL) -> Figure:
    """Return employer headcounts (all and top-tier researchers, researchers represented) at two dates, grouped
    by region.

    ``years`` defaults to the first and last recorded years; hollow markers show the first, filled markers (with
    their replicate interval) the second.
    """
    regions, names = result.scenario.region_ids, _names(result)
    styles = region_styles(regions)
    emp = result.employers
    recorded = np.sort(emp["year"].unique())
    first, last = (recorded[0], recorded[-1]) if years is None else tuple(
        float(recorded[np.argmin(np.abs(recorded - y))]) for y in years)
    scale = _scale(result)
    scenario_employers = result.scenario.employers
    start = emp[emp.year == first].groupby("employer", observed=True)["headcount"].median()
    order = sorted(scenario_employers, key=lambda e: (regions.index(scenario_employers[e].region), -start.get(e, 0)))
    n = len(order)
    fig, axes = new_figure(height_in=0.19 * n + 1.5, ncols=2, sharey=True)
    y = np.arange(n)
    for ax, column, title in ((axes[0], "headcount", "All researchers"),
                              (axes[1], "top_tier_headcount", "Top-tier researchers")):
        values = emp[emp.year.isin([first, last])].assign(value=lambda d: d[column] * scale)
        band = _band(values, ["employer", "year"], "value", interval).set_index(["employer", "year"])
        for i, employer in enumerate(order):
            style = styles[scenario_employers[employer].region]
            colour, marker = style["color"], style["marker"]
            a = band["median"].get((employer, first), np.nan)
            b = band["median"].get((employer, last), np.nan)
            ax.plot([a, b], [i, i], color="#bbbbbb", lw=1.2, zorder=1)
            ax.plot(a, i, marker, ms=4.5, mfc="white", mec=colour, mew=1.3, zorder=3, gid=f"first:{column}:{employer}")
            ax.plot(b, i, marker, ms=4.5, color=colour, zorder=4, gid=f"last:{column}:{employer}")
            if (employer, last) in band.index and pd.notna(band.loc[(employer, last), "low"]):
                low, high = band.loc[(employer, last), ["low", "high"]]
                ax.plot([low, high], [i, i], color=colour, lw=2.2, alpha=0.5, zorder=2,
                        gid=f"interval:{column}:{employer}")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v)))
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"Employed, log scale\n({REPRESENTED_UNIT})")
        ax.grid(axis="y", visible=False)
        boundaries = [i - 0.5 for i in range(1, n) if scenario_employers[order[i]].region
                      != scenario_employers[order[i - 1]].region]
        for b in boundaries:
            ax.axhline(b, color="#dddddd", lw=0.8)
    axes[0].set_yticks(y, [scenario_employers[e].name for e in order], fontsize=7.5)
    axes[0].set_ylim(n - 0.5, -0.5)
    handles = [Line2D([], [], ls="", marker="o", ms=4.5, mfc="white", mec=NEUTRAL, mew=1.3),
               Line2D([], [], ls="", marker="o", ms=4.5, color=NEUTRAL)]
    labels = [f"{first:.4g}", f"{last:.4g}"]
    present = [r for r in regions if any(scenario_employers[e].region == r for e in order)]
    handles += [Line2D([], [], ls="", marker=styles[r]["marker"], ms=5, color=styles[r]["color"]) for r in present]
    labels += [names[r] for r in present]
    add_title(fig, f"Employer headcounts, {first:.4g} and {last:.4g}: {display_name(result.scenario.name)}")
    figure_legend(fig, handles, labels)
    text = (f"Researchers employed by each employer in {first:.4g} (hollow) and {last:.4g} (filled"
            f"{f'; bar: {interval:.0%} of replicates' if _replicates(result) > 1 else ''}), "
            f"medians of replicates; region by colour and marker. {_scale_note(result)} "
            f"{_provenance(result)}")
    add_caption(fig, text, draw=caption)
    return fig


# --------------------------------------------------------------------------------------------------------------
# The set of run figures


RUN_FIGURES: dict[str, str] = {
    "migration_curve": "Where top-tier researchers work, by region",
    "migration_by_origin": "Where researchers of each origin work",
    "retention_curve": "Home retention by origin",
    "cohort_stay": "Cohort stay curves with published stay rates",
    "flows": "Moves between regions, net balances, entries and exits",
    "employers": "Employer headcounts",
}


def run_figures(result: RunResult, *, tier: str = "top_tier", period: tuple[float, float] | None = None,
                caption: bool = True, names: Sequence[str] | None = None) -> Iterator[tuple[str, Figure]]:
    """Yield (name, figure) for each run figure (all of ``RUN_FIGURES`` unless ``names`` says which).

    Figures are made one at a time so a caller can save and close each before the next is drawn.
    """
    makers: dict[str, Callable[[], Figure]] = {
        "migration_curve": lambda: plot_migration_curves(result, tier=tier, caption=caption),
        "migration_by_origin": lambda: plot_migration_by_origin(result, tier=tier, caption=caption),
        "retention_curve": lambda: plot_retention_curves(result, tier=tier, caption=caption),
        "cohort_stay": lambda: plot_cohort_stay(result, caption=caption),
        "flows": lambda: plot_flows(result, period=period, caption=caption),
        "employers": lambda: plot_employer_headcounts(result, caption=caption),
    }
    for name in names or list(RUN_FIGURES):
        if name not in makers:
            raise FigureOptionError(f"unknown figure {name!r}; choose from {', '.join(RUN_FIGURES)}")
        yield name, makers[name]()


# --------------------------------------------------------------------------------------------------------------
# Sweep figures (experiment results as plain DataFrames)


def _outcome_label(outcome: str, label: str | None) -> str:
    if label:
        return label
    if outcome in COLUMNS:
        return _label(outcome)
    return outcome.replace("_", " ")


def _is_share(values: pd.Series, outcome: str, percent: bool | None) -> bool:
    if percent is not None:
        return percent
    finite = values.dropna()
    named = any(word in outcome for word in ("share", "retention", "rate"))
    return named and len(finite) > 0 and finite.between(0, 1).all()


_COMMON_FIRST_WORDS = {"Share", "Home", "Net", "Probability", "Mean", "Median", "Number", "Moves", "Researchers",
                       "Change", "Difference", "Stay", "Years", "Pay", "State", "Signing", "Visa", "Return"}


def _midsentence(text: str) -> str:
    """Return ``text`` for use inside a sentence: 'Share of ...' -> 'share of ...'; names ('Chinese', 'US') kept."""
    first = text.split(" ", 1)[0]
    return text[0].lower() + text[1:] if first in _COMMON_FIRST_WORDS else text


def _share_decimals(values) -> int:
    """Return the decimals that tell apart percentages spread over ``values``' range."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    spread = float(finite.max() - finite.min()) if finite.size else 1.0
    return 0 if spread >= 0.08 else 1 if spread >= 0.008 else 2


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _tick_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


@styled
def plot_sweep_heatmap(outcomes: pd.DataFrame, x: str, y: str, outcome: str, *, threshold: float | None = None,
                       statistic: str = "median", label: str | None = None, percent: bool | None = None,
                       labels: dict[str, str] | None = None, annotate: bool = True, ax=None, caption: bool = True,
                       source: str = "") -> Figure:
    """Return a heatmap of ``outcome`` over two levers ``x`` and ``y``, with a contour where it equals ``threshold``.

    ``outcomes`` has one row per run (parameter columns, seed, outcome columns). Runs with the same (x, y) are
    summarised with ``statistic`` (median or mean over replicates and other parameters). A full grid (lever arms)
    is drawn as equal cells, one per pair of values, each labelled with its value; the contour is interpolated
    between cell centres. Scattered samples (Latin hypercube, Sobol) are interpolated on a triangulation and shown
    as dots. ``label`` names the outcome and ``labels`` the parameters (with units) on the axes.
    """
    labels = labels or {}
    for column in (x, y, outcome):
        if column not in outcomes.columns:
            raise ValueError(f"no column {column!r} in the outcome table; columns: {', '.join(outcomes.columns)}")
    fig, ax, own = _own_figure(ax, height_in=4.2)
    cells = outcomes.groupby([x, y])[outcome].agg(statistic).reset_index().dropna(subset=[outcome])
    xs, ys = np.sort(cells[x].unique()), np.sort(cells[y].unique())
    share = _is_share(cells[outcome], outcome, percent)
    decimals = _share_decimals(cells[outcome]) if share else 0
    grid_like = len(cells) == len(xs) * len(ys) and len(xs) > 1 and len(ys) > 1
    cmap = plt.get_cmap("viridis")
    if grid_like:
        z = cells.pivot(index=y, columns=x, values=outcome).reindex(index=ys, columns=xs).to_numpy()
        ix, iy = np.arange(len(xs)), np.arange(len(ys))
        mesh = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5, z, cmap=cmap,
                             shading="flat", gid="heatmap")
        if threshold is not None and np.nanmin(z) < threshold < np.nanmax(z):
            contour = ax.contour(ix, iy, z, levels=[threshold], colors="white", linewidths=2.4)
            contour.set_gid("threshold")
            ax.contour(ix, iy, z, levels=[threshold], colors=NEUTRAL, linewidths=1.1, linestyles="--")
        ax.set_xticks(ix, [_tick_text(v) for v in xs])
        ax.set_yticks(iy, [_tick_text(v) for v in ys])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.tick_params(length=0)
        if annotate and z.size <= 80:  # few cells: print each value so the figure reads without the colour bar
            norm = mesh.norm
            for (i, j), value in np.ndenumerate(z):
                if np.isfinite(value):
                    ax.text(j, i, f"{value:.{decimals}%}" if share else _number(value), ha="center", va="center",
                            fontsize=7, color="white" if norm(value) < 0.55 else NEUTRAL,
                            zorder=4, gid=f"cell:{xs[j]}:{ys[i]}")
    else:
        mesh = ax.tricontourf(cells[x], cells[y], cells[outcome], levels=12, cmap=cmap)
        mesh.set_gid("heatmap")
        ax.plot(cells[x], cells[y], ".", color="white", ms=2.5, alpha=0.7, gid="samples")
        if threshold is not None and cells[outcome].min() < threshold < cells[outcome].max():
            contour = ax.tricontour(cells[x], cells[y], cells[outcome], levels=[threshold], colors="white",
                                    linewidths=2.4)
            contour.set_gid("threshold")
            ax.tricontour(cells[x], cells[y], cells[outcome], levels=[threshold], colors=NEUTRAL, linewidths=1.1,
                          linestyles="--")
    bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.9, pad=0.02)
    what = _outcome_label(outcome, label)
    bar.set_label(wrap_text(what + (" (%)" if share and "%" not in what else ""), 200, fontsize=9))
    if share:
        percent_axis(bar.ax.yaxis, None)  # decimals follow the colour bar's range
    if threshold is not None:
        shown = f"{threshold:.{max(decimals, 0)}%}" if share else f"{threshold:g}"
        bar.ax.axhline(threshold, color="white", lw=2.4)
        bar.ax.axhline(threshold, color=NEUTRAL, lw=1.1, ls="--")
        handles = [Line2D([], [], color=NEUTRAL, ls="--", lw=1.1)]
        legend_labels = [f"Threshold {shown}"]
    else:
        handles, legend_labels = [], []
    x_label, y_label = labels.get(x, x.replace("_", " ")), labels.get(y, y.replace("_", " "))
    ax.set_xlabel(wrap_text(x_label, 320, fontsize=9))
    ax.set_ylabel(wrap_text(y_label, 190, fontsize=9))
    ax.grid(False)
    per_cell = outcomes.groupby([x, y]).size()
    runs_per = f"{per_cell.min()}" if per_cell.min() == per_cell.max() else f"{per_cell.min()}-{per_cell.max()}"
    text = (f"{statistic.capitalize()} of {_midsentence(what)} over the runs at each point ({len(outcomes)} runs, "
            f"{runs_per} a point), by {_midsentence(x_label)} and {_midsentence(y_label)}"
            f"{' (interpolated between the sampled points, shown as dots)' if not grid_like else ''}"
            f"{f'; dashed contour: {legend_labels[0].lower()}' if handles else ''}. {source}").strip()
    _finish(fig, ax, own, what, text, caption, handles, legend_labels)
    return fig


@styled
def plot_sweep_envelopes(curves: pd.DataFrame, *, curve: str | None = None, by: str | None = None,
                         regions: Sequence[str] | None = None, run: str | None = None, value: str | None = None,
                         key: str | None = None, names: dict[str, str] | None = None, label: str | None = None,
                         by_label: str | None = None, interval: float = 0.9, ax=None, caption: bool = True,
                         source: str = "") -> Figure:
    """Return the envelopes of curves across a sweep: per region, the median over runs, the central ``interval``
    (dark band) and the full range (light band) of the curves over time.

    ``curves`` has one row per run, year and region: columns run id (``run``: run_id or run), year, region (or
    origin: ``key``) and the value (``value``: share or value). A table holding several curves (a ``curve``
    column) is narrowed to ``curve`` (default: the first). With ``by`` (a parameter column joined to the curves),
    one panel per value of that parameter.
    """
    if curve is None and "curve" in curves.columns:
        curve = str(curves["curve"].iloc[0]) if len(curves) else None
    if curve is not None and "curve" in curves.columns:
        curves = curves[curves["curve"] == curve]
    run = run or next((c for c in ("run_id", "run", "id") if c in curves.columns), None)
    value = value or next((c for c in ("share", "value") if c in curves.columns), None)
    key = key or next((c for c in ("region", "origin") if c in curves.columns and curves[c].notna().any()), None)
    missing = [what for what, column in (("run id", run), ("value", value), ("region", key)) if column is None]
    if missing:
        raise ValueError(f"no {', '.join(missing)} column in the curve table; columns: {', '.join(curves.columns)}")
    if by is not None and by not in curves.columns:
        raise ValueError(f"no column {by!r} in the curve table; join the parameters first (columns: "
                         f"{', '.join(curves.columns)})")
    names = names or {}
    regions = list(regions or dict.fromkeys(curves[key].dropna()))
    colours = region_colours(regions)
    data = curves[curves[key].isin(regions)]
    groups = [(None, data)] if by is None else [(v, data[data[by] == v]) for v in sorted(data[by].unique())]
    if by is None:
        fig, ax, own = _own_figure(ax)
        axes = [ax]
    else:
        ncols = min(3, len(groups))
        nrows = math.ceil(len(groups) / ncols)
        fig, grid = new_figure(height_in=1.9 * nrows + 1.1, nrows=nrows, ncols=ncols, sharex=True, sharey=True,
                               squeeze=False)
        axes, own = list(grid.flat), True
        for extra in axes[len(groups):]:
            extra.set_visible(False)
    share = value == "share" or _is_share(data[value], value if value != "value" else (label or curve or ""), None)
    share = share or (label or "").lower().startswith(("share", "home retention"))
    for ax, (level, rows) in zip(axes, groups):
        band = _band(rows, [key, "year"], value, interval)
        full = rows.groupby([key, "year"], observed=True)[value].agg(["min", "max"]).reset_index()
        prefix = "" if level is None else f"{level}:"
        for region in regions:
            part, extent = band[band[key] == region], full[full[key] == region]
            if part.empty:
                continue
            ax.fill_between(extent.year, extent["min"], extent["max"], color=colours[region], alpha=0.10, lw=0,
                            gid=f"range:{prefix}{region}")
            name = names.get(region, region) + (" origin" if key == "origin" else "")
            _draw_band(ax, part.year, part, colours[region], f"{prefix}{region}", name, alpha=0.25)
        if share:
            percent_axis(ax.yaxis)
            ax.set_ylim(0, None)
        if level is not None:
            ax.set_title(f"{by_label or by.replace('_', ' ')}: {level:g}" if isinstance(level, (int, float))
                         else f"{by_label or by}: {level}", loc="left", fontsize=8.5)
    what = label or (_label(value) if value in COLUMNS else value.replace("_", " "))
    unit_text = " (%)" if share and "%" not in what else ""
    if by is None:
        axes[0].set_xlabel(COLUMNS["year"].label)
        axes[0].set_ylabel(wrap_text(what + unit_text, 190, fontsize=9))
    else:
        for ax in grid[-1]:
            ax.set_xlabel(COLUMNS["year"].label)
        body(fig).supylabel(what + unit_text, fontsize=9)
    n = data[run].nunique()
    text = (f"{what} across the {n} runs of the sweep{f', by {by_label or by}' if by else ''}: lines are medians "
            f"of runs, dark bands the central {interval:.0%} and light bands the full range of runs. "
            f"{source}").strip()
    title = f"{label} across the sweep" if label else "Envelope of the curves across the sweep" + (
        f": {curve.replace('_', ' ')}" if curve else "")
    if by is None:
        _finish(fig, axes[0], own, title, text, caption)
    else:
        add_title(fig, title)
        handles, legend_labels = axes[0].get_legend_handles_labels()
        figure_legend(fig, handles, legend_labels)
        add_caption(fig, text, draw=caption)
    return fig


@styled
def plot_sweep_outcomes(outcomes: pd.DataFrame, outcome: str, parameters: Sequence[str], *,
                        threshold: float | None = None, label: str | None = None, percent: bool | None = None,
                        labels: dict[str, str] | None = None, bins: int = 8, caption: bool = True,
                        source: str = "") -> Figure:
    """Return ``outcome`` against each parameter as small multiples: one point per run and the median of runs
    in each of ``bins`` parameter bins (or at each value, for a parameter with few values)."""
    labels = labels or {}
    parameters = [p for p in parameters if p in outcomes.columns]
    if not parameters:
        raise ValueError("no parameter columns to plot against")
    ncols = min(3, len(parameters))
    nrows = math.ceil(len(parameters) / ncols)
    fig, axes = new_figure(height_in=2.1 * nrows + 1.0, nrows=nrows, ncols=ncols, sharey=True, squeeze=False)
    share = _is_share(outcomes[outcome], outcome, percent)
    for ax, parameter in zip(axes.flat, parameters):
        data = outcomes[[parameter, outcome]].dropna()
        ax.plot(data[parameter], data[outcome], "o", ms=2.5, color="#0072B2", alpha=0.35, mew=0,
                gid=f"runs:{parameter}")
        values = np.sort(data[parameter].unique())
        if len(values) <= bins:
            trend = data.groupby(parameter)[outcome].median()
        else:
            cut = pd.cut(data[parameter], bins=bins)
            grouped = data.groupby(cut, observed=True)
            trend = pd.Series(grouped[outcome].median().to_numpy(), index=grouped[parameter].median().to_numpy())
        ax.plot(trend.index, trend.to_numpy(), "-", color=NEUTRAL, lw=1.8, gid=f"median:{parameter}")
        if threshold is not None:
            ax.axhline(threshold, color="#D55E00", lw=1.0, ls="--", gid="threshold")
        ax.set_xlabel(wrap_text(labels.get(parameter, parameter.replace("_", " ")), 72 * 6.2 / ncols - 24, fontsize=9))
        if share:
            percent_axis(ax.yaxis)
    for ax in axes.flat[len(parameters):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(wrap_text(_outcome_label(outcome, label) + (" (%)" if share else ""), 150, fontsize=9))
        if share:
            percent_axis(row[0].yaxis, None)  # decimals follow the axis range
    handles = [Line2D([], [], ls="", marker="o", ms=3, color="#0072B2", alpha=0.6),
               Line2D([], [], color=NEUTRAL, lw=1.8)]
    labels = ["One run", "Median of runs"]
    if threshold is not None:
        handles.append(Line2D([], [], color="#D55E00", lw=1.0, ls="--"))
        labels.append(f"Threshold {threshold:.0%}" if share else f"Threshold {threshold:g}")
    add_title(fig, "Outcome against each swept parameter")
    figure_legend(fig, handles, labels)
    text = (f"{_outcome_label(outcome, label)} of each of {len(outcomes)} runs (dots) against each swept parameter; "
            f"the line joins the medians of runs at each value of the parameter (in {bins} bins when it takes more "
            f"values). {source}").strip()
    add_caption(fig, text, draw=caption)
    return fig


def _numeric_parameters(outcomes: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Return the parameters that vary across runs and are numbers (the ones a sweep figure can place on an axis)."""
    return [n for n in names if n in outcomes.columns and pd.api.types.is_numeric_dtype(outcomes[n])
            and outcomes[n].nunique() > 1]


def sweep_figures(experiment, *, outcome: str | Sequence[str] | None = None, levers: Sequence[str] | None = None,
                  threshold: float | None = None) -> Iterator[tuple[str, Figure]]:
    """Yield (name, figure) for the sweep figures of an experiment's results (``simulation.read_experiment``).

    For each outcome (default: every outcome): a heatmap over two parameters (``levers``, default the first two
    that vary) with a contour at ``threshold``, and the outcome against each parameter. For each curve: the
    envelope of the curves across the sweep.
    """
    outcomes, curves = experiment.outcomes, experiment.curves
    info = getattr(experiment, "info", {}) or {}
    names = _base_region_names(info)
    parameters = _numeric_parameters(outcomes, [*experiment.levers, *experiment.uncertainties])
    chosen = list(experiment.outcome_names) if outcome is None else [outcome] if isinstance(outcome, str) \
        else list(outcome)
    unknown = [o for o in chosen if o not in outcomes.columns]
    if unknown:
        raise FigureOptionError(f"unknown outcome(s) {', '.join(unknown)}; the sweep has "
                                f"{', '.join(experiment.outcome_names)}")
    if levers is not None:
        levers = list(levers)
        bad = [p for p in levers if p not in parameters]
        if len(levers) != 2 or bad:
            raise FigureOptionError(f"give two of the swept parameters that vary for the heatmap, from "
                             f"{', '.join(parameters) or '(none)'}; got {', '.join(levers)}")
    pair = levers or parameters[:2]
    labels = {p: experiment.label(p) for p in parameters}
    source = (f"Sweep '{info.get('name', '')}', {len(outcomes)} finished runs"
              f"{'' if getattr(experiment, 'complete', True) else ' (sweep not complete)'}"
              f"{', talentsim ' + info['talentsim_version'] if info.get('talentsim_version') else ''}.")
    for name in chosen:
        unit = (info.get("columns", {}).get(name) or {}).get("unit")
        percent = True if unit == "share" else None if unit is None else False
        label = experiment.label(name, unit=unit not in ("share", None))
        if len(pair) == 2:
            yield f"sweep_heatmap_{name}", plot_sweep_heatmap(outcomes, pair[0], pair[1], name, threshold=threshold,
                                                               label=label, percent=percent, labels=labels,
                                                               source=source)
        if parameters:
            yield f"sweep_outcome_{name}", plot_sweep_outcomes(outcomes, name, parameters, threshold=threshold,
                                                               label=label, percent=percent, labels=labels,
                                                               source=source)
    if len(curves) and "curve" in curves.columns:
        for curve in dict.fromkeys(curves["curve"]):
            label = experiment.label(curve, unit=False)
            present = set(curves.loc[curves["curve"] == curve, ["region", "origin"]].stack().dropna())
            order = [r for r in names if r in present] or None  # the base scenario's order of regions
            yield f"sweep_envelope_{curve}", plot_sweep_envelopes(curves, curve=curve, names=names, label=label,
                                                                  regions=order, source=source)


def _base_region_names(info: dict) -> dict[str, str]:
    regions = (info.get("base_scenario") or {}).get("regions") or {}
    return {k: v.get("name", k) for k, v in regions.items() if isinstance(v, dict)}


# --------------------------------------------------------------------------------------------------------------
# Files


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png",), *, dpi: int = DPI,
                close: bool = True) -> list[Path]:
    """Write ``fig`` as each of ``formats`` (png at print resolution, svg, pdf) next to ``path``; return the paths.

    Files carry no creation date, so the same figure gives the same bytes; each is written atomically with the
    permissions of any file the user creates (:func:`~simulation.outputs.atomic_write`).
    """
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; choose from {', '.join(FIGURE_FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    written = []
    with plt.rc_context(SAVE_RC):
        for fmt in formats:
            target = path.with_suffix(f".{fmt}")
            atomic_write(target, lambda tmp, f=fmt: fig.savefig(tmp, format=f, dpi=dpi, bbox_inches="tight",
                                                                 pad_inches=0.05, metadata=metadata[f]))
            written.append(target)
    if close:
        plt.close(fig)
    return written
