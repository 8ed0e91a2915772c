"""Figures of a sweep's analysis: sensitivity indices, robustness per lever arm, PRIM, parallel coordinates, envelopes.

One function per figure, each taking an :class:`~simulation.analysis.Analysis` and returning a Figure drawn in the
project's style (``simulation.style``): column width, legend below, caption with the source. No figure computes a
table: they draw what ``simulation.analysis`` computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .style import NEUTRAL, add_caption, add_title, figure_legend, new_figure, percent_axis, styled, wrap_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from .analysis import Analysis

__all__ = [
    "analysis_figures",
    "plot_arm_envelopes",
    "plot_morris",
    "plot_parallel_coordinates",
    "plot_prim_box",
    "plot_prim_trajectory",
    "plot_robustness",
    "plot_sobol_indices",
]

MEETS = "#D55E00"  # runs meeting the condition (Okabe-Ito vermillion)
OTHER = "#9A9A9A"
FIRST, TOTAL = "#0072B2", "#56B4E9"
ARM_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#882255")
MAX_ARMS_SHOWN = 4  # sensitivity per arm: more arms are summarised (median and range over arms)
MAX_LINES = 800  # parallel coordinates: at most this many runs drawn (a fixed random subset of the rest)


def _midsentence(text: str) -> str:
    from .plots import _midsentence as midsentence

    return midsentence(text)


def _num(value: float) -> str:
    """Return a value for an axis end or a box limit: 27,000 rather than 2.7e+04."""
    value = float(value)
    if abs(value) >= 1000 and abs(value) < 1e9:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _source(analysis: Analysis) -> str:
    info = analysis.results.info
    complete = "" if analysis.results.complete else " (sweep not complete)"
    version = f", talentsim {info['talentsim_version']}" if info.get("talentsim_version") else ""
    return f"Sweep '{info.get('name', '')}', {len(analysis.results.outcomes)} finished runs{complete}{version}."


def _labels(analysis: Analysis, names) -> dict[str, str]:
    return {n: analysis.results.label(n) for n in names}


def _share(analysis: Analysis, name: str) -> bool:
    from .analysis import is_share

    return is_share(analysis, name)


def _threshold_text(analysis: Analysis) -> str:
    c = analysis.condition
    if c is None or math.isnan(c.threshold):
        return ""
    value = f"{c.threshold:.1%}" if _share(analysis, c.outcome) and abs(c.threshold) <= 1 else f"{c.threshold:g}"
    return f"{'at least' if c.above else 'at most'} {value}"


# --------------------------------------------------------------------------------------------------------------
# Sensitivity


@styled
def plot_sobol_indices(analysis: Analysis, outcome: str, *, caption: bool = True) -> Figure:
    """Return the Sobol indices of ``outcome``: first-order (S1) and total (ST) per uncertainty, with intervals.

    With up to four lever arms, one bar pair per arm; with more, the median over arms with the range over arms.
    """
    table = analysis.sensitivity[analysis.sensitivity["outcome"] == outcome]
    names = list(dict.fromkeys(table["parameter"]))
    order = table.groupby("parameter")["ST"].mean().reindex(names).sort_values(ascending=True).index.tolist()
    labels = _labels(analysis, order)
    arms = sorted(table["arm"].unique())
    per_arm = len(arms) <= MAX_ARMS_SHOWN
    fig, ax = new_figure(height_in=max(2.2, 0.45 * len(order) * (len(arms) if per_arm else 1) ** 0.5 + 1.4))
    y = np.arange(len(order))
    handles, legend = [], []
    if per_arm:
        width = 0.8 / len(arms)
        for i, arm in enumerate(arms):
            rows = table[table["arm"] == arm].set_index("parameter").reindex(order)
            offset = (i - (len(arms) - 1) / 2) * width
            colour = ARM_COLOURS[i % len(ARM_COLOURS)] if len(arms) > 1 else FIRST
            ax.barh(y + offset, rows["ST"], height=width * 0.9, color=colour, alpha=0.35, gid=f"ST:{arm}")
            # the total index's interval along the bar's upper edge, the first-order index's through its dot
            ax.errorbar(rows["ST"], y + offset + width * 0.3, xerr=rows["ST_conf"], fmt="none", ecolor=colour,
                        elinewidth=0.8, capsize=1.5, alpha=0.6)
            ax.plot(rows["S1"], y + offset - width * 0.1, "o", color=colour, ms=4.5, gid=f"S1:{arm}", zorder=3)
            ax.errorbar(rows["S1"], y + offset - width * 0.1, xerr=rows["S1_conf"], fmt="none", ecolor=colour,
                        elinewidth=1.3, capsize=2, zorder=3)
            if len(arms) > 1:
                label = rows["arm_label"].iloc[0] if "arm_label" in rows else _arm_label(analysis, table, arm)
                handles.append(Patch(color=colour, alpha=0.6))
                legend.append(label)
    else:
        summary = table.groupby("parameter")[["S1", "ST"]].agg(["median", "min", "max"]).reindex(order)
        ax.barh(y, summary[("ST", "median")], height=0.6, color=TOTAL, alpha=0.7, gid="ST")
        ax.errorbar(summary[("ST", "median")], y, xerr=[summary[("ST", "median")] - summary[("ST", "min")],
                                                        summary[("ST", "max")] - summary[("ST", "median")]],
                    fmt="none", ecolor=FIRST, elinewidth=0.9, capsize=2)
        ax.plot(summary[("S1", "median")], y, "o", color=FIRST, ms=4.5, gid="S1", zorder=3)
    handles = [Patch(color=TOTAL if not per_arm or len(arms) == 1 else "#BBBBBB", alpha=0.7),
               Line2D([], [], ls="", marker="o", color=FIRST if len(arms) == 1 or not per_arm else NEUTRAL, ms=4.5),
               *handles]
    legend = ["Total index ST (bar)", "First-order index S1 (dot)", *legend]
    ax.set_yticks(y, [wrap_text(labels[n], 150, fontsize=8) for n in order])
    ax.axvline(0, color=NEUTRAL, lw=0.8)
    ax.set_xlabel("Share of the outcome's variance")
    ax.set_xlim(min(-0.02, float(np.nanmin(table[["S1", "ST"]].to_numpy())) - 0.02),
                max(1.0, float(np.nanmax(table["ST"] + table["ST_conf"].fillna(0))) + 0.02))
    ax.grid(axis="y", visible=False)
    add_title(fig, f"What drives {_midsentence(analysis.label(outcome, unit=False))}")
    figure_legend(fig, handles, legend)
    n = int(table["base_samples"].max())
    spread = ("one bar pair per lever arm" if per_arm and len(arms) > 1 else
              "" if per_arm else f"median over the {len(arms)} lever arms, whiskers the range over arms")
    text = (f"Sobol indices of each uncertainty for {analysis.label(outcome)}: the total index (bar) is the share of "
            f"the outcome's variance the uncertainty causes alone or with others, the first-order index (dot) the "
            f"share it causes alone; {'whiskers are 95% bootstrap intervals' if per_arm else spread}"
            f"{'; ' + spread if per_arm and spread else ''}. Saltelli design, {n} base samples, outcome averaged over "
            f"replicates; computed with SALib. {_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


def _arm_label(analysis: Analysis, table: pd.DataFrame, arm: int) -> str:
    from .analysis import arm_labels

    rows = table[table["arm"] == arm].head(1)
    return str(arm_labels(analysis.results, rows).iloc[0]) if len(rows) else str(arm)


@styled
def plot_morris(analysis: Analysis, outcome: str, *, caption: bool = True) -> Figure:
    """Return Morris screening of ``outcome``: mu* (importance) against sigma (non-linearity and interactions)."""
    table = analysis.sensitivity[analysis.sensitivity["outcome"] == outcome]
    arms = sorted(table["arm"].unique())
    shown = arms if len(arms) <= MAX_ARMS_SHOWN else None
    fig, ax = new_figure(height_in=3.6)
    share = _share(analysis, outcome)
    handles, legend = [], []
    rows_all = table if shown is not None else table.groupby("parameter", as_index=False)[["mu_star", "sigma",
                                                                                          "mu_star_conf"]].median()
    groups = [(arm, table[table["arm"] == arm]) for arm in shown] if shown is not None else [(None, rows_all)]
    for i, (arm, rows) in enumerate(groups):
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        ax.errorbar(rows["mu_star"], rows["sigma"], xerr=rows["mu_star_conf"], fmt="o", color=colour, ms=5,
                    elinewidth=0.9, capsize=2, gid=f"morris:{arm}")
        if arm is not None and len(groups) > 1:
            handles.append(Line2D([], [], ls="", marker="o", color=colour))
            legend.append(_arm_label(analysis, table, arm))
    top = float(np.nanmax([(rows_all["mu_star"] + rows_all["mu_star_conf"].fillna(0)).max(),
                           rows_all["sigma"].max()])) * 1.08 or 1.0
    placed: list[tuple[str, float, float]] = []
    for _, rows in groups:  # every point named, once where the arms' points coincide
        for row in rows.itertuples():
            if any(n == row.parameter and abs(x - row.mu_star) < 0.03 * top and abs(y - row.sigma) < 0.03 * top
                   for n, x, y in placed):
                continue
            placed.append((row.parameter, row.mu_star, row.sigma))
            ax.annotate(wrap_text(analysis.results.label(row.parameter, unit=False), 110, fontsize=7.5),
                        (row.mu_star, row.sigma), xytext=(4, 3), textcoords="offset points", fontsize=7.5,
                        color=NEUTRAL)
    ax.plot([0, top], [0, top], color=OTHER, lw=0.8, ls=":", gid="diagonal")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    if share:
        percent_axis(ax.xaxis, None)
        percent_axis(ax.yaxis, None)
    ax.set_xlabel("mu*: mean absolute effect of moving the uncertainty across its range")
    ax.set_ylabel(wrap_text("sigma: spread of its effects", 180, fontsize=9))
    what = analysis.label(outcome, unit=False)
    add_title(fig, f"Screening the uncertainties for {_midsentence(what)}")
    figure_legend(fig, handles, legend)
    text = (f"Morris elementary effects on {analysis.label(outcome)}: mu* (with its 95% bootstrap interval) ranks "
            "the uncertainties by influence; sigma far from zero, near the dotted diagonal or above it, means the "
            "effect depends on the other uncertainties (interactions or non-linearity). Effects are outcome changes "
            "per move across the whole range of the uncertainty's probabilities"
            f"{'' if shown is not None else f'; medians over the {len(arms)} lever arms'}. "
            f"{int(table['trajectories'].max())} trajectories, outcome averaged over replicates; computed with SALib. "
            f"{_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


# --------------------------------------------------------------------------------------------------------------
# Robustness


@styled
def plot_robustness(analysis: Analysis, *, caption: bool = True) -> Figure:
    """Return, per lever arm, the outcome's spread against the threshold, the share of runs meeting it and regret."""
    c = analysis.condition
    table = analysis.robustness
    runs = analysis.runs
    has_condition = "share_meeting" in table.columns
    share = _share(analysis, c.outcome)
    order = list(table["arm"])  # most robust first
    levers = list(analysis.results.levers)
    if len(levers) > 1:  # values only, the levers named once on the axis: rows stay one line each
        from .analysis import _value_text

        labels = [" · ".join(_value_text(row[lever]) for lever in levers) for row in table.to_dict("records")]
        lever_axis = " · ".join(lever.replace("_", " ") for lever in levers)
    else:
        labels, lever_axis = list(table["arm_label"]), None
    ncols = 3 if has_condition else 1
    fig, axes = new_figure(height_in=max(2.4, 0.32 * len(order) + 1.5), ncols=ncols, sharey=True, squeeze=False,
                           width_ratios=[2.2, 1, 1][:ncols])
    axes = axes[0]
    y = np.arange(len(order))[::-1]
    low = next(col for col in table.columns if col.startswith("p") and col[1:2].isdigit())
    high = [col for col in table.columns if col.startswith("p") and col[1:2].isdigit()][-1]
    ax = axes[0]
    for yi, arm in zip(y, order):
        values = runs.loc[runs["arm"] == arm, "value"].to_numpy()
        jitter = (np.random.default_rng(arm).random(len(values)) - 0.5) * 0.5
        colours = np.where(c.met(values), MEETS, OTHER) if has_condition else OTHER
        ax.scatter(values, yi + jitter, s=4, c=colours, alpha=0.35, lw=0, zorder=1, gid=f"runs:{arm}")
    ax.hlines(y, table[low], table[high], color=NEUTRAL, lw=2.2, zorder=2, gid="range")
    ax.plot(table["median"], y, "|", color="white", ms=11, mew=3.5, zorder=3)
    ax.plot(table["median"], y, "|", color=NEUTRAL, ms=10, mew=1.6, zorder=4, gid="median")
    if has_condition:
        ax.axvline(c.threshold, color=MEETS, lw=1.1, ls="--", gid="threshold")
    ax.set_yticks(y, [wrap_text(t, 150, fontsize=8) for t in labels])
    if lever_axis:
        ax.set_ylabel(wrap_text(lever_axis, 72 * 0.32 * len(order) + 10, fontsize=9))
    what = analysis.label(c.outcome)
    ax.set_xlabel(wrap_text(what + (" (%)" if share else ""), 72 * 6.5 * (2.2 / 4.2 if has_condition else 1) - 90,
                            fontsize=9))
    if share:
        percent_axis(ax.xaxis, None)
    ax.grid(axis="y", visible=False)
    if has_condition:
        ax = axes[1]
        ax.barh(y, table["share_meeting"], color=MEETS, alpha=0.8, height=0.6, gid="share_meeting")
        for yi, v in zip(y, table["share_meeting"]):
            ax.text(min(v, 1) + 0.02, yi, f"{v:.0%}", va="center", fontsize=7.5, color=NEUTRAL)
        ax.set_xlim(0, 1.25)
        ax.set_xticks([0, 0.5, 1])
        percent_axis(ax.xaxis)
        ax.set_xlabel("Runs meeting it")
        ax.grid(axis="y", visible=False)
        ax = axes[2]
        ax.hlines(y, 0, table["regret_p90"], color="#0072B2", lw=2.2, gid="regret_p90")
        ax.plot(table["regret_mean"], y, "o", color="#0072B2", ms=4.5, gid="regret_mean")
        ax.plot(table["regret_max"], y, "x", color=NEUTRAL, ms=4, gid="regret_max")
        if share:
            percent_axis(ax.xaxis, None)
        ax.set_xlim(0, None)
        ax.set_xlabel("Regret")
        ax.grid(axis="y", visible=False)
    handles = [Line2D([], [], color=NEUTRAL, lw=2.2), Line2D([], [], color=NEUTRAL, marker="|", ls="", ms=8, mew=1.6)]
    legend = ["Central 90% of runs", "Median"]
    if has_condition:
        handles += [Line2D([], [], color=MEETS, ls="", marker="o", ms=3), Line2D([], [], color=MEETS, ls="--"),
                    Line2D([], [], color="#0072B2", marker="o", ms=4), Line2D([], [], color="#0072B2", lw=2.2),
                    Line2D([], [], color=NEUTRAL, marker="x", ls="", ms=4)]
        legend += ["Run meeting the threshold", f"Threshold: {_threshold_text(analysis)}", "Mean regret",
                   "Regret up to its 90th percentile", "Largest regret"]
    add_title(fig, "How each policy holds up across the uncertainties" if has_condition
              else f"{analysis.label(c.outcome, unit=False)} by lever arm")
    figure_legend(fig, handles, legend)
    draws = int(table["compared_draws"].max()) if has_condition else 0
    text = (f"{what} of every run (dots) by lever arm, with the median and the central 90% of runs"
            + (f"; arms are ordered by the share of runs with the outcome {_threshold_text(analysis)}. Regret is how "
               f"far an arm falls short of the best arm under the same uncertainty draw and seed (common random "
               f"numbers), over {draws} draws run by every arm" if has_condition else "")
            + f". {_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


# --------------------------------------------------------------------------------------------------------------
# Scenario discovery


@styled
def plot_prim_trajectory(analysis: Analysis, *, caption: bool = True) -> Figure:
    """Return PRIM's peeling trajectory: the coverage and density of every box, the chosen one marked."""
    d = analysis.discovery
    t = d.trajectory
    fig, ax = new_figure(height_in=3.4)
    restricted = t["restricted"].to_numpy()
    cmap = plt.get_cmap("viridis", max(int(restricted.max()) + 1, 2))
    ax.plot(t["coverage"], t["density"], "-", color=OTHER, lw=0.8, zorder=1)
    points = ax.scatter(t["coverage"], t["density"], c=restricted, cmap=cmap, vmin=-0.5,
                        vmax=max(int(restricted.max()) + 0.5, 1.5), s=18, zorder=2, gid="trajectory")
    chosen = t.iloc[d.chosen]
    ax.scatter([chosen["coverage"]], [chosen["density"]], s=110, facecolors="none", edgecolors=MEETS, lw=1.8,
               zorder=3, gid="chosen")
    ax.annotate(f"chosen box (step {d.chosen}): coverage {chosen['coverage']:.0%}, density {chosen['density']:.0%}",
                (chosen["coverage"], chosen["density"]), xytext=(-8, -16), textcoords="offset points", ha="right",
                fontsize=7.5, color=NEUTRAL)
    bar = fig.colorbar(points, ax=ax, shrink=0.9, pad=0.02, ticks=range(int(restricted.max()) + 1))
    bar.set_label("Parameters restricted", fontsize=8.5)
    ax.set_xlim(0, 1.03)
    ax.set_ylim(0, 1.03)
    percent_axis(ax.xaxis)
    percent_axis(ax.yaxis)
    ax.set_xlabel("Coverage: share of the runs meeting the condition that fall in the box")
    ax.set_ylabel(wrap_text("Density: share of the box's runs meeting it", 180, fontsize=9))
    what = d.condition.describe(analysis.label(d.condition.outcome, unit=False), _share(analysis, d.condition.outcome))
    add_title(fig, "Scenario discovery: the peeling trajectory")
    text = (f"Each point is a box on PRIM's peeling trajectory for the runs with {what} ({d.cases} of {d.runs} "
            f"runs, so a density of {d.cases / d.runs:.0%} at the start): peeling trades coverage for density. The "
            f"box chosen is the one of largest coverage with a density of at least the target. PRIM by the prim "
            f"package (the EMA Workbench's algorithm). {_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


@styled
def plot_prim_box(analysis: Analysis, *, caption: bool = True) -> Figure:
    """Return the chosen PRIM box: each restricted parameter's limits within its full range, with quasi-p values."""
    d = analysis.discovery
    limits = d.limits
    fig, ax = new_figure(height_in=max(1.8, 0.5 * len(limits) + 1.2))
    y = np.arange(len(limits))[::-1]
    for yi, row in zip(y, limits.itertuples()):
        ax.barh(yi, 1, left=0, height=0.5, color="#E6E6E6", zorder=1)
        if row.kind == "categorical":
            ax.barh(yi, 1, left=0, height=0.5, color=MEETS, alpha=0.5, zorder=2, gid=f"box:{row.parameter}")
            ax.text(0.5, yi, row.values, ha="center", va="center", fontsize=7.5, zorder=3)
            continue
        span = (row.full_high - row.full_low) or 1.0
        lo, hi = (row.low - row.full_low) / span, (row.high - row.full_low) / span
        ax.barh(yi, hi - lo, left=lo, height=0.5, color=MEETS, alpha=0.75, zorder=2, gid=f"box:{row.parameter}")
        ax.text(lo, yi + 0.33, _num(row.low), ha="right" if hi - lo < 0.15 else "center", va="bottom", fontsize=7.5,
                color=NEUTRAL)
        ax.text(hi, yi + 0.33, _num(row.high), ha="left" if hi - lo < 0.15 else "center", va="bottom", fontsize=7.5,
                color=NEUTRAL)
        ax.text(-0.02, yi - 0.02, _num(row.full_low), ha="right", va="center", fontsize=7, color=OTHER)
        ax.text(1.02, yi - 0.02, _num(row.full_high), ha="left", va="center", fontsize=7, color=OTHER)
    names = [f"{wrap_text(analysis.results.label(p), 150, fontsize=8)}\n(quasi-p {q:.1g})"
             for p, q in zip(limits["parameter"], limits["qp_value"])]
    ax.set_yticks(y, names)
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.7, len(limits) - 0.1)
    ax.set_xticks([])
    ax.grid(False)
    for side in ("bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    stats = d.stats
    what = analysis.label(d.condition.outcome, unit=False)
    add_title(fig, f"Where {_midsentence(what)} is {_threshold_text(analysis)}")
    text = (f"The PRIM box (step {stats['step']} of the peeling trajectory): runs whose parameters lie in the "
            f"coloured ranges (grey: the range swept). It holds {stats['mass']:.0%} of the runs and "
            f"{stats['coverage']:.0%} of those meeting the condition (coverage); {stats['density']:.0%} of its runs "
            f"meet it (density). A quasi-p value is the chance of a box this dense if that restriction were dropped "
            f"(one-sided binomial test, Bryant & Lempert 2010): small values mark restrictions that matter. "
            f"{_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


# --------------------------------------------------------------------------------------------------------------
# Parallel coordinates and envelopes


@styled
def plot_parallel_coordinates(analysis: Analysis, *, caption: bool = True) -> Figure:
    """Return every run as a line across the swept parameters and the outcome, coloured by the condition.

    Each axis runs from the smallest to the largest value swept. The PRIM box, if found, is drawn on its axes.
    """
    from .analysis import _numeric

    c = analysis.condition
    results = analysis.results
    runs = analysis.runs
    parameters = [p for p in _numeric(results, [*results.levers, *results.uncertainties])
                  if results.outcomes[p].nunique() > 1]
    columns = [*parameters, "value"]
    data = results.outcomes.set_index("run_id").loc[runs["run_id"], parameters].reset_index(drop=True)
    data["value"] = runs["value"].to_numpy()
    has_condition = "meets" in runs.columns
    meets = runs["meets"].to_numpy() if has_condition else np.zeros(len(runs), bool)
    if len(data) > MAX_LINES:
        keep = np.sort(np.random.default_rng(0).choice(len(data), MAX_LINES, replace=False))
        data, meets = data.iloc[keep].reset_index(drop=True), meets[keep]
    low, high = data[columns].min(), data[columns].max()
    span = (high - low).replace(0, 1.0)
    scaled = (data[columns] - low) / span
    fig, ax = new_figure(height_in=3.6)
    x = np.arange(len(columns))
    alpha = float(np.clip(30 / max(len(data), 1), 0.04, 0.5))
    for flag, colour, z in ((False, OTHER, 1), (True, MEETS, 2)):
        rows = scaled[meets == flag].to_numpy()
        if len(rows):  # one collection of polylines: thousands of runs draw in a fraction of a second
            segments = np.stack([np.broadcast_to(x, rows.shape), rows], axis=-1)
            lines = LineCollection(segments, colors=colour, linewidths=0.7,
                                   alpha=alpha if flag is False else min(1, alpha * 1.6), zorder=z)
            lines.set_gid(f"runs:{'meets' if flag else 'other'}")
            ax.add_collection(lines)
    if analysis.discovery is not None:
        for row in analysis.discovery.limits.itertuples():
            if row.kind != "numeric" or row.parameter not in columns:
                continue
            i = columns.index(row.parameter)
            a, b = (row.low - low[row.parameter]) / span[row.parameter], (row.high - low[row.parameter]) / span[row.parameter]
            ax.add_patch(plt.Rectangle((i - 0.09, a), 0.18, b - a, fill=False, ec=NEUTRAL, lw=1.6, zorder=4,
                                       gid=f"box:{row.parameter}"))
    if has_condition:
        t = (c.threshold - low["value"]) / span["value"]
        if 0 <= t <= 1:
            ax.plot([x[-1] - 0.12, x[-1] + 0.12], [t, t], color=MEETS, lw=2, zorder=5, gid="threshold")
    share = _share(analysis, c.outcome)
    for i, name in enumerate(columns):
        ax.axvline(i, color=NEUTRAL, lw=0.8, zorder=3)
        fmt = (lambda v: f"{v:.1%}") if (name == "value" and share) else _num
        for y, value, va in ((-0.04, low[name], "top"), (1.04, high[name], "bottom")):
            ax.text(i, y, fmt(value), ha="center", va=va, fontsize=7, color=NEUTRAL, zorder=6,
                    bbox={"fc": "white", "ec": "none", "pad": 0.6})
    names = [results.label(p, unit=False) for p in parameters] + [analysis.label(c.outcome, unit=False)]
    width = 6.2 * 72 / len(columns) - 8
    ax.set_xticks(x, [wrap_text(n, width, fontsize=7.5) for n in names], fontsize=7.5)
    ax.tick_params(axis="x", length=0, pad=14)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    ax.set_xlim(-0.3, len(columns) - 0.7)
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    handles = [Line2D([], [], color=OTHER, lw=1.2)]
    legend = ["Run" if not has_condition else "Run not meeting the threshold"]
    if has_condition:
        handles += [Line2D([], [], color=MEETS, lw=1.2), Line2D([], [], color=MEETS, lw=2)]
        legend += ["Run meeting it", f"Threshold: {_threshold_text(analysis)}"]
    if analysis.discovery is not None:
        handles.append(Patch(fill=False, ec=NEUTRAL, lw=1.6))
        legend.append("PRIM box")
    add_title(fig, "Every run across the swept parameters and the outcome")
    figure_legend(fig, handles, legend)
    shown = f"{len(data)} of {len(runs)} runs (a fixed random subset)" if len(runs) > len(data) else f"{len(runs)} runs"
    text = (f"Parallel coordinates: each line is a run ({shown}), each axis a swept lever or uncertainty and, last, "
            f"{analysis.label(c.outcome)}; axes run from the smallest to the largest value swept (printed at their "
            f"ends). {_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


@styled
def plot_arm_envelopes(analysis: Analysis, curve: str, *, regions=None, interval: float = 0.9,
                       caption: bool = True) -> Figure:
    """Return ``curve`` per lever arm: one panel per region (at most four), in each the median of every arm's runs
    and, for up to four arms, the central ``interval`` of its runs, so arms are compared on the same axes."""
    from .analysis import arm_labels
    from .plots import _base_region_names, _band

    results = analysis.results
    curves = results.curves[results.curves["curve"] == curve]
    arms = results.outcomes[["run_id", "arm"]].copy()
    arms["lever_arm"] = arm_labels(results).to_numpy()
    data = curves.merge(arms, on="run_id", how="inner")
    key = "region" if data["region"].notna().any() else "origin"
    names = _base_region_names(results.info)
    present = list(pd.unique(data[key].dropna()))  # in order of appearance, without a Python loop
    order = [r for r in names if r in present] + [r for r in present if r not in names]
    regions = list(regions or order)[:4]
    arm_ids = sorted(data["arm"].unique())
    shown = arm_ids
    if len(arm_ids) > MAX_ARMS_SHOWN:  # the two most and two least robust arms in colour, the others in grey
        ranked = list(analysis.robustness["arm"]) if analysis.robustness is not None else arm_ids
        shown = [a for a in dict.fromkeys([*ranked[:2], *ranked[-2:]]) if a in arm_ids]
    bands = len(shown) <= 4
    ncols = min(2, len(regions))
    nrows = math.ceil(len(regions) / ncols)
    fig, grid = new_figure(height_in=2.2 * nrows + 0.9, nrows=nrows, ncols=ncols, sharex=True, squeeze=False)
    axes = list(grid.flat)
    for extra in axes[len(regions):]:
        extra.set_visible(False)
    what = results.label(curve, unit=False)
    share = data["value"].between(0, 1).all() and ("share" in what.lower() or "retention" in what.lower())
    handles, legend = [], []
    for ax, region in zip(axes, regions):
        rows = data[data[key] == region]
        for arm in [a for a in arm_ids if a not in shown]:
            part = rows[rows["arm"] == arm]
            if len(part):
                band = _band(part, ["year"], "value", interval)
                (grey,) = ax.plot(band["year"], band["median"], color=OTHER, lw=0.7, alpha=0.6, zorder=1,
                                  gid=f"median:{region}:{arm}")
        if len(shown) < len(arm_ids) and region == regions[0]:
            handles.append(grey)
            legend.append(f"the other {len(arm_ids) - len(shown)} arms")
        for i, arm in enumerate(shown):
            part = rows[rows["arm"] == arm]
            if part.empty:
                continue
            band = _band(part, ["year"], "value", interval)
            colour = ARM_COLOURS[i % len(ARM_COLOURS)]
            (line,) = ax.plot(band["year"], band["median"], color=colour, lw=1.5, gid=f"median:{region}:{arm}")
            if bands:
                ax.fill_between(band["year"], band["low"], band["high"], color=colour, alpha=0.15, lw=0,
                                gid=f"band:{region}:{arm}")
            if region == regions[0]:
                handles.append(line)
                legend.append(str(part["lever_arm"].iloc[0]))
        ax.set_title(names.get(region, region) + (" origin" if key == "origin" else ""), loc="left", fontsize=8.5)
        if share:
            percent_axis(ax.yaxis)
    for ax in grid[-1]:
        ax.set_xlabel("Year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    add_title(fig, f"{what} by lever arm")
    figure_legend(fig, handles, legend)
    picked = ("" if len(shown) == len(arm_ids) else
              f" (in colour the {len(shown)} arms most and least robust in the robustness table, in grey the others)")
    text = (f"{what}{' (%)' if share else ''}, by region: the median of each lever arm's runs{picked}"
            f"{f' and, shaded, their central {interval:.0%}' if bands else ''}"
            f"{'' if len(regions) == len(order) else f' (the first {len(regions)} of {len(order)} regions)'}. "
            f"Arms are run on the same uncertainty draws and seeds. {_source(analysis)}")
    add_caption(fig, text, draw=caption)
    return fig


def analysis_figures(analysis: Analysis, *, caption: bool = True) -> Iterator[tuple[str, Figure]]:
    """Yield (name, figure) for each figure the analysis supports, in the order of the sweep report: robustness
    and curves by arm, sensitivity, then parallel coordinates and scenario discovery. ``caption=False`` keeps
    each caption on the figure without drawing it (for reports that print it as text)."""
    if analysis.robustness is not None:
        yield "robustness", plot_robustness(analysis, caption=caption)
    curves = analysis.results.curves
    if len(curves) and "curve" in curves.columns:
        for curve in pd.unique(curves["curve"]):
            yield f"arm_envelopes_{curve}", plot_arm_envelopes(analysis, curve, caption=caption)
    if analysis.sensitivity is not None:
        draw = plot_sobol_indices if analysis.sensitivity_method == "sobol" else plot_morris
        for outcome in analysis.outcomes:
            rows = analysis.sensitivity[analysis.sensitivity["outcome"] == outcome]
            if rows[["S1", "ST"] if analysis.sensitivity_method == "sobol" else ["mu_star"]].notna().any().any():
                yield f"{analysis.sensitivity_method}_{outcome}", draw(analysis, outcome, caption=caption)
    if analysis.robustness is not None:
        yield "parallel_coordinates", plot_parallel_coordinates(analysis, caption=caption)
    if analysis.discovery is not None:
        yield "prim_trajectory", plot_prim_trajectory(analysis, caption=caption)
        yield "prim_box", plot_prim_box(analysis, caption=caption)
