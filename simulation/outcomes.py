"""What a sweep keeps from each run: named scalar outcomes and curves, each kind declared once here.

An experiment file names its outcomes and curves and says which *kind* each is, e.g.::

    outcomes:
      us_top_tier_share_2030: {kind: share, region: US, tier: top_tier, year: 2030}
      net_flow_us_to_china: {kind: net_flow, from: US, to: China, between: [2025, 2030]}
    curves:
      top_tier_location: {kind: migration, tier: top_tier}

Every kind says here how it is computed from a run's tables (``RunResult``), its label and its unit;
tables and figures of a sweep take labels from there.

"At year Y" means the state recorded at the first step on or after January of year Y. A period
``between: [Y0, Y1]`` covers the moves made from January Y0 up to January Y1 (five years for 2025-2030).
Counts of researchers and moves are scaled from model researchers to the real researchers they stand for
(``population.represents / run.researchers``), so they do not depend on the size of the simulation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from .results import RunResult
    from .scenario import Scenario

__all__ = ["CURVE_COLUMNS", "CURVE_KINDS", "OUTCOME_KINDS", "Curve", "Outcome", "evaluate"]

Tier = Literal["all", "top_tier", "elite", "frontier"]
TIER_WORDS = {"all": "all", "top_tier": "top-tier", "elite": "elite", "frontier": "frontier"}
YEAR_TOLERANCE = 1e-9

# Columns of the curve table, in order; ``region``/``origin`` are empty where a curve has no such key.
CURVE_COLUMNS = ("run_id", "curve", "step", "year", "region", "origin", "value")

Check = Iterator[tuple[str, str, Any]]  # (key under the outcome, message, value)


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    label_text: str | None = Field(None, alias="label", description="Label for tables and figures (default: generated).")

    @property
    def label(self) -> str:
        """Return the label used in tables and figures."""
        return self.label_text or self.default_label()

    UNIT: ClassVar[str] = ""

    @property
    def unit(self) -> str:
        """Return the unit of the values."""
        return self.UNIT

    def default_label(self) -> str:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def check(self, scenario: Scenario) -> Check:
        """Yield problems with the regions and years this declaration names, for ``scenario``."""
        regions = scenario.region_ids
        for key in ("region", "origin", "from_region", "to_region"):
            if key not in type(self).model_fields:
                continue
            values = getattr(self, key)
            for value in values if isinstance(values, list) else [values]:
                if value is not None and value not in regions:
                    written = type(self).model_fields[key].alias or key
                    yield written, f"unknown region '{value}'{_close(value, regions)} Regions: {', '.join(regions)}", value


def _close(name: str, options: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _year_bounds(scenario: Scenario) -> tuple[float, float]:
    run = scenario.run
    return run.start.year + (run.start.month - 1) / 12, run.end.year + (run.end.month - 1) / 12


def _check_year(year: float, key: str, scenario: Scenario) -> Check:
    first, last = _year_bounds(scenario)
    if not first - YEAR_TOLERANCE <= year <= last + YEAR_TOLERANCE:
        run = scenario.run
        yield key, (
            f"outside the run ({run.start:%Y-%m} to {run.end:%Y-%m}); choose a year from {math.ceil(first - YEAR_TOLERANCE)} "
            f"to {math.floor(last + YEAR_TOLERANCE)}, or change run.end"
        ), int(year) if float(year).is_integer() else year


def _check_between(between: tuple[float, float], scenario: Scenario) -> Check:
    first, last = between
    if last <= first:
        yield "between", "the second year must come after the first", list(between)
    yield from _check_year(first, "between", scenario)
    yield from _check_year(last, "between", scenario)


def _step_at(table: pd.DataFrame, year: float) -> int:
    """Return the first recorded step on or after ``year`` (a decimal year)."""
    steps = table.loc[table["year"] >= year - YEAR_TOLERANCE, "step"]
    if steps.empty:
        raise ValueError(f"the run ends before {year:g}")
    return int(steps.min())


def _scale(result: RunResult) -> float:
    scenario = result.scenario
    return scenario.population.represents / scenario.run.researchers


def _year_text(year: float) -> str:
    return f"{year:g}"


# --------------------------------------------------------------------------------------------------------------
# Scalar outcomes


class _AtYear(_Declared):
    """An outcome read from the state at a year."""

    year: float = Field(description="Year (the state in January of that year).")

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        yield from _check_year(self.year, "year", scenario)

    def rows(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of ``table`` of this outcome's tier at its year."""
        return table[(table["tier"] == self.tier) & (table["step"] == _step_at(table, self.year))]


class ShareOutcome(_AtYear):
    """Share of a tier's researchers working in a region at a year (optionally of one origin only)."""

    kind: Literal["share"]
    region: str = Field(description="Region where the researchers work.")
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    origin: str | None = Field(None, description="Count only researchers of this origin (default: all origins).")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        who = f"{self.origin}-origin {TIER_WORDS[self.tier]}" if self.origin else TIER_WORDS[self.tier]
        return f"Share of {who} researchers working in {self.region}, {_year_text(self.year)}"

    def compute(self, result: RunResult) -> float:
        from .observe import UNPLACED

        rows = self.rows(result.stocks)
        rows = rows[rows["region"] != UNPLACED]  # shares are of researchers with a research post
        if self.origin is not None:
            rows = rows[rows["origin"] == self.origin]
        total = rows["researchers"].sum()
        inside = rows.loc[rows["region"] == self.region, "researchers"].sum()
        return float(inside / total) if total > 0 else math.nan


class RetentionOutcome(_AtYear):
    """Share of an origin's researchers (of a tier) working in their origin region at a year."""

    kind: Literal["retention"]
    origin: str = Field(description="Origin region.")
    tier: Tier = Field("all", description="all, top_tier, elite or frontier.")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        tier = "" if self.tier == "all" else f"{TIER_WORDS[self.tier]} "
        return f"Home retention of {self.origin}-origin {tier}researchers, {_year_text(self.year)}"

    def compute(self, result: RunResult) -> float:
        rows = self.rows(result.retention)
        rows = rows[rows["origin"] == self.origin]
        total = rows["researchers"].sum()
        return float(rows["at_home"].sum() / total) if total > 0 else math.nan


class ResearchersOutcome(_AtYear):
    """Researchers of a tier working in a region at a year, scaled to the real researchers they stand for."""

    kind: Literal["researchers"]
    region: str = Field(description="Region where the researchers work.")
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    origin: str | None = Field(None, description="Count only researchers of this origin (default: all origins).")
    UNIT: ClassVar[str] = "researchers"

    def default_label(self) -> str:
        tier = "" if self.tier == "all" else f" {TIER_WORDS[self.tier]}"
        who = f"{self.origin}-origin{tier}" if self.origin else (TIER_WORDS[self.tier].capitalize() if tier else "All")
        return f"{who} researchers working in {self.region}, {_year_text(self.year)}"

    def compute(self, result: RunResult) -> float:
        rows = self.rows(result.stocks)
        rows = rows[rows["region"] == self.region]
        if self.origin is not None:
            rows = rows[rows["origin"] == self.origin]
        return float(rows["researchers"].sum() * _scale(result))


class _Period(_Declared):
    from_region: str = Field(alias="from", description="Region left.")
    to_region: str = Field(alias="to", description="Region joined.")
    between: tuple[float, float] = Field(description="[first year, last year]: moves from January of the first to January of the last.")
    origin: str | None = Field(None, description="Count only researchers of this origin (default: all origins).")
    UNIT: ClassVar[str] = "researchers"

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        yield from _check_between(self.between, scenario)
        if self.from_region == self.to_region:
            yield "to", "must differ from 'from'", self.to_region

    def _moves(self, result: RunResult, source: str, target: str) -> float:
        flows = result.flows
        first, last = self.between
        rows = flows[
            (flows["from_region"] == source)
            & (flows["to_region"] == target)
            & (flows["year"] > first + YEAR_TOLERANCE)
            & (flows["year"] <= last + YEAR_TOLERANCE)
        ]
        if self.origin is not None:
            rows = rows[rows["origin"] == self.origin]
        return float(rows["moves"].sum() * _scale(result))

    def _period_text(self) -> str:
        first, last = self.between
        origin = f", {self.origin} origin" if self.origin else ""
        return f"{_year_text(first)}-{_year_text(last)}{origin}"


class NetFlowOutcome(_Period):
    """Net moves from one region to another over a period: moves from -> to minus moves to -> from."""

    kind: Literal["net_flow"]

    def default_label(self) -> str:
        return f"Net moves {self.from_region} -> {self.to_region}, {self._period_text()}"

    def compute(self, result: RunResult) -> float:
        return self._moves(result, self.from_region, self.to_region) - self._moves(result, self.to_region, self.from_region)


class FlowOutcome(_Period):
    """Gross moves from one region to another over a period."""

    kind: Literal["flow"]

    def default_label(self) -> str:
        return f"Moves {self.from_region} -> {self.to_region}, {self._period_text()}"

    def compute(self, result: RunResult) -> float:
        return self._moves(result, self.from_region, self.to_region)


class AbroadOutcome(_AtYear):
    """Share of a tier's researchers working outside their origin region at a year."""

    kind: Literal["abroad_share"]
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        return f"Share of {TIER_WORDS[self.tier]} researchers working outside their origin, {_year_text(self.year)}"

    def compute(self, result: RunResult) -> float:
        rows = self.rows(result.retention)
        total = rows["researchers"].sum()
        return float(1.0 - rows["at_home"].sum() / total) if total > 0 else math.nan


class OriginShareOutcome(_AtYear):
    """Share of a tier's researchers whose origin is a given region (or one of several), at a year: of all of them,
    or of those working in one region (the origin mix of a region's researchers, e.g. of the US-based top tier)."""

    kind: Literal["origin_share"]
    origin: str | list[str] = Field(description="Origin region, or a list of origins whose shares are added.")
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    region: str | None = Field(None, description="Only researchers working in this region (default: wherever they work).")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        where = f" working in {self.region}" if self.region else ""
        origin = " or ".join(self.origins)
        return f"Share of {TIER_WORDS[self.tier]} researchers{where} of {origin} origin, {_year_text(self.year)}"

    @property
    def origins(self) -> list[str]:
        """Return the origins counted, as a list."""
        return self.origin if isinstance(self.origin, list) else [self.origin]

    def compute(self, result: RunResult) -> float:
        if self.region is None:
            rows = self.rows(result.retention)
        else:
            rows = self.rows(result.stocks)
            rows = rows[rows["region"] == self.region]
        total = rows["researchers"].sum()
        return float(rows.loc[rows["origin"].isin(self.origins), "researchers"].sum() / total) if total > 0 else math.nan


class StayRateOutcome(_Declared):
    """Stay rate: of researchers who did their PhD in a host region outside their origin, the share of those
    still in research who work in the host region a given number of years after entering, pooled over cohorts."""

    kind: Literal["stay_rate"]
    host: str = Field(description="Region of PhD training.")
    years: float = Field(ge=0, description="Years since the PhD (the cohort's state from this many years on, for one year).")
    cohorts: tuple[int, int] = Field(description="[first, last] entry year of the cohorts pooled.")
    origin: str | None = Field(None, description="Only researchers of this origin (default: every origin but the host).")
    where: Literal["host", "origin"] = Field(
        "host", description="host: the share still in the host region (stay rate); origin: the share back in their "
        "origin region (return rate)."
    )
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        who = f"{self.origin}-origin researchers" if self.origin else "International researchers"
        place = self.host if self.where == "host" else "their origin region"
        return f"{who} trained in {self.host}: share in {place} after {_year_text(self.years)} years"

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        if self.host not in scenario.region_ids:
            yield "host", f"unknown region '{self.host}'{_close(self.host, scenario.region_ids)}", self.host
        first, last = self.cohorts
        if last < first:
            yield "cohorts", "the last cohort must not come before the first", list(self.cohorts)
        first_year, last_year = _year_bounds(scenario)
        if first + self.years + 1 > last_year + YEAR_TOLERANCE:
            yield "years", (
                f"the first cohort ({first}) is not {_year_text(self.years)} years past its PhD before the run ends "
                f"({last_year:g}); lower 'years' or extend the run"
            ), self.years

    def compute(self, result: RunResult) -> float:
        table = result.cohorts
        since = table["years_since_entry"]
        rows = table[
            (table["training_region"] == self.host)
            & table["cohort_year"].between(*self.cohorts)
            & (since >= self.years - YEAR_TOLERANCE)
            & (since < self.years + 1 - YEAR_TOLERANCE)
        ]
        if self.origin is not None:
            rows = rows[rows["origin"] == self.origin]
        active = rows["active"].sum()
        column = "in_host_region" if self.where == "host" else "returned_home"
        return float(rows[column].sum() / active) if active > 0 else math.nan


EMPLOYER_TIER_COLUMNS = {"all": "headcount", "top_tier": "top_tier_headcount", "elite": "elite_headcount",
                         "frontier": "frontier_headcount"}
HIRE_COLUMNS = {"vacancy": "hires_vacancy", "signing_bonus": "hires_bonus", "return_programme": "hires_return"}


class _EmployerCheck(_Declared):
    employer: str = Field(description="Employer id.")

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        employers = scenario.employer_ids
        if self.employer not in employers:
            yield "employer", f"unknown employer '{self.employer}'{_close(self.employer, employers)}", self.employer


class EmployerStaffOutcome(_EmployerCheck):
    """Researchers of a tier on an employer's staff at a year, scaled to the real researchers they stand for."""

    kind: Literal["employer_staff"]
    tier: Tier = Field("frontier", description="all, top_tier, elite or frontier.")
    year: float = Field(description="Year (the state in January of that year).")
    UNIT: ClassVar[str] = "researchers"

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        yield from _check_year(self.year, "year", scenario)

    def default_label(self) -> str:
        return f"{TIER_WORDS[self.tier].capitalize()} researchers at {self.employer}, {_year_text(self.year)}"

    def compute(self, result: RunResult) -> float:
        table = result.employers
        rows = table[(table["employer"] == self.employer) & (table["step"] == _step_at(table, self.year))]
        return float(rows[EMPLOYER_TIER_COLUMNS[self.tier]].sum() * _scale(result))


class EmployerHiresOutcome(_EmployerCheck):
    """Hires of an employer through one kind of offer over a period, per year, scaled to real researchers."""

    kind: Literal["employer_hires"]
    offer: Literal["vacancy", "signing_bonus", "return_programme"] = Field(description="Kind of offer.")
    between: tuple[float, float] = Field(description="[first year, last year]: hires from January of the first to January of the last.")
    UNIT: ClassVar[str] = "researchers per year"

    def check(self, scenario: Scenario) -> Check:
        yield from super().check(scenario)
        yield from _check_between(self.between, scenario)

    def default_label(self) -> str:
        first, last = self.between
        return f"Hires by {self.offer.replace('_', ' ')} at {self.employer} per year, {_year_text(first)}-{_year_text(last)}"

    def compute(self, result: RunResult) -> float:
        table = result.employers
        first, last = self.between
        rows = table[(table["employer"] == self.employer) & (table["year"] > first + YEAR_TOLERANCE)
                     & (table["year"] <= last + YEAR_TOLERANCE)]
        return float(rows[HIRE_COLUMNS[self.offer]].sum() * _scale(result) / (last - first))


OUTCOME_KINDS: dict[str, type[_Declared]] = {
    "share": ShareOutcome,
    "retention": RetentionOutcome,
    "researchers": ResearchersOutcome,
    "net_flow": NetFlowOutcome,
    "flow": FlowOutcome,
    "abroad_share": AbroadOutcome,
    "origin_share": OriginShareOutcome,
    "stay_rate": StayRateOutcome,
    "employer_staff": EmployerStaffOutcome,
    "employer_hires": EmployerHiresOutcome,
}

Outcome = Annotated[
    Union[  # noqa: UP007
        ShareOutcome, RetentionOutcome, ResearchersOutcome, NetFlowOutcome, FlowOutcome, AbroadOutcome,
        OriginShareOutcome, StayRateOutcome, EmployerStaffOutcome, EmployerHiresOutcome,
    ],
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------------------------------
# Curves


class MigrationCurve(_Declared):
    """Share of a tier's researchers working in each region, each step (by origin if asked)."""

    kind: Literal["migration"]
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    by_origin: bool = Field(False, description="One curve per origin (shares within the origin).")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        return f"Share of {TIER_WORDS[self.tier]} researchers working in each region" + (
            ", by origin" if self.by_origin else ""
        )

    def compute(self, result: RunResult) -> pd.DataFrame:
        from .results import migration_curve

        table = migration_curve(result.stocks, self.tier, by_origin=self.by_origin)
        if not self.by_origin:
            table = table.assign(origin=None)
        return table.rename(columns={"share": "value"})


class RetentionCurve(_Declared):
    """Share of each origin's researchers (of a tier) working in their origin region, each step."""

    kind: Literal["retention"]
    tier: Tier = Field("all", description="all, top_tier, elite or frontier.")
    UNIT: ClassVar[str] = "share"

    def default_label(self) -> str:
        tier = "" if self.tier == "all" else f"{TIER_WORDS[self.tier]} "
        return f"Home retention of {tier}researchers by origin"

    def compute(self, result: RunResult) -> pd.DataFrame:
        from .results import retention_curve

        table = retention_curve(result.retention, self.tier)
        return table.assign(region=None).rename(columns={"retention": "value"})


class ResearchersCurve(_Declared):
    """Researchers of a tier working in each region, each step, scaled to real researchers."""

    kind: Literal["researchers"]
    tier: Tier = Field("top_tier", description="all, top_tier, elite or frontier.")
    UNIT: ClassVar[str] = "researchers"

    def default_label(self) -> str:
        return f"{TIER_WORDS[self.tier].capitalize()} researchers working in each region"

    def compute(self, result: RunResult) -> pd.DataFrame:
        stocks = result.stocks
        rows = stocks[stocks["tier"] == self.tier]
        table = rows.groupby(["step", "year", "region"], observed=True, sort=False)["researchers"].sum().reset_index()
        table["value"] = table["researchers"] * _scale(result)
        return table.assign(origin=None)


CURVE_KINDS: dict[str, type[_Declared]] = {
    "migration": MigrationCurve,
    "retention": RetentionCurve,
    "researchers": ResearchersCurve,
}

Curve = Annotated[Union[MigrationCurve, RetentionCurve, ResearchersCurve], Field(discriminator="kind")]  # noqa: UP007


# --------------------------------------------------------------------------------------------------------------


def evaluate(
    result: RunResult, outcomes: dict[str, Any], curves: dict[str, Any], run_id: str
) -> tuple[dict[str, float], pd.DataFrame]:
    """Return one run's outcomes (name -> value) and its curves as a long table (``CURVE_COLUMNS``)."""
    import pandas as pd

    values = {name: outcome.compute(result) for name, outcome in outcomes.items()}
    parts = []
    for name, curve in curves.items():
        table = curve.compute(result)
        table = table.assign(run_id=run_id, curve=name)
        parts.append(table[list(CURVE_COLUMNS)])
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame({c: pd.Series(dtype=_CURVE_DTYPES[c]) for c in CURVE_COLUMNS})
    return values, _curve_types(table)


_CURVE_DTYPES = {
    "run_id": "object", "curve": "object", "step": "int64", "year": "float64",
    "region": "object", "origin": "object", "value": "float64",
}


def _curve_types(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the same column types whatever the curves, so run tables concatenate cleanly."""
    out = table.copy()
    for column in ("run_id", "curve", "region", "origin"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    out["step"] = out["step"].astype("int64")
    out["year"] = out["year"].astype("float64")
    out["value"] = out["value"].astype("float64")
    return out.reset_index(drop=True)
