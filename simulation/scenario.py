"""Scenario files: the schema, its cross-field checks, and loading with ``extends:`` inheritance.

A scenario is read by the project's one bounded YAML reader (:mod:`simulation.inputs`), merged with the file it
``extends:``, and validated once into frozen pydantic models. Every problem found is reported together, each
naming the file that wrote the value, the key path, the value and what is allowed; the model then trusts what
it is given.

Origins are regions: a researcher's origin is the region of their undergraduate degree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .inputs import (FieldProblem, InputError, Month, NonNegative, Positive, Probability, Problem, Scheduled, Step,
                     Strict, check_validation, format_path, merge, read_mapping, read_with_extends,
                     value_at)
from .inputs.reader import Provenance, locate

__all__ = [
    "FieldProblem",
    "Month",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Step",
    "load_scenario",
    "merge",
    "scenario_from_dict",
    "value_at",
]

SHARE_TOLERANCE = 0.01
DEFAULT_KEY = "default"
SEED_MAX = 2**63 - 1
# Upper bounds no real scenario reaches, far below what would overflow a run's arithmetic.
MAX_UTILITY = 100.0  # a weight or cost in utility units (a choice rule saturates well below)
MAX_YEARS = 100.0
MAX_PAY_USD = 1e9  # pay per year
MAX_BONUS_USD = 1e10  # one bonus or package
MAX_USD_M = 1e6  # a budget in USD million per year: a trillion dollars
UsdMillions = Annotated[float, Field(ge=0.0, le=MAX_USD_M)]


class ScenarioError(InputError):
    """A scenario file that cannot be used; ``problems`` lists every problem found."""

    what = "scenario"

# --------------------------------------------------------------------------------------------------------------
# Schema


class RunSettings(Strict):
    """When the run starts and ends, how long a step is, and how many researchers are simulated."""

    start: Month = Field(description="First month simulated (YYYY-MM); the initial state describes this month.")
    end: Month = Field(description="Month the run ends (YYYY-MM), exclusive.")
    step_months: int = Field(3, ge=1, le=12, description="Length of one step in months (3 = quarterly).")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="Root seed; replicate seeds are derived from it.")
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
        le=MAX_PAY_USD,
        description="Pay (USD/year) of a researcher in the region without a research post (postdoc, between jobs)."
    )
    unplaced_impact: float = Field(0.0, ge=-MAX_UTILITY, le=MAX_UTILITY, description="Research-impact index of having no research post.")
    visa_friction: NonNegative = Field(
        0.0, le=MAX_UTILITY, description="Utility cost of working in the region on a temporary visa (non-natives without permanent status)."
    )


class Distribution(Strict):
    """A normal distribution of a preference weight across researchers."""

    mean: float = Field(ge=-MAX_UTILITY, le=MAX_UTILITY, description="Mean weight.")
    sd: NonNegative = Field(0.0, le=MAX_UTILITY, description="Standard deviation across researchers.")


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

    compute: NonNegative = Field(0.4, le=MAX_UTILITY, description="Weight on ln(compute per researcher x regional compute access).")
    funding: NonNegative = Field(0.3, le=MAX_UTILITY, description="Weight on ln(funding per researcher / USD 100k).")
    peers: NonNegative = Field(0.3, le=MAX_UTILITY, description="Weight on ln(mean staff quality / population median quality).")


class PreferenceSettings(Strict):
    """Preference distributions and the fixed costs of moving."""

    default: Preferences
    by_origin: dict[str, PreferencesOverride] = Field(
        default_factory=dict, description="Overrides by origin region."
    )
    move_cost_region: NonNegative = Field(le=MAX_UTILITY, description="Utility cost of moving to another region.")
    move_cost_employer: NonNegative = Field(le=MAX_UTILITY, description="Utility cost of changing employer within a region.")
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
    retirement_career_age_years: Positive = Field(35.0, le=MAX_YEARS, description="Career age (years since PhD) of retirement.")
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
        le=1e9,
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
    origin_shares: dict[str, Probability] = Field(
        description="Share of researchers by origin at the start; sums to 1 (MacroPolo 2020, EVIDENCE B1)."
    )
    initial_location: dict[str, dict[str, Probability]] = Field(
        description="For each origin, the share working in each region at the start; each row sums to 1 "
        "(MacroPolo 2020, EVIDENCE A1, A3, A4)."
    )
    training_location: dict[str, dict[str, Probability]] = Field(
        description="For each origin, the share of new PhD graduates trained in each region; each row sums to 1 "
        "(EVIDENCE B8, B9)."
    )
    career_age_mean_years: Positive = Field(10.0, le=MAX_YEARS, description="Mean career age (years since PhD) at the start.")
    exits: ExitSettings = Field(default_factory=ExitSettings)
    abroad_quality_gain_per_year: NonNegative = Field(
        0.01, le=1.0, description="Yearly quality gain from experience abroad."
    )
    abroad_quality_gain_years: NonNegative = Field(5.0, le=MAX_YEARS, description="Years abroad over which the gain accrues.")
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

    base_rate_per_year: NonNegative = Field(0.15, le=100.0, description="Yearly search rate of a satisfied researcher.")
    dissatisfaction: NonNegative = Field(1.0, le=MAX_UTILITY, description="Log-rate increase per utility unit of dissatisfaction.")
    offers_received: NonNegative = Field(1.5, le=MAX_UTILITY, description="Log-rate increase per unsolicited offer received.")
    career_age_per_year: NonNegative = Field(0.03, le=10.0, description="Log-rate decrease per year of career age.")
    tenure_per_year: NonNegative = Field(0.1, le=10.0, description="Log-rate decrease per year of tenure.")
    offers_per_search: int = Field(3, ge=1, le=20, description="Offers a search draws, from employers with vacancies.")
    local_weight: float = Field(
        1.0, ge=1.0, le=1e6, description="Vacancies in the searcher's own region weigh this many times more when offers "
        "are drawn (search is mostly local; 1 = no preference)."
    )
    matching_rounds: int = Field(2, ge=1, le=10, description="Rounds of matching; rejected acceptors try again.")


class MarketSettings(Strict):
    """Market-wide settings of pay and networks."""

    pay_quality_elasticity: NonNegative = Field(
        0.5, le=10.0, description="Pay rises as quality**elasticity (quality 1 = population median)."
    )
    bonus_amortisation_years: Positive = Field(4.0, le=MAX_YEARS, description="Years over which a signing bonus vests.")
    network_per: Positive = Field(1000.0, le=1e9, description="Co-nationals are counted per this many researchers.")
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
    max_pay_multiplier: float = Field(1.5, ge=1.0, le=1000.0, description="Upper bound on the pay multiplier (budget bound).")
    target_unfilled_share: Probability = Field(0.1, description="Unfilled share of positions it tolerates.")
    relax_per_step: NonNegative = Field(
        0.01, le=1.0, description="Pay relaxes toward the schedule by this share a step when neither happens (assumption)."
    )


class Employer(Strict):
    """An employer of researchers (a Mesa agent)."""

    name: str = Field(description="Name used in tables and figures.")
    region: str = Field(description="Region it is in.")
    kind: Kind = Field(description="Kind of employer.")
    weight: Positive = Field(le=1e9, description="Relative size within its region at the start.")
    selectivity: NonNegative = Field(0.0, le=10.0, description="At the start, staff are drawn with weight x quality**selectivity.")
    vacancy_share: NonNegative = Field(0.1, le=5.0, description="Open positions at the start, as a share of staff.")
    base_pay_usd: Positive = Field(le=MAX_PAY_USD, description="Pay (USD/year) for a researcher of median quality.")
    compute_per_researcher: Positive = Field(
        le=1e6,
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
        le=MAX_USD_M, description="Bonuses it pays per year (USD million): accepted offers spend it, refusals do not; it stops "
        "offering once the year's budget is committed."
    )
    bonus_usd: NonNegative = Field(le=MAX_BONUS_USD, description="Bonus offered to a researcher at the target threshold (USD).")
    max_usd: NonNegative = Field(le=MAX_BONUS_USD, description="Largest bonus it offers (USD).")
    target_quantile: Probability = Field(description="Quality quantile above which it targets researchers.")
    quality_elasticity: NonNegative = Field(1.0, le=10.0, description="Bonus rises as (quality / threshold)**elasticity.")

    @model_validator(mode="after")
    def _max_covers_bonus(self) -> BonusPolicy:  # noqa: D401
        if self.max_usd < self.bonus_usd:
            raise FieldProblem(("max_usd",), f"must be at least bonus_usd ({self.bonus_usd:,.0f})")
        return self


class ReturnProgramme(Strict):
    """A return-talent programme: packages offered to a region's expatriates."""

    bonus_usd: NonNegative = Field(le=MAX_BONUS_USD, description="Package value (USD), treated as a signing bonus (EVIDENCE B7).")
    slots_per_year: NonNegative = Field(
        le=1e6, description="Packages granted per year (real researchers): accepted packages use slots, refusals do not."
    )
    max_career_age_years: NonNegative = Field(12.0, le=MAX_YEARS, description="Eligible up to this career age (age limit).")
    min_years_abroad: NonNegative = Field(3.0, le=MAX_YEARS, description="Eligible after this many years abroad.")


class ExitRestriction(Strict):
    """Share of staff who may not leave their region; a researcher is bound by the larger of the two values."""

    region: dict[str, Scheduled(Probability)] = Field(default_factory=dict, description="Share by region.")
    employer: dict[str, Scheduled(Probability)] = Field(default_factory=dict, description="Share by employer.")


class StateFunding(Strict):
    """State funding (USD million/year): a region's is shared by its state-backed employers by headcount."""

    region: dict[str, Scheduled(UsdMillions)] = Field(default_factory=dict, description="Funding by region.")
    employer: dict[str, Scheduled(UsdMillions)] = Field(default_factory=dict, description="Funding by employer.")


class Pipeline(Strict):
    """New PhD graduates entering research."""

    entry_rate_per_year: Scheduled(Annotated[float, Field(ge=0.0, le=1.0)]) = Field(
        0.08, validate_default=True, description="Graduates entering per year, as a share of the current population."
    )
    origin_mix: Scheduled(dict[str, Probability]) | None = Field(
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
    climate: dict[str, dict[str, Scheduled(Annotated[float, Field(ge=0.0, le=MAX_UTILITY)])]] = Field(
        default_factory=dict,
        description="Destination region -> origin (or 'default') -> utility cost of a hostile climate there.",
    )
    permanent_residence_years: dict[str, Scheduled(Annotated[float, Field(ge=0.0, le=MAX_YEARS)])] = Field(
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
    research_funding_index: dict[str, Scheduled(Annotated[float, Field(gt=0.0, le=1e6)])] = Field(
        default_factory=dict,
        description="Public research funding by region as an index (start = 1); state-backed employers' own budgets "
        "follow it. Unlisted: 1.",
    )
    compute_access: dict[str, Scheduled(Annotated[float, Field(ge=0.0, le=1e6)])] = Field(
        default_factory=dict, description="Multiplier on compute per researcher by region (export controls). Unlisted: 1."
    )
    investment_index: dict[str, Scheduled(Annotated[float, Field(gt=0.0, le=1e6)])] = Field(
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


SCENARIO_FORM = "name:, run:, regions:, population:, preferences:, employers:"


def _read(path: Path) -> dict[str, Any]:
    return read_mapping(path, ScenarioError, "scenarios live in scenarios/", SCENARIO_FORM)


_read_yaml = _read  # the name other modules know the scenario reader by


def load_scenario(path: str | Path) -> Scenario:
    """Return the validated scenario in ``path``, with what it ``extends:`` merged in.

    Raises:
        ScenarioError: listing every problem, each naming the file, key path, value and what is allowed.
    """
    data, provenance = read_with_extends(Path(path), ScenarioError, _read)
    data.pop("extends", None)  # resolved: the result stands on its own
    return _validate(data, provenance, str(path))


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Return the validated scenario described by ``data`` (no ``extends:`` resolution)."""
    data = dict(data)
    data.pop("extends", None)
    return _validate(data, {(): (source, ())}, source)


def _validate(data: dict[str, Any], provenance: Provenance, fallback_file: str) -> Scenario:
    where = locate(provenance, fallback_file)
    scenario = check_validation(Scenario, data, fallback_file, ScenarioError, where, _unit_hint)
    from .scenario_checks import check_references

    problems = []
    for path, message, value, has_value in check_references(scenario):
        file, written = where(_written_path(path, data))
        problems.append(Problem(file, format_path(written), message, value, has_value))
    if problems:
        raise ScenarioError(problems)
    return scenario


def _written_path(path: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Return a validated scenario's key path as written: a plain lever value has no step index in the file."""
    out: list[Any] = []
    node = data
    skip_value = False
    for key in path:
        if skip_value and key == "value":
            skip_value = False
            continue
        if isinstance(key, int) and not isinstance(node, list):
            skip_value = True
            continue
        out.append(key)
        node = node.get(key) if isinstance(node, dict) else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None)
    return tuple(out)


_MILLIONS = ("usd_m_per_year",)


def _unit_hint(kind: str, path: tuple[Any, ...], value: Any) -> str | None:
    """Return a message for a number out of range that looks like a unit slip, else None."""
    if kind != "less_than_equal" or not isinstance(value, (int, float)):
        return None
    if any(str(key).endswith(_MILLIONS) for key in path) and value >= 1e6:
        return (f"is in USD million per year, at most {MAX_USD_M:,.0f}; {value:,.0f} reads as dollars "
                f"(write USD 500 million as 500)")
    return None
