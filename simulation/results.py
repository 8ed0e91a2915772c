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

from .outputs import ResultsError, StagedFolder, atomic_write, sha256
from .observe import EMPLOYER_FIELDS, ENTRY, EXIT, TIERS, UNPLACED, Recorder
from .scenario import Scenario, scenario_from_dict
from .summary import INTERVAL, MIN_REPLICATES_FOR_INTERVAL, replicate_band, statistic_note

__all__ = ["TABLES", "ResultsError", "RunResult", "headline", "load_results", "migration_curve", "retention_curve"]

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
        """Write the run into the folder ``out`` whole or not at all; return the paths written.

        The files are written into a hidden folder beside ``out`` that replaces it when all are written, so
        ``out`` holds this run or the one before, never a mix; a second process saving into ``out`` at the same
        time is refused (:class:`~simulation.outputs.OutputError`).
        """
        _check_formats(formats)
        with StagedFolder(out, marker=MANIFEST) as staging:
            names = [p.name for p in self.write(staging, formats)]
        return [Path(out) / name for name in names]

    def write(self, folder: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
        """Write every table in each of ``formats``, the headline table and ``manifest.json`` into ``folder``.

        The manifest, written last, lists every file with its row count and SHA-256 checksum, so
        :func:`load_results` can tell a complete folder from a damaged one. Returns the paths written.
        """
        _check_formats(formats)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables.items():
            for fmt in formats:
                path = folder / f"{name}.{fmt}"
                atomic_write(path, lambda tmp, t=table, f=fmt: t.to_parquet(tmp, index=False) if f == "parquet"
                             else t.to_csv(tmp, index=False))
                written.append(path)
        path = folder / "headline.csv"
        atomic_write(path, lambda tmp: self.headline().to_csv(tmp, index=False))
        written.append(path)
        self.manifest["rows"] = {name: len(table) for name, table in self.tables.items()}
        self.manifest["files"] = sorted(p.name for p in written) + [MANIFEST]
        self.manifest["sha256"] = {p.name: sha256(p) for p in written}
        path = folder / MANIFEST
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(self.manifest, indent=2, default=str) + "\n"))
        written.append(path)
        return written


MANIFEST = "manifest.json"


def _check_formats(formats: tuple[str, ...]) -> None:
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"unknown table format(s) {sorted(unknown)}; choose from {list(FORMATS)}")


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Return the manifest of a run's folder, checked to name only files inside it.

    Raises:
        ResultsError: no manifest, a damaged one, or one that names files outside the folder.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    rerun = "rerun the scenario with 'talentsim run' to rebuild the folder"
    if not directory.is_dir():
        raise ResultsError(f"{directory}: no such folder; give the --out folder of 'talentsim run'")
    if not path.is_file():
        raise ResultsError(f"{directory}: no {MANIFEST}; is this the --out folder of 'talentsim run'? (a run that "
                           "was stopped before it finished leaves no folder)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: damaged, not readable as JSON ({exc.__class__.__name__}); {rerun}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("scenario"), dict):
        raise ResultsError(f"{path}: not the manifest of a run (it has no scenario); {rerun}")
    files = manifest.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ResultsError(f"{path}: 'files' must list file names; {rerun}")
    for name in [*files, *(manifest.get("sha256") or {})]:
        if not _plain_name(name):
            raise ResultsError(f"{path}: lists {name!r}, which is not a file of this folder; the manifest was edited "
                               f"or damaged; {rerun}")
    return manifest


def _plain_name(name: Any) -> bool:
    return (isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name and "\0" not in name
            and not name.startswith(".") and name not in ("..", "."))


def load_results(directory: str | Path) -> RunResult:
    """Return the run saved in ``directory`` (Parquet preferred, CSV otherwise), without needing its YAML.

    Only the files the manifest lists are read; each must match the row count and checksum the manifest
    recorded, so a damaged, truncated or replaced file is reported rather than read.

    Raises:
        ResultsError: saying which file is missing or damaged, and what to do.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    listed = set(manifest.get("files", []))
    sums = manifest.get("sha256") or {}
    rows = manifest.get("rows") or {}
    rerun = "rerun the scenario with 'talentsim run' to rebuild the folder"
    tables = {}
    for name in TABLES:
        choices = [f"{name}.{fmt}" for fmt in FORMATS if f"{name}.{fmt}" in listed]
        if not choices:
            if listed:
                raise ResultsError(f"{directory}: {MANIFEST} lists no {name} table; {rerun}")
            choices = [f"{name}.{fmt}" for fmt in FORMATS if (directory / f"{name}.{fmt}").is_file()][:1]
            if not choices:
                raise ResultsError(f"{directory}: {name}.parquet (or .csv) is missing; {rerun}")
        file = directory / choices[0]
        if not file.is_file():
            raise ResultsError(f"{file}: missing, though {MANIFEST} lists it; {rerun}")
        if choices[0] in sums and sha256(file) != sums[choices[0]]:
            raise ResultsError(f"{file}: does not match the checksum in {MANIFEST}; the file was changed or damaged "
                               f"after the run; {rerun}")
        try:
            table = (pd.read_parquet(file) if file.suffix == ".parquet"
                     else pd.read_csv(file, parse_dates=["date"]))
        except Exception as exc:  # noqa: BLE001 - any reader error means a damaged file
            raise ResultsError(f"{file}: damaged, cannot be read ({exc.__class__.__name__}); {rerun}") from None
        if name in rows and len(table) != rows[name]:
            raise ResultsError(f"{file}: holds {len(table):,} rows, but {MANIFEST} records {rows[name]:,}; the file "
                               f"is truncated or from another run; {rerun}")
        tables[name] = table
    try:
        scenario = scenario_from_dict(manifest["scenario"], source=str(directory / MANIFEST))
    except ValueError as exc:
        raise ResultsError(f"{directory / MANIFEST}: its scenario is not valid for this version of talentsim:\n"
                           f"{exc}") from None
    return RunResult(scenario=scenario, manifest=manifest, **tables)
