"""Comparing scenarios: headline indicators with intervals, and differences from a baseline, as tables.

Every function reads saved or in-memory results (:class:`~simulation.results.RunResult`), never a model.
Differences from the baseline are paired replicate by replicate: a scenario's replicate is set against the
baseline's replicate with the same seed (and, in calibration ensembles, the same parameter draw), so the difference
is the policy, not noise (common random numbers). The change reported is the median of these paired differences,
which need not equal the difference of the two medians. Runs that share no replicate are refused unless the caller
asks for an unpaired comparison, which is then labelled unpaired everywhere it appears. The figures drawn from these
tables are in :mod:`simulation.compare_plots`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .results import RunResult, load_results, migration_curve
from .summary import COUNT_PRECISION, INTERVAL, MIN_REPLICATES_FOR_INTERVAL, SHARE_PRECISION, excludes_zero
from .summary import replicate_band, replicate_keys, statistic_note

__all__ = [
    "CompareError",
    "Pairing",
    "UnpairedError",
    "compare_table",
    "csv_table",
    "differences",
    "format_compare_table",
    "indicator_summary",
    "indicators",
    "key_findings",
    "load_many",
    "pairing",
    "scenario_labels",
]

NET_INFLOW = "net inflow per year"
REPRESENTED = "researchers represented"  # counts scaled to the real researchers the population stands for
UNITS = {NET_INFLOW: f"{REPRESENTED} per year"}


def indicator_unit(indicator: str) -> str:
    """Return the unit of an indicator: 'share', or counts of researchers represented (never model researchers)."""
    return UNITS.get(indicator, "share")


class CompareError(ValueError):
    """Results that cannot be compared as asked (different regions, a year outside the runs)."""


class UnpairedError(CompareError):
    """Runs that share no replicate, compared without asking for an unpaired comparison."""


@dataclass(frozen=True)
class Pairing:
    """How a scenario's replicates are set against the baseline's."""

    paired: bool  # replicate by replicate (True) or every replicate against every other (False)
    keys: tuple[str, ...]  # what identifies a replicate across runs (seed; a parameter draw once ensembles exist)
    shared: int  # replicates both runs hold
    baseline_replicates: int
    other_replicates: int

    def describe(self, label: str, baseline: str) -> str:
        """Return how the differences of ``label`` from ``baseline`` are taken, in words."""
        if not self.paired:
            return (f"'{label}' minus '{baseline}': UNPAIRED (no shared replicate seeds): every replicate against "
                    "every replicate, so the interval includes the noise between replicates")
        left_out = max(self.baseline_replicates, self.other_replicates) - self.shared
        extra = f"; {left_out} replicate(s) held by one run only are left out" if left_out else ""
        return f"'{label}' minus '{baseline}': paired by {' and '.join(self.keys)} on {self.shared} replicates{extra}"


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


def _identities(result: RunResult, keys: Sequence[str]) -> set[tuple]:
    table = result.stocks.drop_duplicates("replicate")
    return set(map(tuple, table[list(keys)].itertuples(index=False, name=None)))


def pairing(baseline: RunResult, other: RunResult, *, unpaired: bool = False) -> Pairing:
    """Return how ``other``'s replicates pair with ``baseline``'s: on the keys that identify a replicate in both
    manifests (the seed; a calibration ensemble's parameter draw too), over the replicates both hold.

    Raises:
        UnpairedError: the runs share no replicate and ``unpaired`` is not set.
    """
    columns = set(baseline.stocks.columns) & set(other.stocks.columns)
    keys = tuple(k for k in replicate_keys(baseline.manifest, columns) if k in replicate_keys(other.manifest, columns))
    keys = keys or ("seed",)
    shared = len(_identities(baseline, keys) & _identities(other, keys))
    counts = int(baseline.stocks["replicate"].nunique()), int(other.stocks["replicate"].nunique())
    if shared == 0 and not unpaired:
        raise UnpairedError(
            f"scenario '{other.scenario.name}' shares no replicate {' and '.join(keys)} with the baseline "
            f"'{baseline.scenario.name}', so its replicates cannot be paired and a difference would mix the policy "
            "with the noise between replicates. Run both with the same root seed (--seed) and enough replicates "
            "(--replicates), or pass --unpaired to compare them anyway (the result is labelled unpaired)")
    return Pairing(shared > 0, keys, shared, *counts)


def _nearest_year(result: RunResult, year: float) -> float:
    recorded = np.sort(result.stocks["year"].unique())
    if year < recorded[0] - 1e-9 or year > recorded[-1] + 1e-9:
        raise CompareError(f"year {year:g} is outside scenario '{result.scenario.name}', which runs "
                           f"{recorded[0]:g} to {recorded[-1]:g}")
    return float(recorded[np.argmin(np.abs(recorded - year))])


def share_indicator(tier: str) -> str:
    """Return the name of the indicator 'share of ``tier`` researchers working in each place'."""
    return f"{tier.replace('_', '-')} share"


RETENTION = "home retention (top-tier)"


def is_share(indicator: str) -> bool:
    """Return whether an indicator is a share (shown in %, its differences in percentage points)."""
    return indicator_unit(indicator) == "share"


def _identity(result: RunResult) -> pd.DataFrame:
    """Return what identifies each replicate across runs (seed; a parameter draw once ensembles exist)."""
    keys = replicate_keys(result.manifest, result.stocks.columns)
    return result.stocks.drop_duplicates("replicate")[["replicate", *keys]].reset_index(drop=True)


def indicators(result: RunResult, years: Sequence[float]) -> pd.DataFrame:
    """Return the headline indicators of every replicate at each of ``years`` (the nearest recorded step).

    Indicators: the share of each tier's researchers (every tier the results record, but 'all') working in each
    place; home retention of top-tier researchers by origin; net inflow of researchers from other regions over
    the year up to the date, in researchers represented (model counts scaled to the real researchers the
    population stands for) per year. Columns: indicator, unit, place, year, replicate, the replicate's identity
    (seed, ...), value.
    """
    from .plots import flow_matrix, net_flows

    stocks = result.stocks
    regions = result.scenario.region_ids
    scale = result.scenario.population.represents / result.scenario.run.researchers
    tiers = [t for t in dict.fromkeys(stocks["tier"]) if t != "all"]
    parts = []
    for asked in years:
        year = _nearest_year(result, float(asked))
        at = stocks[np.isclose(stocks["year"], year)]
        for tier in tiers:
            shares = migration_curve(at, tier)
            parts.append(pd.DataFrame({"indicator": share_indicator(tier), "place": shares["region"], "year": year,
                                       "replicate": shares["replicate"], "value": shares["share"]}))
        kept = result.retention[np.isclose(result.retention["year"], year) & (result.retention["tier"] == "top_tier")]
        parts.append(pd.DataFrame({"indicator": RETENTION, "place": kept["origin"], "year": year,
                                   "replicate": kept["replicate"], "value": kept["retention"]}))
        first_state = float(stocks["year"].min())
        if year > first_state:
            start = max(first_state, year - 1.0)
            net = net_flows(flow_matrix(result.flows, start=start, end=year, scale=scale), regions)
            parts.append(pd.DataFrame({"indicator": NET_INFLOW, "place": net["region"], "year": year,
                                       "replicate": net["replicate"], "value": net["net"]}))
    out = pd.concat(parts, ignore_index=True)
    out["place"] = out["place"].astype(str)
    out = out.merge(_identity(result), on="replicate", how="left")
    out.insert(1, "unit", out["indicator"].map(indicator_unit))
    order = {r: i for i, r in enumerate(regions)}
    names = list(dict.fromkeys([*(share_indicator(t) for t in tiers), RETENTION, NET_INFLOW]))
    out["_i"] = out["indicator"].map(names.index)
    out["_p"] = out["place"].map(order).fillna(len(order))
    return out.sort_values(["_i", "_p", "year", "replicate"]).drop(columns=["_i", "_p"]).reset_index(drop=True)


def indicator_summary(values: pd.DataFrame, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the median over replicates of :func:`indicators`' values and the range holding the central
    ``interval`` of replicates (empty for one replicate), in the order the indicators come."""
    keys = ["indicator", "place", "year"]
    order = values[keys].drop_duplicates().reset_index(drop=True)
    order["_k"] = range(len(order))
    out = replicate_band(values, keys, "value", interval)
    out = out.merge(order, on=keys).sort_values("_k").drop(columns="_k").reset_index(drop=True)
    return out


def differences(base: pd.DataFrame, other: pd.DataFrame, keys: Sequence[str], column: str,
                pair_on: Sequence[str] = ("seed",), paired: bool | None = None) -> tuple[pd.DataFrame, bool]:
    """Return ``other - base`` of ``column`` for each group of ``keys``, per replicate pair, and whether it is paired.

    Both tables carry the ``pair_on`` columns (what identifies a replicate: its seed, and a parameter draw in
    calibration ensembles). Paired (the default when the runs share any replicate): each replicate of ``other`` is
    set against the replicate of ``base`` with the same identity; replicates held by one run only are left out.
    Unpaired: every replicate of one against every replicate of the other.
    Columns: keys, pair_on (of ``other``), difference.
    """
    keys, pair_on = list(keys), list(pair_on)
    if paired is None:
        shared = base[pair_on].drop_duplicates().merge(other[pair_on].drop_duplicates(), on=pair_on)
        paired = len(shared) > 0
    left = base[[*keys, *pair_on, column]].rename(columns={column: "_base"})
    right = other[[*keys, *pair_on, column]].rename(columns={column: "_other"})
    if paired:
        merged = right.merge(left, on=[*keys, *pair_on], how="inner")
    else:
        merged = right.merge(left.drop(columns=pair_on), on=keys, how="inner")
    merged["difference"] = merged["_other"] - merged["_base"]
    return merged[[*keys, *pair_on, "difference"]], paired


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
                  interval: float = INTERVAL, *, unpaired: bool = False) -> pd.DataFrame:
    """Return the headline indicators of each scenario at the years ``at`` (median over replicates and the range
    of the central ``interval`` of them), and each scenario's change from the first (the baseline).

    The change is the median of paired differences (each replicate minus the baseline's replicate with the same
    seed), with the range of the central ``interval`` of them; it need not equal the difference of the medians.
    Runs that share no replicate are refused (:class:`UnpairedError`) unless ``unpaired``, when every replicate is
    set against every replicate and the rows say ``paired = False``.

    Columns: indicator, unit, place, year, scenario, median, low, high, replicates, diff_median, diff_low,
    diff_high, pairs, paired. Intervals are empty where fewer than two replicates (or pairs) stand behind them.
    """
    if len(results) < 1:
        raise CompareError("nothing to compare")
    _check_comparable(results)
    at = list(at) if at else default_years(results)
    labels = scenario_labels(results)
    keys = ["indicator", "place", "year"]
    pairings = [pairing(results[0], result, unpaired=unpaired) for result in results[1:]]
    values = [indicators(result, at) for result in results]
    rows = []
    for i, (label, table) in enumerate(zip(labels, values)):
        summary = indicator_summary(table, interval)
        summary.insert(3, "scenario", label)
        if i == 0:
            summary[["diff_median", "diff_low", "diff_high"]] = np.nan
            summary["pairs"] = pd.NA
            summary["paired"] = pd.NA
        else:
            how = pairings[i - 1]
            diff, _ = differences(values[0], table, keys, "value", pair_on=list(how.keys), paired=how.paired)
            stats = replicate_band(diff, keys, "difference", interval).rename(
                columns={"median": "diff_median", "low": "diff_low", "high": "diff_high", "replicates": "pairs"})
            summary = summary.merge(stats, on=keys, how="left")
            summary["paired"] = how.paired
        rows.append(summary)
    table = pd.concat(rows, ignore_index=True)
    table.insert(1, "unit", table["indicator"].map(indicator_unit))
    order = {name: i for i, name in enumerate(labels)}
    table["_s"] = table["scenario"].map(order)
    first = table.drop_duplicates(keys)[keys].reset_index(drop=True)
    first["_k"] = range(len(first))
    table = table.merge(first, on=keys).sort_values(["_k", "_s"])
    table = table.drop(columns=["_k", "_s"]).reset_index(drop=True)
    table.attrs["pairings"] = {label: how for label, how in zip(labels[1:], pairings)}
    return table


def key_findings(table: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of :func:`compare_table` whose change from the baseline has an interval that excludes
    zero at the precision shown (changes larger than the spread between replicates), largest first: shares by
    percentage points, then counts by size."""
    precision = np.where(table["indicator"].map(is_share), SHARE_PRECISION, COUNT_PRECISION)
    rows = table[excludes_zero(table["diff_low"], table["diff_high"], precision)].copy()
    rows["_share"] = ~rows["indicator"].map(is_share)
    rows["_size"] = -rows["diff_median"].abs()
    return rows.sort_values(["_share", "_size"]).drop(columns=["_share", "_size"]).reset_index(drop=True)


def finding_text(row: pd.Series, names: dict[str, str] | None = None, baseline: str = "the baseline") -> str:
    """Return one key finding in words: 'Top-tier share, United States, 2030: 41.2% → 37.0%, −4.2 pp
    [−5.1, −3.3] (paired)'."""
    names = names or {}
    indicator = row["indicator"]
    what = f"{indicator[0].upper()}{indicator[1:]}, {names.get(row['place'], row['place'])}, {row['year']:g}"
    base = row.get("baseline_median")
    values = f"{format_value(indicator, base)} → {format_value(indicator, row['median'])}, " if base is not None \
        and pd.notna(base) else ""
    pair = "" if row["paired"] is True or row["paired"] == True else " UNPAIRED"  # noqa: E712 - pandas booleans
    return (f"{what}: {values}{format_difference(indicator, row['diff_median'])} "
            f"[{format_difference(indicator, row['diff_low'])}, {format_difference(indicator, row['diff_high'])}] "
            f"in '{row['scenario']}' against {baseline}{pair}")


def with_baseline_medians(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the baseline's median beside each row (``baseline_median``)."""
    keys = ["indicator", "place", "year"]
    base = table.drop_duplicates(keys)[[*keys, "median"]].rename(columns={"median": "baseline_median"})
    return table.merge(base, on=keys, how="left")


def format_value(indicator: str, value: float) -> str:
    """Return an indicator value as text: shares in %, counts as whole researchers represented per year."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return "–"
    if is_share(indicator):
        return f"{value:.1%}"
    return f"{value:,.0f}".replace("-", "−")


def format_difference(indicator: str, value: float) -> str:
    """Return a difference as text: shares in percentage points, counts in researchers represented, signed."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return "–"
    text = f"{value * 100:+.1f} pp" if is_share(indicator) else f"{value:+,.0f}"
    text = text.replace("-0.0 pp", "+0.0 pp") if text.startswith("-0.0 ") else "+0" if text == "-0" else text
    return text.replace("-", "−")


def comparison_note(table: pd.DataFrame, interval: float = INTERVAL) -> str:
    """Return the sentences that say what a comparison table shows: its statistic, its interval, how each
    change from the baseline was taken (paired or UNPAIRED), and the units."""
    scenarios = list(dict.fromkeys(table["scenario"]))
    reps = int(table["replicates"].max())
    pairings = table.attrs.get("pairings", {})
    paired_flags = [how.paired for how in pairings.values()]
    paired = None if not paired_flags else (True if all(paired_flags) else False)
    text = statistic_note(reps, interval, paired=paired)
    if pairings:
        text += " " + "; ".join(how.describe(label, scenarios[0]) for label, how in pairings.items()) + "."
    text += (" The change is the median of the paired differences, which can differ from (even in sign) the "
             "difference of the two medians when replicates disagree. Shares are of the tier's researchers; their "
             f"changes are in percentage points (pp). Net inflows are in {REPRESENTED} (model counts scaled to the "
             "real researchers the population stands for) per year.")
    return text


def csv_table(table: pd.DataFrame, interval: float = INTERVAL) -> pd.DataFrame:
    """Return :func:`compare_table` as written to compare.csv: with a ``statistic`` column that says, on every row,
    what the numbers are (a CSV has no place for a note)."""
    reps = table["replicates"].astype(int)
    text = [
        (f"median of {n} replicates; low, high: {interval:.0%} of replicates fall in [low, high]" if n >= 2
         else "value of a single replicate: no interval")
        + ("" if pd.isna(paired) else "; change: median of paired differences from the baseline (same seeds)"
           if paired else "; change: UNPAIRED, over every pair of replicates (no shared seeds)")
        for n, paired in zip(reps, table["paired"])
    ]
    return table.assign(statistic=text)


def format_compare_table(table: pd.DataFrame, names: dict[str, str] | None = None, *,
                         findings: bool = True) -> str:
    """Return the comparison table as aligned text for the terminal: the key findings, then every indicator."""
    names = names or {}
    scenarios = list(dict.fromkeys(table["scenario"]))
    multiple = int(table["replicates"].max()) >= MIN_REPLICATES_FOR_INTERVAL
    width = 26 if multiple else 12
    lines = []
    if findings and len(scenarios) > 1:
        found = key_findings(with_baseline_medians(table))
        if not multiple:
            lines.append("Key findings: none can be told from noise (a single replicate has no interval).")
        elif found.empty:
            lines.append("Key findings: no change from the baseline is larger than the spread between replicates.")
        else:
            lines.append(f"Key findings ({len(found)} changes whose {INTERVAL:.0%} interval excludes zero; largest "
                         "first):")
            lines += [f"  {finding_text(row, names, repr(scenarios[0]))}" for _, row in found.head(12).iterrows()]
            if len(found) > 12:
                lines.append(f"  ... and {len(found) - 12} more in the table below")
        lines.append("")
    unpaired = [s for s, how in table.attrs.get("pairings", {}).items() if not how.paired]
    for (indicator, year), group in table.groupby(["indicator", "year"], sort=False):
        unit = "" if is_share(indicator) else f" ({REPRESENTED})"
        lines.append(f"{indicator}{unit}, {year:g}")
        header = f"  {'':<16}" + "".join(f"{s[:width - 2]:>{width}}" for s in scenarios)
        header += "".join(f"{('change ' + s + (' UNPAIRED' if s in unpaired else ''))[:width + 4]:>{width + 6}}"
                          for s in scenarios[1:])
        lines.append(header)
        for place, rows in group.groupby("place", sort=False):
            cells = []
            for scenario in scenarios:
                row = rows[rows.scenario == scenario].iloc[0]
                text = format_value(indicator, row["median"])
                if multiple and pd.notna(row["low"]):
                    text += f" [{format_value(indicator, row['low'])}, {format_value(indicator, row['high'])}]"
                cells.append(f"{text:>{width}}")
            for scenario in scenarios[1:]:
                row = rows[rows.scenario == scenario].iloc[0]
                text = format_difference(indicator, row["diff_median"])
                if multiple and pd.notna(row["diff_low"]):
                    text += (f" [{format_difference(indicator, row['diff_low'])}, "
                             f"{format_difference(indicator, row['diff_high'])}]")
                cells.append(f"{text:>{width + 6}}")
            lines.append(f"  {names.get(place, place):<16}" + "".join(cells))
        lines.append("")
    if len(scenarios) > 1:
        lines.append(f"'change X': X minus '{scenarios[0]}'.")
    lines.append(comparison_note(table))
    return "\n".join(lines).rstrip()


def __getattr__(name: str) -> Any:
    """The comparison figures live in :mod:`simulation.compare_plots`; their names are found here too."""
    if name in ("curve_differences", "plot_compare_curves", "plot_compare_difference"):
        from . import compare_plots

        return getattr(compare_plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
