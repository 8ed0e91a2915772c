"""Scenario files: schema, loading, validation, ``extends:`` inheritance and lever schedules.

A scenario is read from YAML with ``yaml.safe_load``, merged with the file it ``extends:``, and validated
once into frozen pydantic models. Every problem found is reported together, each naming the file that
wrote the value, the key path, the value and what is allowed; the model then trusts what it is given.

Origins are regions: a researcher's origin is the region of their undergraduate degree.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import annotated_types
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

__all__ = [
    "Problem",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "scenario_from_dict",
    "value_at",
]

SHARE_TOLERANCE = 0.01
DEFAULT_KEY = "default"


# --------------------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where it is, what was written, and what is allowed."""

    file: str
    path: str
    message: str
    value: Any = None
    has_value: bool = False

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        got = f" (got {_short(self.value)})" if self.has_value else ""
        return f"{where}: {self.message}{got}"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists every problem found.

    ``checks_pending`` is true when the problems are of form (keys, types, ranges) and the checks of names,
    shares and schedules, which need a well-formed scenario, have not run yet.
    """

    def __init__(self, problems: list[Problem], checks_pending: bool = False):
        self.problems = problems
        self.checks_pending = checks_pending
        super().__init__("\n".join(str(p) for p in problems))


class FieldProblem(ValueError):
    """Raised by a validator when a problem belongs to one key (``key``, a path below the section checked)."""

    def __init__(self, key: tuple[Any, ...], message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def _short(value: Any) -> str:
    """Return ``value`` as it reads in YAML terms (true/false, nothing, 2019-01-01), cut to one line."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------------------------------------------
# Field types


def _parse_month(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return dt.date(value.year, value.month, 1)
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, 1)
    if isinstance(value, str):
        parts = value.strip().split("-")
        if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
            year, month = int(parts[0]), int(parts[1])
            if 1900 <= year <= 2200 and 1 <= month <= 12:
                return dt.date(year, month, 1)
    raise ValueError("must be a month written YYYY-MM, from 1900-01 to 2200-12, e.g. 2025-01")


Month = Annotated[dt.date, BeforeValidator(_parse_month)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads yes/no/on/off as true/false and .inf/.nan as numbers; pydantic would take them quietly.
        bad = _bad_number(cls.model_fields[info.field_name].annotation, value, ())
        if bad is not None:
            raise FieldProblem(*bad)
        return value


class Step(Strict, Generic[T]):
    """One step of a lever schedule: the value that holds from a month on."""

    start: Month | None = Field(None, alias="from", description="First month the value holds (YYYY-MM).")
    value: T


SCHEDULE_FORM = "a plain value, or a list of steps written {from: YYYY-MM, value: ...}"


def _as_schedule(value: Any) -> Any:
    """A plain value is a schedule of one step that holds from the start."""
    if isinstance(value, list):
        if not value:
            raise ValueError(f"must be {SCHEDULE_FORM}; an empty list gives no value")
        if not all(isinstance(step, (dict, Step)) for step in value):
            raise ValueError(f"must be {SCHEDULE_FORM}, not a list of plain values")
        return value
    return [{"from": None, "value": value}]


def Scheduled(tp: Any) -> Any:  # noqa: N802 - reads as a type
    """A lever value: either a plain value, or a list of ``{from: YYYY-MM, value: ...}`` steps."""
    return Annotated[list[Step[tp]], BeforeValidator(_as_schedule)]


def value_at(schedule: list[Step[Any]], month: dt.date, default: Any = None) -> Any:
    """Return the value of a lever schedule in force at ``month``.

    Before the first step's ``from`` month, the lever has ``default``: its value when not listed.
    """
    current = default
    for step in schedule:
        if step.start is None or step.start <= month:
            current = step.value
        else:
            break
    return current


# --------------------------------------------------------------------------------------------------------------
# Schema


class RunSettings(Strict):
    """When the run starts and ends, how long a step is, and how many researchers are simulated."""

    start: Month = Field(description="First month simulated (YYYY-MM); the initial state describes this month.")
    end: Month = Field(description="Month the run ends (YYYY-MM), exclusive.")
    step_months: int = Field(3, ge=1, le=12, description="Length of one step in months (3 = quarterly).")
    seed: int = Field(0, ge=0, description="Root seed; replicate seeds are derived from it.")
    researchers: int = Field(
        20_000, ge=100, le=50_000_000, description="Researchers simulated at the start (the model population)."
    )
    replicates: int = Field(1, ge=1, le=100_000, description="Replicate runs, each with its own derived seed.")

    @model_validator(mode="after")
    def _end_after_start(self) -> RunSettings:
        if self.end <= self.start:
            raise FieldProblem(("end",), f"must come after run.start ({self.start:%Y-%m})")
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
        if months < self.step_months:
            raise FieldProblem(
                ("end",), f"must be at least one step ({self.step_months} months) after run.start ({self.start:%Y-%m})"
            )
        return self

    @property
    def steps(self) -> int:
        """Number of steps from start to end."""
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
        return months // self.step_months


class Region(Strict):
    """A region's own state; the levers that act on it are under ``levers``."""

    name: str = Field(description="Name used in tables and figures.")
    unplaced_pay_usd: NonNegative = Field(
        description="Pay (USD/year) of a researcher in the region without a research post (postdoc, between jobs)."
    )
    unplaced_impact: float = Field(0.0, description="Research-impact index of having no research post.")
    visa_friction: NonNegative = Field(
        0.0, description="Utility cost of working in the region on a temporary visa (non-natives without permanent status)."
    )


class Distribution(Strict):
    """A normal distribution of a preference weight across researchers."""

    mean: float = Field(description="Mean weight.")
    sd: NonNegative = Field(0.0, description="Standard deviation across researchers.")


class Preferences(Strict):
    """Weights of the choice utility, drawn per researcher (random coefficients)."""

    pay: Distribution = Field(description="Weight on ln(pay + amortised bonus); pay elasticity of location 1-2 "
                              "(Moretti & Wilson 2017; Kleven et al. 2014). Drawn values are floored at 0.")
    impact: Distribution = Field(description="Weight on the research-impact index. Drawn values are floored at 0.")
    home: Distribution = Field(description="Utility of working in one's origin region.")
    network: Distribution = Field(description="Weight on ln(1 + co-nationals per 1000 researchers in the region) "
                                  "(diaspora networks: Beine, Docquier & Ozden 2011). Floored at 0.")


class PreferencesOverride(Strict):
    """Origin-specific preference weights; what is left out comes from ``preferences.default``."""

    pay: Distribution | None = None
    impact: Distribution | None = None
    home: Distribution | None = None
    network: Distribution | None = None


class ImpactWeights(Strict):
    """How the research-impact index of an employer is built from its research environment."""

    compute: NonNegative = Field(0.4, description="Weight on ln(compute per researcher x regional compute access).")
    funding: NonNegative = Field(0.3, description="Weight on ln(funding per researcher / USD 100k).")
    peers: NonNegative = Field(0.3, description="Weight on ln(mean staff quality / population median quality).")


class PreferenceSettings(Strict):
    """Preference distributions and the fixed costs of moving."""

    default: Preferences
    by_origin: dict[str, PreferencesOverride] = Field(
        default_factory=dict, description="Overrides by origin region."
    )
    move_cost_region: NonNegative = Field(description="Utility cost of moving to another region.")
    move_cost_employer: NonNegative = Field(description="Utility cost of changing employer within a region.")
    restriction_aversion: NonNegative = Field(
        1.0, le=20.0, description="Utility cost of joining an employer or region whose staff may not leave, per unit "
        "of the exit-restriction share there (1 = a restriction of 1 costs as much as about half the pay for an "
        "average pay weight; assumption)."
    )
    impact_weights: ImpactWeights = Field(default_factory=ImpactWeights)

    def for_origin(self, origin: str) -> Preferences:
        """Return the preference distributions of researchers from ``origin``."""
        override = self.by_origin.get(origin)
        if override is None:
            return self.default
        updates = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.default.model_copy(update={k: getattr(override, k) for k in updates})


class ExitSettings(Strict):
    """Leaving research: a background hazard and a retirement hazard late in careers."""

    hazard_per_year: NonNegative = Field(0.02, le=1.0, description="Yearly probability of leaving research.")
    retirement_career_age_years: Positive = Field(35.0, description="Career age (years since PhD) of retirement.")
    retirement_hazard_per_year: NonNegative = Field(0.3, le=1.0, description="Yearly exit probability past it.")
    unplaced_hazard_per_year: NonNegative = Field(
        0.3, le=1.0, description="Yearly probability that a researcher without a research post leaves research."
    )


class TailSampling(Strict):
    """Denser sampling of the upper tail of quality, with weights, so the frontier tier has enough researchers.

    A share ``share`` of model researchers is drawn from the top ``1 - quantile`` of their origin's quality
    distribution; each researcher carries the weight that makes weighted counts unbiased (importance sampling).
    """

    quantile: float = Field(0.99, ge=0.5, lt=1.0, description="Quantile above which quality is sampled densely.")
    share: float = Field(
        0.25, ge=0.0, lt=1.0, description="Share of model researchers drawn from above that quantile (0: plain sampling)."
    )


class QualityDistribution(Strict):
    """The distribution of ln(quality) of one origin's researchers."""

    log_mean: float = Field(0.0, ge=-5.0, le=5.0, description="Mean of ln(quality) (0: the reference origin).")
    sigma: Positive | None = Field(None, le=3.0, description="Standard deviation of ln(quality); default quality_sigma.")


class Population(Strict):
    """The researcher population at the start and the graduates who join it."""

    represents: Positive = Field(
        description="Real researchers the initial population stands for; scales budgets and programme slots "
        "to model researchers so results do not depend on run.researchers."
    )
    quality_sigma: Positive = Field(1.0, le=3.0, description="Quality is lognormal(0, sigma): heavy-tailed.")
    top_tier_quantile: Probability = Field(
        0.8, description="Quality quantile of the top tier (MacroPolo: NeurIPS authors, about the top 20%)."
    )
    elite_quantile: Probability = Field(0.99, description="Quality quantile of the elite (oral-presentation authors).")
    frontier_quantile: Probability = Field(
        0.999, description="Quality quantile of the frontier tier (the top 0.1%: the researchers mega-offers target)."
    )
    tail_sampling: TailSampling = Field(default_factory=lambda: TailSampling())
    quality_by_origin: dict[str, QualityDistribution] = Field(
        default_factory=dict,
        description="Distribution of ln(quality) by origin (mean shift and sigma); unlisted origins: mean 0 and "
        "quality_sigma. Derived from the origin mix of the top tier and of the elite (MacroPolo 2020).",
    )
    origin_shares: dict[str, NonNegative] = Field(
        description="Share of researchers by origin at the start; sums to 1 (MacroPolo 2020, EVIDENCE B1)."
    )
    initial_location: dict[str, dict[str, NonNegative]] = Field(
        description="For each origin, the share working in each region at the start; each row sums to 1 "
        "(MacroPolo 2020, EVIDENCE A1, A3, A4)."
    )
    training_location: dict[str, dict[str, NonNegative]] = Field(
        description="For each origin, the share of new PhD graduates trained in each region; each row sums to 1 "
        "(EVIDENCE B8, B9)."
    )
    career_age_mean_years: Positive = Field(10.0, description="Mean career age (years since PhD) at the start.")
    exits: ExitSettings = Field(default_factory=ExitSettings)
    abroad_quality_gain_per_year: NonNegative = Field(
        0.01, le=1.0, description="Yearly quality gain from experience abroad."
    )
    abroad_quality_gain_years: NonNegative = Field(5.0, le=100.0, description="Years abroad over which the gain accrues.")
    phd_years: NonNegative = Field(
        4.0, le=15.0, description="Years of PhD training, counted as years in the training region (and abroad, when "
        "trained outside the origin). Assumption: 4-6 years is typical; 4 is the short end."
    )
    initial_tenure_cap_years: Positive = Field(
        8.0, le=60.0, description="At the start, tenure is drawn uniformly up to the smaller of career age and this "
        "cap (assumption)."
    )


class SearchSettings(Strict):
    """The search hazard and how many offers a search yields."""

    base_rate_per_year: NonNegative = Field(0.15, description="Yearly search rate of a satisfied researcher.")
    dissatisfaction: NonNegative = Field(1.0, description="Log-rate increase per utility unit of dissatisfaction.")
    offers_received: NonNegative = Field(1.5, description="Log-rate increase per unsolicited offer received.")
    career_age_per_year: NonNegative = Field(0.03, description="Log-rate decrease per year of career age.")
    tenure_per_year: NonNegative = Field(0.1, description="Log-rate decrease per year of tenure.")
    offers_per_search: int = Field(3, ge=1, le=20, description="Offers a search draws, from employers with vacancies.")
    local_weight: float = Field(
        1.0, ge=1.0, description="Vacancies in the searcher's own region weigh this many times more when offers "
        "are drawn (search is mostly local; 1 = no preference)."
    )
    matching_rounds: int = Field(2, ge=1, le=10, description="Rounds of matching; rejected acceptors try again.")


class MarketSettings(Strict):
    """Market-wide settings of pay and networks."""

    pay_quality_elasticity: NonNegative = Field(
        0.5, description="Pay rises as quality**elasticity (quality 1 = population median)."
    )
    bonus_amortisation_years: Positive = Field(4.0, description="Years over which a signing bonus vests.")
    network_per: Positive = Field(1000.0, description="Co-nationals are counted per this many researchers.")
    posts_funding_elasticity: float = Field(
        0.5, ge=0.0, le=2.0, description="Elasticity of an employer's posts to its research budget (private investment "
        "for companies, public research funding and state funding for state-backed employers); the rest of a change "
        "in budget changes funding per researcher. Assumption: 0.5 splits new money evenly between posts and funding."
    )
    posts_compute_elasticity: float = Field(
        0.25, ge=0.0, le=2.0, description="Elasticity of an employer's posts to the compute its region can use "
        "(compute_access). Assumption: labs hire less where they cannot get chips."
    )
    target_selection_noise: NonNegative = Field(
        0.3, le=5.0, description="Noise (Gumbel scale, in ln quality) with which targeted offers and return packages "
        "pick recipients by quality; 0 takes the best eligible first (assumption)."
    )


Kind = Literal["big_tech", "frontier_lab", "startup", "academia", "state_lab"]
STATE_BACKED_KINDS = ("academia", "state_lab")


class Strategy(Strict):
    """An employer's adaptive pay strategy."""

    raise_per_step: NonNegative = Field(0.02, le=1.0, description="Pay raise after losing people or leaving slots unfilled.")
    max_pay_multiplier: float = Field(1.5, ge=1.0, description="Upper bound on the pay multiplier (budget bound).")
    target_unfilled_share: Probability = Field(0.1, description="Unfilled share of positions it tolerates.")
    relax_per_step: NonNegative = Field(
        0.01, le=1.0, description="Pay relaxes toward the schedule by this share a step when neither happens (assumption)."
    )


class Employer(Strict):
    """An employer of researchers (a Mesa agent)."""

    name: str = Field(description="Name used in tables and figures.")
    region: str = Field(description="Region it is in.")
    kind: Kind = Field(description="Kind of employer.")
    weight: Positive = Field(description="Relative size within its region at the start.")
    selectivity: NonNegative = Field(0.0, le=10.0, description="At the start, staff are drawn with weight x quality**selectivity.")
    vacancy_share: NonNegative = Field(0.1, le=5.0, description="Open positions at the start, as a share of staff.")
    base_pay_usd: Positive = Field(le=1e9, description="Pay (USD/year) for a researcher of median quality.")
    compute_per_researcher: Positive = Field(
        description="Compute per researcher, as an index (1 = a US frontier lab in 2019)."
    )
    funding_usd_per_researcher: Positive = Field(le=1e10, description="Research funding per researcher (USD/year), before state funding.")
    state_backed: bool | None = Field(
        None, description="Receives its region's state funding; default true for academia and state labs."
    )
    strategy: Strategy = Field(default_factory=Strategy)

    @property
    def receives_state_funding(self) -> bool:
        """Return whether the region's state funding reaches this employer."""
        return self.kind in STATE_BACKED_KINDS if self.state_backed is None else self.state_backed


class BonusPolicy(Strict):
    """A signing-bonus policy: who an employer targets and what it offers."""

    budget_usd_m_per_year: NonNegative = Field(
        le=1e6, description="Bonuses it pays per year (USD million): accepted offers spend it, refusals do not; it stops "
        "offering once the year's budget is committed."
    )
    bonus_usd: NonNegative = Field(description="Bonus offered to a researcher at the target threshold (USD).")
    max_usd: NonNegative = Field(description="Largest bonus it offers (USD).")
    target_quantile: Probability = Field(description="Quality quantile above which it targets researchers.")
    quality_elasticity: NonNegative = Field(1.0, description="Bonus rises as (quality / threshold)**elasticity.")

    @model_validator(mode="after")
    def _max_covers_bonus(self) -> BonusPolicy:  # noqa: D401
        if self.max_usd < self.bonus_usd:
            raise FieldProblem(("max_usd",), f"must be at least bonus_usd ({self.bonus_usd:,.0f})")
        return self


class ReturnProgramme(Strict):
    """A return-talent programme: packages offered to a region's expatriates."""

    bonus_usd: NonNegative = Field(description="Package value (USD), treated as a signing bonus (EVIDENCE B7).")
    slots_per_year: NonNegative = Field(
        le=1e6, description="Packages granted per year (real researchers): accepted packages use slots, refusals do not."
    )
    max_career_age_years: NonNegative = Field(12.0, description="Eligible up to this career age (age limit).")
    min_years_abroad: NonNegative = Field(3.0, description="Eligible after this many years abroad.")


class ExitRestriction(Strict):
    """Share of staff who may not leave their region; a researcher is bound by the larger of the two values."""

    region: dict[str, Scheduled(Probability)] = Field(default_factory=dict, description="Share by region.")
    employer: dict[str, Scheduled(Probability)] = Field(default_factory=dict, description="Share by employer.")


class StateFunding(Strict):
    """State funding (USD million/year): a region's is shared by its state-backed employers by headcount."""

    region: dict[str, Scheduled(NonNegative)] = Field(default_factory=dict, description="Funding by region.")
    employer: dict[str, Scheduled(NonNegative)] = Field(default_factory=dict, description="Funding by employer.")


class Pipeline(Strict):
    """New PhD graduates entering research."""

    entry_rate_per_year: Scheduled(NonNegative) = Field(
        0.08, validate_default=True, description="Graduates entering per year, as a share of the current population."
    )
    origin_mix: Scheduled(dict[str, NonNegative]) | None = Field(
        None, description="Origin shares of entering graduates (sum to 1); default population.origin_shares."
    )
    quality_shift: dict[str, Scheduled(Annotated[float, Field(ge=-2.0, le=2.0)])] = Field(
        default_factory=dict,
        description="Shift of the mean of ln(quality) of new graduates by training region (0: the initial "
        "population's distribution; +0.25 makes a graduate's quality about 28% higher). Unlisted: 0.",
    )


class Levers(Strict):
    """Policy levers. Each value is a plain value or a schedule of ``{from: YYYY-MM, value: ...}`` steps."""

    visa_odds: dict[str, dict[str, Scheduled(Probability)]] = Field(
        default_factory=dict,
        description="Destination region -> origin (or 'default') -> probability a visa is granted for a move "
        "there (H-1B selection rates: EVIDENCE B4). Unlisted: 1. Natives need no visa.",
    )
    climate: dict[str, dict[str, Scheduled(NonNegative)]] = Field(
        default_factory=dict,
        description="Destination region -> origin (or 'default') -> utility cost of a hostile climate there.",
    )
    permanent_residence_years: dict[str, Scheduled(NonNegative)] = Field(
        default_factory=dict,
        description="Years in a region after which a non-native has permanent status (no visa friction). Unlisted: never.",
    )
    exit_restriction: ExitRestriction = Field(default_factory=ExitRestriction)
    state_funding_usd_m_per_year: StateFunding = Field(default_factory=StateFunding)
    return_programme: dict[str, dict[str, Scheduled(ReturnProgramme)]] = Field(
        default_factory=dict, description="Region -> programme name -> return programme for that region's expatriates. "
        "A scenario adds a programme under a new name and replaces one by reusing its name.",
    )
    signing_bonus: dict[str, dict[str, Scheduled(BonusPolicy)]] = Field(
        default_factory=dict, description="Employer -> policy name -> signing-bonus policy. Several policies can stand "
        "together; a scenario adds a policy under a new name and replaces one by reusing its name. Unlisted employers "
        "offer none.",
    )
    talent_visa_odds: dict[str, dict[str, Scheduled(Probability)]] = Field(
        default_factory=dict,
        description="Destination region -> origin (or 'default') -> probability that a targeted offer (signing bonus) "
        "crosses the border on a talent-visa route (the US O-1/EB-1 kind), outside the general lottery. Unlisted: 1.",
    )
    research_funding_index: dict[str, Scheduled(Positive)] = Field(
        default_factory=dict,
        description="Public research funding by region as an index (start = 1); state-backed employers' own budgets "
        "follow it. Unlisted: 1.",
    )
    compute_access: dict[str, Scheduled(NonNegative)] = Field(
        default_factory=dict, description="Multiplier on compute per researcher by region (export controls). Unlisted: 1."
    )
    investment_index: dict[str, Scheduled(Positive)] = Field(
        default_factory=dict,
        description="Multiplier on private employers' funding per researcher by region (EVIDENCE B3). Unlisted: 1.",
    )
    pipeline: Pipeline = Field(default_factory=Pipeline)

    @field_validator("signing_bonus", "return_programme", mode="before")
    @classmethod
    def _policies_are_named(cls, value: Any, info: ValidationInfo) -> Any:
        policy = BonusPolicy if info.field_name == "signing_bonus" else ReturnProgramme
        if isinstance(value, dict):
            for owner, policies in value.items():
                flat = isinstance(policies, list) or (
                    isinstance(policies, dict) and any(k in policy.model_fields for k in policies)
                )
                if flat:
                    raise FieldProblem(
                        (owner,),
                        "policies are named: write "
                        f"'{owner}: {{standard: {{{next(iter(policy.model_fields))}: ...}}}}'; a scenario adds a "
                        "policy under a new name and replaces one by reusing its name",
                    )
        return value


class Scenario(Strict):
    """A complete, validated scenario."""

    name: str = Field(description="Short name, used in file names and figure titles.")
    description: str = Field("", description="Which question the scenario answers.")
    extends: str | None = Field(None, description="Scenario file this one builds on (path relative to this file).")
    run: RunSettings
    regions: dict[str, Region] = Field(description="Regions by id (also the origins).")
    population: Population
    preferences: PreferenceSettings
    search: SearchSettings = Field(default_factory=SearchSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    employers: dict[str, Employer] = Field(description="Employers by id.")
    levers: Levers = Field(default_factory=Levers)

    @property
    def region_ids(self) -> list[str]:
        """Return region ids in declaration order."""
        return list(self.regions)

    @property
    def employer_ids(self) -> list[str]:
        """Return employer ids in declaration order."""
        return list(self.employers)

    def with_run(self, **changes: Any) -> Scenario:
        """Return a copy with run settings changed (validated), e.g. ``with_run(seed=3, researchers=5000)``."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        data = self.model_dump(by_alias=True)
        data["run"].update(changes)
        return scenario_from_dict(data, source=f"run options given for scenario '{self.name}'")

    def with_levers(self, changes: Mapping[str, Any] | None = None, /, **levers: Any) -> Scenario:
        """Return a copy with levers changed, merged and validated exactly as a file that ``extends:`` this one.

        Give levers as keywords in the shape of the file's ``levers:`` section, or as a mapping whose keys may be
        dotted key paths below ``levers``; a schedule whose first step has a ``from`` month keeps this scenario's
        steps before it::

            scenario.with_levers(visa_odds={"US": {"default": [{"from": "2025-04", "value": 0.9}]}})
            scenario.with_levers({"state_funding_usd_m_per_year.region.China": 12000})

        Raises:
            ScenarioError: a lever or value the scenario does not allow, named by its key path under ``levers``.
        """
        layer: dict[str, Any] = {}
        for key, value in [*(changes or {}).items(), *levers.items()]:
            parts = [p for p in str(key).split(".") if p]
            if parts[:1] == ["levers"]:
                parts = parts[1:]
            if not parts:
                raise ScenarioError([Problem(f"levers given for scenario '{self.name}'", str(key),
                                             "name a lever, e.g. visa_odds.US.default")])
            node = layer
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ScenarioError([Problem(f"levers given for scenario '{self.name}'", str(key),
                                                 f"'{part}' is given a value and also keys below it")])
            node[parts[-1]] = merge(node[parts[-1]], value) if parts[-1] in node else value
        if not layer:
            return self
        data = merge(self.to_dict(), {"levers": layer})
        return scenario_from_dict(data, source=f"levers given for scenario '{self.name}'")

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved scenario as plain data (dates as YYYY-MM), loadable by ``scenario_from_dict``."""
        return _months_to_text(self.model_dump(mode="json", by_alias=True))


def _months_to_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _months_to_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_months_to_text(v) for v in node]
    if isinstance(node, str) and len(node) == 10 and node[4] == "-" and node[7] == "-" and node.endswith("-01"):
        try:
            dt.date.fromisoformat(node)
        except ValueError:
            return node
        return node[:7]
    return node


# --------------------------------------------------------------------------------------------------------------
# Loading


def load_scenario(path: str | Path) -> Scenario:
    """Return the validated scenario in ``path``, with what it ``extends:`` merged in.

    Raises:
        ScenarioError: listing every problem, each naming the file, key path, value and what is allowed.
    """
    data, provenance = _read_with_extends(Path(path), ())
    data.pop("extends", None)  # resolved: the result stands on its own
    return _validate(data, provenance, str(path))


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Return the validated scenario described by ``data`` (no ``extends:`` resolution)."""
    data = dict(data)
    data.pop("extends", None)
    return _validate(data, {(): (source, ())}, source)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is written twice in one mapping (first on line {seen[key].line + 1}); "
                    "keep one", key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError([Problem(str(path), "", "file not found; check the path (scenarios live in scenarios/)")])
    if path.is_dir():
        raise ScenarioError([Problem(str(path), "", "is a folder, not a scenario file; give the path of a .yaml file")])
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem(str(path), where, f"not valid YAML: {what}")]) from None
    except UnicodeDecodeError:
        raise ScenarioError([Problem(str(path), "", "not a text file (UTF-8 YAML expected)")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(str(path), "", f"cannot be read: {exc.strerror or exc}")]) from None
    if data is None:
        raise ScenarioError([Problem(str(path), "", "file is empty; a scenario needs at least name, run, regions, ...")])
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise ScenarioError(
            [Problem(str(path), "", f"must be a mapping of keys (name:, run:, regions:, ...), not a {kind}", data, True)]
        )
    return data


Provenance = dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]]
"""Where each value of a merged scenario was written: merged key path -> (file, key path in that file)."""


def _read_with_extends(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], Provenance]:
    """Return the data of ``path`` with what it ``extends:`` merged in, and where each value was written."""
    data = _read_yaml(path)
    provenance: Provenance = {}
    parent_ref = data.get("extends")
    if parent_ref is None:
        _record(data, (), (), str(path), provenance)
        return data, provenance
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError([Problem(
            str(path), "extends", "must be the path of a scenario file, relative to this file's folder", parent_ref, True
        )])
    parent_path = Path(os.path.normpath(path.parent / parent_ref))
    cycle = [*chain, path]
    if any(parent_path.resolve() == p.resolve() for p in cycle):
        names = " -> ".join(str(p) for p in (*cycle, parent_path))
        raise ScenarioError([Problem(
            str(path), "extends", f"circular extends ({names}); a scenario cannot build on itself", parent_ref, True
        )])
    if not parent_path.is_file():
        what = "is a folder, not a scenario file" if parent_path.is_dir() else "does not exist"
        raise ScenarioError([Problem(
            str(path), "extends", f"{parent_path} {what}; give the path of a scenario file, relative to this file's "
            "folder", parent_ref, True,
        )])
    parent, provenance = _read_with_extends(parent_path, tuple(cycle))
    return _merge(parent, data, False, (), _Trace(provenance, str(path))), provenance


def _record(node: Any, path: tuple[Any, ...], written: tuple[Any, ...], file: str, out: Provenance) -> None:
    out[path] = (file, written)
    if isinstance(node, dict):
        for key, value in node.items():
            _record(value, (*path, key), (*written, key), file, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _record(value, (*path, i), (*written, i), file, out)


@dataclass
class _Trace:
    """Keeps ``provenance`` true while ``file``'s values are merged over its parent's."""

    provenance: Provenance
    file: str

    def own(self, path: tuple[Any, ...]) -> None:
        self.provenance[path] = (self.file, path)

    def replace(self, path: tuple[Any, ...], value: Any) -> None:
        self._take(path)
        _record(value, path, path, self.file, self.provenance)

    def splice(self, path: tuple[Any, ...], parent_was_schedule: bool, kept: list[int], steps: list[Any]) -> None:
        """Record a schedule made of the parent's steps ``kept`` followed by this file's ``steps``."""
        old = self._take(path)
        self.provenance[path] = (self.file, path)
        for new, i in enumerate(kept):
            if parent_was_schedule:
                src = (*path, i)
                for key, where in old.items():
                    if key[: len(src)] == src:
                        self.provenance[(*path, new, *key[len(src):])] = where
            else:  # the parent's plain value became the first step
                for key, where in old.items():
                    self.provenance[(*path, new, "value", *key[len(path):])] = where
                if path in old:
                    self.provenance[(*path, new)] = old[path]
        for j, step in enumerate(steps):
            _record(step, (*path, len(kept) + j), (*path, j), self.file, self.provenance)

    def _take(self, prefix: tuple[Any, ...]) -> Provenance:
        taken = {k: v for k, v in self.provenance.items() if k[: len(prefix)] == prefix}
        for key in taken:
            del self.provenance[key]
        return taken


def merge(parent: Any, child: Any, in_levers: bool = False) -> Any:
    """Return ``child`` laid over ``parent``.

    Mappings merge key by key. Under ``levers``, a schedule in the child keeps the parent's steps before
    the child's first ``from`` month, so a scenario can change a lever "from 2025 on" and nothing else.
    Everything else in the child replaces the parent's value.
    """
    return _merge(parent, child, in_levers, (), None)


def _merge(parent: Any, child: Any, in_levers: bool, path: tuple[Any, ...], trace: _Trace | None) -> Any:
    if isinstance(parent, dict) and isinstance(child, dict):
        if trace:
            trace.own(path)
        out = dict(parent)
        for key, value in child.items():
            if key in parent:
                out[key] = _merge(parent[key], value, in_levers or key == "levers", (*path, key), trace)
            else:
                out[key] = value
                if trace:
                    trace.replace((*path, key), value)
        return out
    if in_levers and isinstance(child, list) and child and isinstance(child[0], dict) and child[0].get("from"):
        first = _month_or_none(child[0].get("from"))
        if first is not None:
            steps = parent if isinstance(parent, list) else [{"from": None, "value": parent}]
            kept = [i for i, s in enumerate(steps) if isinstance(s, dict) and _before(s.get("from"), first)]
            if trace:
                trace.splice(path, isinstance(parent, list), kept, child)
            return [steps[i] for i in kept] + child
    if trace:
        trace.replace(path, child)
    return child


def _month_or_none(value: Any) -> dt.date | None:
    try:
        return _parse_month(value)
    except ValueError:
        return None


def _before(value: Any, month: dt.date) -> bool:
    if value is None:
        return True
    parsed = _month_or_none(value)
    return parsed is not None and parsed < month


# --------------------------------------------------------------------------------------------------------------
# Validation


def _validate(data: dict[str, Any], provenance: Provenance, fallback_file: str) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = _problems_from_pydantic(exc, data, provenance, fallback_file)
        raise ScenarioError(problems, checks_pending=True) from None
    problems = []
    for path, message, value, has_value in check_references(scenario):
        key_path, _, _, _ = _user_path(path, data)  # a plain lever value has no step index in the file
        file, where = _locate(key_path, provenance, fallback_file)
        problems.append(Problem(file, _format_path(where), message, value, has_value))
    if problems:
        raise ScenarioError(problems)
    return scenario


def _locate(path: tuple[Any, ...], provenance: Provenance, fallback: str) -> tuple[str, tuple[Any, ...]]:
    """Return the file that wrote the value at ``path`` of the merged scenario, and its key path there."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in provenance:
            file, written = provenance[path[:cut]]
            return file, (*written, *path[cut:])
    return fallback, path


def _format_path(path: tuple[Any, ...]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _user_path(loc: tuple[Any, ...], data: Any) -> tuple[tuple[Any, ...], tuple[Any, ...], Any, bool]:
    """Map a pydantic location to the key path as written, with the schema location and the value found there.

    Pydantic reports a plain lever value as step 0 of a schedule (``..., 0, 'value'``), and may name
    validator or union branches in a location; neither is in the YAML, so both are dropped from the key path.
    Returns (key path, schema location, value, whether the value exists).
    """
    path: list[Any] = []
    schema_loc: list[Any] = []
    node: Any = data
    found = True
    plain_value = False
    for key in loc:
        present = found and (
            (isinstance(node, dict) and _hashable(key) and key in node)
            or (isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node))
        )
        if not present and _is_branch_name(key):
            continue
        schema_loc.append(key)
        if plain_value and key == "value":
            plain_value = False
            continue
        plain_value = False
        if found and not present and key == 0 and not isinstance(key, bool) and not isinstance(node, list):
            plain_value = True
            continue
        path.append(key)
        if present:
            node = node[key]
        else:
            found = False
    return tuple(path), tuple(schema_loc), node if found else None, found


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _is_branch_name(key: Any) -> bool:
    return isinstance(key, str) and (key.endswith("]") and "[" in key or key.startswith("function-"))


def _problems_from_pydantic(
    exc: ValidationError, data: dict[str, Any], provenance: Provenance, fallback_file: str
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str, str]] = set()
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        ctx = error.get("ctx") or {}
        cause = ctx.get("error")
        message = None
        if isinstance(cause, FieldProblem):
            loc, message = (*loc, *cause.key), cause.message
        bad_name = bool(loc) and loc[-1] == "[key]"
        path, schema_loc, value, found = _user_path(loc[:-1] if bad_name else loc, data)
        if bad_name:  # a name (mapping key) that is not text: report it on the mapping that holds it
            value, found, path = error["input"], True, path[:-1]
            message = ("names here must be text; put this one in quotes (YAML reads yes/no/on/off as true/false "
                       "and bare numbers as numbers)")
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(schema_loc[:-1])
            message = _unknown("key", path[-1], allowed) if allowed else "unknown key"
            value, found = path[-1], True
        elif kind == "missing":
            declared = _declared(schema_loc)
            about = declared[2] if declared and declared[2] else ""
            message = "required key is missing" + (f" ({_first_sentence(about)})" if about else "")
            file, where = _locate(path[:-1], provenance, fallback_file)
            problem = Problem(file, _format_path((*where, path[-1])), message)
            _add(problems, seen, problem)
            continue
        elif message is None:
            message = _allowed_message(kind, ctx, _declared(schema_loc), error["msg"], value)
        file, where = _locate(path, provenance, fallback_file)
        _add(problems, seen, Problem(file, _format_path(where), message, value, found))
    return problems


def _add(problems: list[Problem], seen: set[tuple[str, str, str]], problem: Problem) -> None:
    key = (problem.file, problem.path, problem.message)
    if key not in seen:
        seen.add(key)
        problems.append(problem)


def _first_sentence(text: str) -> str:
    text = text.strip()
    end = text.find(". ")
    text = (text if end < 0 else text[:end]).rstrip(".")
    return text[:1].lower() + text[1:]


def _allowed_message(
    kind: str, ctx: Mapping[str, Any], declared: tuple[Any, list[Any], str | None] | None, msg: str, value: Any
) -> str:
    """Return what is allowed where pydantic reported an error of type ``kind``, in the reader's terms."""
    tp, meta, _ = declared if declared else (None, [], None)
    bounds = _range_text(meta)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        if bounds is None:
            bounds = _range_text([_BOUND_TYPES[kind](next(iter(ctx.values())))]) if ctx else None
        return f"must be {bounds}" if bounds else str(msg)
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float", "finite_number"):
        what = "a whole number" if kind.startswith("int") or tp is int else "a number"
        if kind == "finite_number":
            what = "a finite number"
        return f"must be {what}" + (f" ({bounds})" if bounds else "")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"must be a section with the keys {', '.join(_keys_of(tp))}"
        return "must be a mapping of names to values (name: value, ...)"
    if kind == "literal_error":
        options = [str(a) for a in typing.get_args(tp)] if typing.get_origin(tp) is Literal else []
        hint = _close(value, options) if isinstance(value, str) else ""
        return f"must be one of {ctx.get('expected')}{hint}"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("string_type", "string_sub_type"):
        return "must be text"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "value_error" and ctx.get("error") is not None:
        return str(ctx["error"])
    return str(msg)


_BOUND_TYPES = {
    "greater_than_equal": annotated_types.Ge,
    "greater_than": annotated_types.Gt,
    "less_than_equal": annotated_types.Le,
    "less_than": annotated_types.Lt,
}


def _range_text(meta: list[Any]) -> str | None:
    """Return the allowed range declared by ``meta`` in words ("between 0 and 1", "0 or more"), or None."""
    low = high = None
    low_open = high_open = False
    for m in meta:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low, low_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high, high_open = m.lt, True

    def num(x: Any) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        if not low_open and not high_open:
            return f"between {num(low)} and {num(high)}"
        return (f"{'greater than' if low_open else 'at least'} {num(low)} and "
                f"{'less than' if high_open else 'at most'} {num(high)}")
    if low is not None:
        if low_open:
            return f"greater than {num(low)}"
        return f"{num(low)} or more" if low == 0 else f"at least {num(low)}"
    if high is not None:
        return f"less than {num(high)}" if high_open else f"at most {num(high)}"
    return None


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Return ``tp`` without ``Annotated`` and ``Optional`` wrappers, and the constraints they carried."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extra = typing.get_args(tp)
            for m in extra:
                meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, meta
            tp = args[0]
        else:
            return tp, meta


def _declared(loc: tuple[Any, ...]) -> tuple[Any, list[Any], str | None] | None:
    """Return (type, constraints, description) the schema declares at a pydantic location, or None."""
    tp: Any = Scenario
    meta: list[Any] = []
    description: str | None = None
    for key in loc:
        base, _ = _unwrap(tp)
        if isinstance(base, type) and issubclass(base, BaseModel):
            field = next((f for name, f in base.model_fields.items() if key in (name, f.alias)), None)
            if field is None:
                return None
            tp, meta, description = field.annotation, list(field.metadata), field.description
        elif typing.get_origin(base) is dict:
            tp, meta = typing.get_args(base)[1], []
        elif typing.get_origin(base) is list and isinstance(key, int):
            tp, meta = typing.get_args(base)[0], []
        else:
            return None
    base, inner = _unwrap(tp)
    return base, [*meta, *inner], description


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Return the keys the section at pydantic location ``loc`` accepts."""
    declared = _declared(loc)
    if declared and isinstance(declared[0], type) and issubclass(declared[0], BaseModel):
        return _keys_of(declared[0])
    return []


def _bad_number(tp: Any, value: Any, path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """Return (where, what is wrong) if ``value`` has true/false, infinity or NaN where ``tp`` wants a number."""
    base, _ = _unwrap(tp)
    if base in (int, float):
        if isinstance(value, bool):
            return path, "must be a number, not true/false"
        if isinstance(value, float) and not math.isfinite(value):
            return path, "must be a finite number"
        return None
    if typing.get_origin(base) is dict and isinstance(value, dict):
        for key, item in value.items():
            found = _bad_number(typing.get_args(base)[1], item, (*path, key))
            if found:
                return found
    return None


def _unknown(what: str, name: Any, options: list[str], extra: str = "") -> str:
    """Return "unknown WHAT; did you mean 'X'? Allowed: ..." for a name that is not among ``options``."""
    if not options:
        return f"unknown {what}; none is defined"
    close = difflib.get_close_matches(str(name), options, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return f"unknown {what}{hint} Allowed: {', '.join(options)}{extra}"


def _close(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_references(scenario: Scenario) -> Iterator[tuple[tuple[Any, ...], str, Any, bool]]:
    """Yield (key path, message, value, has_value) for each cross-field problem.

    These protect the model from names that point nowhere, shares that do not add up and schedules whose
    steps are out of time order.
    """
    regions = scenario.region_ids
    employers = scenario.employer_ids

    def region_keys(mapping: Mapping[str, Any], path: tuple[Any, ...], allow_default: bool = False):
        for key in mapping:
            if key in regions or (allow_default and key == DEFAULT_KEY):
                continue
            extra = " (or 'default' for every other origin)" if allow_default else ""
            yield (*path, key), _unknown("region", key, regions, extra), key, True

    def employer_keys(mapping: Mapping[str, Any], path: tuple[Any, ...]):
        for key in mapping:
            if key not in employers:
                yield (*path, key), _unknown("employer", key, employers), key, True

    def shares(mapping: Mapping[str, float], path: tuple[Any, ...]):
        yield from region_keys(mapping, path)
        total = sum(mapping.values())
        if not math.isclose(total, 1.0, abs_tol=SHARE_TOLERANCE):
            yield path, (
                f"shares must add up to 1 (within {SHARE_TOLERANCE}); these add up to {total:.4g}"
            ), dict(mapping), True

    if not regions:
        yield ("regions",), "at least one region is required", None, False
    for emp_id, employer in scenario.employers.items():
        if employer.region not in regions:
            yield ("employers", emp_id, "region"), _unknown("region", employer.region, regions), employer.region, True
    for region in regions:
        if not any(e.region == region for e in scenario.employers.values()):
            yield ("employers",), f"region '{region}' has no employer; add at least one", None, False

    pop = scenario.population
    if pop.elite_quantile <= pop.top_tier_quantile:
        yield ("population", "elite_quantile"), (
            f"must be greater than top_tier_quantile ({pop.top_tier_quantile:g})"
        ), pop.elite_quantile, True
    if pop.frontier_quantile <= pop.elite_quantile:
        yield ("population", "frontier_quantile"), (
            f"must be greater than elite_quantile ({pop.elite_quantile:g})"
        ), pop.frontier_quantile, True
    yield from region_keys(pop.quality_by_origin, ("population", "quality_by_origin"))
    yield from shares(pop.origin_shares, ("population", "origin_shares"))
    for table in ("initial_location", "training_location"):
        rows = getattr(pop, table)
        yield from region_keys(rows, ("population", table))
        for origin, row in rows.items():
            yield from shares(row, ("population", table, origin))
        for origin, share in pop.origin_shares.items():
            if share > 0 and origin in regions and origin not in rows:
                yield ("population", table), f"no row for origin '{origin}'; give its shares by region", None, False

    yield from region_keys(scenario.preferences.by_origin, ("preferences", "by_origin"))

    levers = scenario.levers
    for name in ("visa_odds", "climate", "talent_visa_odds"):
        table = getattr(levers, name)
        yield from region_keys(table, ("levers", name))
        for dest, row in table.items():
            yield from region_keys(row, ("levers", name, dest), allow_default=True)
    for name in ("permanent_residence_years", "compute_access", "investment_index", "research_funding_index",
                 "return_programme"):
        yield from region_keys(getattr(levers, name), ("levers", name))
    for name in ("exit_restriction", "state_funding_usd_m_per_year"):
        lever = getattr(levers, name)
        yield from region_keys(lever.region, ("levers", name, "region"))
        yield from employer_keys(lever.employer, ("levers", name, "employer"))
    yield from employer_keys(levers.signing_bonus, ("levers", "signing_bonus"))
    yield from region_keys(levers.pipeline.quality_shift, ("levers", "pipeline", "quality_shift"))
    if levers.pipeline.origin_mix is not None:
        for i, step in enumerate(levers.pipeline.origin_mix):
            yield from shares(step.value, ("levers", "pipeline", "origin_mix", i, "value"))

    for path, schedule in _schedules(levers, ("levers",)):
        yield from _check_schedule(schedule, path)


def _schedules(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], list[Step[Any]]]]:
    if isinstance(node, list) and node and isinstance(node[0], Step):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _schedules(getattr(node, name), (*path, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _schedules(value, (*path, key))


def _check_schedule(schedule: list[Step[Any]], path: tuple[Any, ...]):
    previous: dt.date | None = None
    for i, step in enumerate(schedule):
        if step.start is None:
            if i > 0:
                yield (*path, i, "from"), "required key is missing; only the first step may leave out 'from'", None, False
            continue
        if previous is not None and step.start <= previous:
            yield (*path, i, "from"), (
                f"steps must be in time order: each 'from' after the one before ({previous:%Y-%m})"
            ), f"{step.start:%Y-%m}", True
        previous = step.start


# --------------------------------------------------------------------------------------------------------------
# The scenario reference, generated from the declarations above


def reference_markdown() -> str:
    """Return the scenario reference (every key, its type, range, default and description) as Markdown."""
    import typing

    import annotated_types

    def constraints(meta: list[Any]) -> str:
        parts = []
        for m in meta:
            for cls, symbol, attr in (
                (annotated_types.Ge, ">=", "ge"), (annotated_types.Gt, ">", "gt"),
                (annotated_types.Le, "<=", "le"), (annotated_types.Lt, "<", "lt"),
            ):
                if isinstance(m, cls):
                    bound = getattr(m, attr)
                    parts.append(f"{symbol} {int(bound):,}" if float(bound).is_integer() else f"{symbol} {bound:g}")
            if hasattr(m, "metadata"):
                parts.extend(filter(None, [constraints(list(m.metadata))]))
        return ", ".join(parts)

    def describe(tp: Any, meta: list[Any] = ()) -> str:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            base, *inner = typing.get_args(tp)
            if any(getattr(m, "func", None) is _as_schedule for m in inner):
                value = typing.get_args(base)[0].model_fields["value"]
                return f"{describe(value.annotation, list(value.metadata))}; or a schedule of {{from: YYYY-MM, value}} steps"
            return describe(base, [*meta, *inner])
        text_constraints = constraints(list(meta))
        suffix = f" ({text_constraints})" if text_constraints else ""
        if origin in (typing.Union, __import__("types").UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            text = " or ".join(describe(a) for a in args)
            return text + (", optional" if len(args) < len(typing.get_args(tp)) else "") + suffix
        if origin is dict:
            _, value = typing.get_args(tp)
            return f"mapping of id -> {describe(value)}{suffix}"
        if origin is list:
            (item,) = typing.get_args(tp)
            return f"list of {describe(item)}{suffix}"
        if origin is Literal:
            return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"section `{tp.__name__}`"
        names = {float: "number", int: "whole number", str: "text", bool: "true or false", dt.date: "month YYYY-MM"}
        return names.get(tp, getattr(tp, "__name__", str(tp))) + suffix

    def sections(model: type[BaseModel], seen: list[type[BaseModel]]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for nested in _models_in(field.annotation):
                sections(nested, seen)

    ordered: list[type[BaseModel]] = []
    sections(Scenario, ordered)
    lines = [
        "# Scenario reference",
        "",
        "Generated by `talentsim schema` from the schema's own declarations; every key, its type and range,",
        "its default, and what it means. Unknown keys are errors. Lever values are a plain value or a",
        "schedule: a list of `{from: YYYY-MM, value: ...}` steps in time order.",
        "",
    ]
    for model in ordered:
        lines += [f"## `{model.__name__}`", "", (model.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            if field.is_required():
                default = "required"
            elif field.default_factory is not None:
                default = "empty" if field.default_factory in (dict, list) else "see section"
            else:
                default = "none" if field.default is None else f"`{field.default}`"
            kind = describe(field.annotation, list(field.metadata)).replace("|", "\\|")
            text = field.description or next(
                ((m.__doc__ or "").strip().splitlines()[0] for m in _models_in(field.annotation)), ""
            )
            lines.append(f"| `{key}` | {kind} | {default} | {text.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def _models_in(tp: Any) -> Iterator[type[BaseModel]]:
    import typing

    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp.__pydantic_generic_metadata__["origin"] is Step:
            yield from _models_in(tp.model_fields["value"].annotation)
        else:
            yield tp
        return
    for arg in typing.get_args(tp):
        yield from _models_in(arg)
