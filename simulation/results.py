"""Run results: tidy tables, the headline indicators, and files on disk with a manifest.

Tables are long (one row per step x region x origin x tier, and so on) with provenance columns
(``replicate``, ``seed``); a saved run can be read back without its YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .outputs import atomic_write
from .observe import EMPLOYER_FIELDS, ENTRY, EXIT, TIERS, UNPLACED, Recorder
from .scenario import Scenario, scenario_from_dict
from .summary import INTERVAL, MIN_REPLICATES_FOR_INTERVAL, replicate_band, statistic_note

__all__ = ["TABLES", "RunResult", "headline", "load_results", "migration_curve", "retention_curve"]

TABLES = ("stocks", "flows", "retention", "cohorts", "employers")
FORMATS = ("parquet", "csv")


def _time_columns(scenario: Scenario, steps: int) -> pd.DataFrame:
    start = scenario.run.start
    months = np.arange(steps + 1) * scenario.run.step_months + start.month - 1
    years = start.year + months // 12
    month = months % 12 + 1
    dates = pd.to_datetime({"year": years, "month": month, "day": 1})
    return pd.DataFrame({"step": np.arange(steps + 1), "date": dates, "year": years + (month - 1) / 12.0})


def tables_from_recorder(scenario: Scenario, recorder: Recorder, replicate: int, seed: int) -> dict[str, pd.DataFrame]:
    """Return the tidy tables of one replicate."""
    regions = scenario.region_ids
    steps = recorder.stocks.shape[0] - 1
    time = _time_columns(scenario, steps)

    def frame(counts: np.ndarray, names: list[str], labels: list[list[Any]], value: str) -> pd.DataFrame:
        index = pd.MultiIndex.from_product([range(steps + 1), *labels], names=["step", *names])
        df = pd.DataFrame({value: counts.reshape(-1)}, index=index).reset_index()
        df = time.merge(df, on="step")
        df.insert(0, "seed", seed)
        df.insert(0, "replicate", replicate)
        return df

    stocks = frame(recorder.stocks, ["region", "origin", "tier"], [[*regions, UNPLACED], regions, list(TIERS)], "researchers")

    places_from = [*regions, ENTRY]
    places_to = [*regions, EXIT]
    flows = frame(recorder.flows, ["from_region", "to_region", "origin"], [places_from, places_to, regions], "moves")
    flows = flows[(flows.step > 0) & ~((flows.from_region == ENTRY) & (flows.to_region == EXIT))]

    placed = recorder.stocks[:, :-1]  # researchers with a research post
    home = np.einsum("sooT->soT", placed)  # region == origin
    total = placed.sum(axis=1)  # step x origin x tier
    retention = frame(total, ["origin", "tier"], [regions, list(TIERS)], "researchers")
    retention["at_home"] = home.reshape(-1)
    retention["retention"] = retention["at_home"] / retention["researchers"].where(retention["researchers"] > 0)

    cohort_years = list(range(recorder.start_year, recorder.start_year + recorder.n_cohorts))
    cohorts = frame(
        recorder.cohorts[..., 0], ["cohort_year", "training_region", "origin"], [cohort_years, regions, regions], "active"
    )
    cohorts["in_host_region"] = recorder.cohorts[..., 1].reshape(-1)
    cohorts["returned_home"] = recorder.cohorts[..., 2].reshape(-1)
    cohorts = cohorts[cohorts.active > 0].copy()
    cohorts["years_since_entry"] = cohorts["year"] - cohorts["cohort_year"]
    cohorts["stay_rate"] = cohorts["in_host_region"] / cohorts["active"]

    employers_index = list(scenario.employers)
    emp = frame(recorder.employers[..., 0], ["employer"], [employers_index], EMPLOYER_FIELDS[0])
    for k, name in enumerate(EMPLOYER_FIELDS[1:], start=1):
        emp[name] = recorder.employers[..., k].reshape(-1)
    emp.insert(emp.columns.get_loc("employer") + 1, "region", emp["employer"].map({k: e.region for k, e in scenario.employers.items()}))
    return {
        "stocks": stocks,
        "flows": flows.reset_index(drop=True),
        "retention": retention,
        "cohorts": cohorts.reset_index(drop=True),
        "employers": emp,
    }


# --------------------------------------------------------------------------------------------------------------
# Curves and indicators


def migration_curve(stocks: pd.DataFrame, tier: str = "top_tier", by_origin: bool = False) -> pd.DataFrame:
    """Return the share of a tier's researchers working in each region, per replicate and step.

    Columns: replicate, step, year, region, [origin,] share.
    """
    keys = ["replicate", "step", "year", "region"] + (["origin"] if by_origin else [])
    rows = stocks[(stocks.tier == tier) & (stocks.region != UNPLACED)]
    counts = rows.groupby(keys, observed=True)["researchers"].sum().reset_index()
    denominator_keys = ["replicate", "step"] + (["origin"] if by_origin else [])
    totals = counts.groupby(denominator_keys, observed=True)["researchers"].transform("sum")
    counts["share"] = counts["researchers"] / totals.where(totals > 0)
    return counts


def retention_curve(retention: pd.DataFrame, tier: str = "all") -> pd.DataFrame:
    """Return the share of each origin's researchers working at home, per replicate and step."""
    return retention[retention.tier == tier][["replicate", "step", "year", "origin", "researchers", "at_home", "retention"]]


def summarise(values: pd.DataFrame, keys: list[str], column: str, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the median of ``column`` over replicates for each group of ``keys``, and the range holding the
    central ``interval`` of replicates (empty for a single replicate): :func:`~simulation.summary.replicate_band`."""
    return replicate_band(values, keys, column, interval)


def _tier_words(tier: str) -> str:
    return tier.replace("_", "-")


def headline(result: RunResult, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the headline indicators at the start and end: the share of each tier's researchers (every tier the
    results record, but 'all') working in each place, and home retention of top-tier researchers by origin.

    Columns: indicator, step, year, place, median, low, high, replicates, statistic. ``low`` and ``high`` bound
    the central ``interval`` of replicates and are empty for a single replicate; ``statistic`` says so in words.
    """
    stocks, retention = result.stocks, result.retention
    last = int(stocks.step.max())
    rows = []
    tiers = [t for t in dict.fromkeys(stocks["tier"]) if t != "all"] or ["all"]  # every tier recorded
    for tier in tiers:
        shares = migration_curve(stocks[stocks.step.isin([0, last])], tier)
        summary = summarise(shares, ["step", "year", "region"], "share", interval)
        summary.insert(0, "indicator", f"share of {_tier_words(tier)} researchers working in region")
        summary = summary.rename(columns={"region": "place"})
        rows.append(summary)
    kept = retention[retention.step.isin([0, last]) & (retention.tier == "top_tier")]
    summary = summarise(kept, ["step", "year", "origin"], "retention", interval)
    summary.insert(0, "indicator", "home retention of top-tier researchers by origin")
    rows.append(summary.rename(columns={"origin": "place"}))
    table = pd.concat(rows, ignore_index=True)
    order = {place: i for i, place in enumerate(result.scenario.region_ids)}
    table["_i"] = table["indicator"].map({name: i for i, name in enumerate(dict.fromkeys(table["indicator"]))})
    table["_p"] = table["place"].map(order).fillna(len(order))
    table = table.sort_values(["_i", "step", "_p"], kind="stable").drop(columns=["_i", "_p"]).reset_index(drop=True)
    table["statistic"] = statistic_note(int(table["replicates"].max()), interval)
    return table


def format_headline(table: pd.DataFrame, places: list[str] | None = None, names: dict[str, str] | None = None) -> str:
    """Return the headline table as aligned text for the terminal: medians, and the interval when there is one,
    with one line that says which statistic and interval they are."""
    names = names or {}
    lines = []
    multiple = int(table["replicates"].max()) >= MIN_REPLICATES_FOR_INTERVAL
    width = 24 if multiple else 10
    for indicator, group in table.groupby("indicator", sort=False):
        lines.append(indicator)
        years = sorted(group["year"].unique())
        header = f"  {'':<16}" + "".join(f"{y:>{width}.2f}" if not float(y).is_integer() else f"{int(y):>{width}d}"
                                         for y in years)
        lines.append(header)
        for place in places or list(dict.fromkeys(group["place"])):
            cells = []
            for y in years:
                row = group[(group.place == place) & (group.year == y)]
                if row.empty:
                    cells.append(f"{'-':>{width}}")
                    continue
                row = row.iloc[0]
                text = f"{row['median']:.1%}"
                if multiple and pd.notna(row["low"]):
                    text += f" [{row['low']:.1%}, {row['high']:.1%}]"
                cells.append(f"{text:>{width}}")
            lines.append(f"  {names.get(place, place):<16}" + "".join(cells))
    lines.append("")
    lines.append(statistic_note(int(table["replicates"].max())))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# The result object and its files


@dataclass
class RunResult:
    """Tables of one scenario run (all replicates) and its manifest."""

    scenario: Scenario
    stocks: pd.DataFrame
    flows: pd.DataFrame
    retention: pd.DataFrame
    cohorts: pd.DataFrame
    employers: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    @property
    def seeds(self) -> list[int]:
        """Return the seed of each replicate."""
        return [r["seed"] for r in self.manifest.get("replicates", [])]

    def headline(self, interval: float = INTERVAL) -> pd.DataFrame:
        """Return the headline indicators table."""
        return headline(self, interval)

    def migration_curve(self, tier: str = "top_tier", by_origin: bool = False) -> pd.DataFrame:
        """Return the share of ``tier`` researchers working in each region over time."""
        return migration_curve(self.stocks, tier, by_origin)

    def retention_curve(self, tier: str = "all") -> pd.DataFrame:
        """Return each origin's home retention over time."""
        return retention_curve(self.retention, tier)

    def save(self, out: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
        """Write every table in each of ``formats``, the headline table and ``manifest.json``; return the paths.

        Each file is written to a temporary name and renamed, so no half-written file is ever read.
        """
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown table format(s) {sorted(unknown)}; choose from {list(FORMATS)}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables.items():
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                atomic_write(path, lambda tmp, t=table, f=fmt: t.to_parquet(tmp, index=False) if f == "parquet" else t.to_csv(tmp, index=False))
                written.append(path)
        path = out / "headline.csv"
        atomic_write(path, lambda tmp: self.headline().to_csv(tmp, index=False))
        written.append(path)
        self.manifest["rows"] = {name: len(table) for name, table in self.tables.items()}
        self.manifest["files"] = sorted(p.name for p in written) + ["manifest.json"]
        path = out / "manifest.json"
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(self.manifest, indent=2, default=str) + "\n"))
        written.append(path)
        return written


def load_results(directory: str | Path) -> RunResult:
    """Return the run saved in ``directory`` (Parquet preferred, CSV otherwise), without needing its YAML."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{directory}: no manifest.json; is this the --out folder of 'talentsim run'?")
    manifest = json.loads(manifest_path.read_text())
    tables = {}
    for name in TABLES:
        parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
        if parquet.exists():
            tables[name] = pd.read_parquet(parquet)
        elif csv.exists():
            tables[name] = pd.read_csv(csv, parse_dates=["date"])
        else:
            raise FileNotFoundError(f"{directory}: {name}.parquet (or .csv) is missing")
    scenario = scenario_from_dict(manifest["scenario"], source=str(manifest_path))
    return RunResult(scenario=scenario, manifest=manifest, **tables)
