"""The world a scenario describes: run settings, regions, researchers and their preferences, search, the market
and employers, as frozen pydantic models with a unit, range and meaning on every field.

The levers that act on this world are in :mod:`.scenario_levers`; the scenario that holds both, and loading it,
in :mod:`.scenario`. Origins are regions: a researcher's origin is the region of their undergraduate degree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .inputs import FieldProblem, Month, NonNegative, Positive, Probability, Strict

__all__ = [
    "DEFAULT_KEY", "MAX_BONUS_USD", "MAX_PAY_USD", "MAX_USD_M", "MAX_UTILITY", "MAX_YEARS", "SEED_MAX",
    "SHARE_TOLERANCE", "STATE_BACKED_KINDS", "Distribution", "Employer", "ExitSettings", "ImpactWeights", "Kind",
    "MarketSettings", "Population", "PreferenceSettings", "Preferences", "PreferencesOverride",
    "QualityDistribution", "Region", "RunSettings", "SearchSettings", "Strategy", "TailSampling", "UsdMillions",
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

