"""The policy levers of a scenario: visa odds, climate, permanent residence, exit restrictions, state funding,
return programmes, signing bonuses, talent visas, funding and compute indices, and the graduate pipeline.

Each value is a plain value or a schedule of ``{from: YYYY-MM, value: ...}`` steps. These are the schema's
declarations, validated once; :mod:`.levers` turns them into the arrays the model reads at each step.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .inputs import FieldProblem, NonNegative, Probability, Scheduled, Strict
from .scenario_world import MAX_BONUS_USD, MAX_USD_M, MAX_UTILITY, MAX_YEARS, UsdMillions

__all__ = ["BonusPolicy", "ExitRestriction", "Levers", "Pipeline", "ReturnProgramme", "StateFunding"]


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

