"""Levers at a date: the values a scenario's schedules set for one month, as arrays for a step."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from .scenario import DEFAULT_KEY, BonusPolicy, ReturnProgramme, Scenario, value_at

__all__ = ["LeverState", "Policy", "levers_at"]


@dataclass(frozen=True)
class Policy:
    """One targeted-offer policy in force: a signing-bonus policy of an employer or a region's return programme."""

    index: int  # position in the scenario's flat list of policies (stable over the run)
    kind: str  # "bonus" or "return"
    owner: int  # employer index (bonus) or region index (return)
    name: str
    terms: BonusPolicy | ReturnProgramme


@dataclass
class LeverState:
    """Lever values in force this step, as arrays indexed by region, origin and employer."""

    visa_odds: np.ndarray  # destination x origin
    talent_visa_odds: np.ndarray  # destination x origin
    climate: np.ndarray  # destination x origin
    permanent_years: np.ndarray  # by region; inf where there is no permanent status
    bound_region: np.ndarray
    bound_employer: np.ndarray
    state_funding_region_usd: np.ndarray
    state_funding_employer_usd: np.ndarray
    policies: list[Policy]  # targeted-offer policies in force
    compute_access: np.ndarray
    investment: np.ndarray
    research_funding: np.ndarray
    entry_rate: float
    origin_mix: np.ndarray
    quality_shift: np.ndarray  # of new graduates' ln(quality), by training region

    @property
    def restricted(self) -> bool:
        """Return whether any exit restriction is in force."""
        return bool(self.bound_region.any() or self.bound_employer.any())


def policy_keys(scenario: Scenario) -> list[tuple[str, str, str]]:
    """Return every (kind, owner id, policy name) a scenario schedules, in a fixed order."""
    levers = scenario.levers
    keys = [("bonus", owner, name) for owner, named in levers.signing_bonus.items() for name in named]
    keys += [("return", owner, name) for owner, named in levers.return_programme.items() for name in named]
    return keys


def levers_at(scenario: Scenario, month: dt.date) -> LeverState:
    """Return the lever values in force at ``month``."""
    levers = scenario.levers
    regions = scenario.region_ids
    employers = scenario.employer_ids
    r = len(regions)

    def by_region(table, default):
        return np.array([value_at(table[k], month, default) if k in table else default for k in regions], dtype=float)

    def by_origin(table, default: float) -> np.ndarray:
        out = np.full((r, r), default)
        for d, dest in enumerate(regions):
            row = table.get(dest, {})
            fallback = value_at(row[DEFAULT_KEY], month, default) if DEFAULT_KEY in row else default
            for o, origin in enumerate(regions):
                out[d, o] = value_at(row[origin], month, fallback) if origin in row else fallback
        return out

    def by_employer(table, default):
        return np.array([value_at(table[k], month, default) if k in table else default for k in employers], dtype=float)

    policies = []
    for index, (kind, owner, name) in enumerate(policy_keys(scenario)):
        table = levers.signing_bonus if kind == "bonus" else levers.return_programme
        terms = value_at(table[owner][name], month)
        if terms is not None:
            owner_index = employers.index(owner) if kind == "bonus" else regions.index(owner)
            policies.append(Policy(index, kind, owner_index, name, terms))

    visa = by_origin(levers.visa_odds, 1.0)
    np.fill_diagonal(visa, 1.0)  # natives need no visa
    talent = by_origin(levers.talent_visa_odds, 1.0)
    np.fill_diagonal(talent, 1.0)
    pipeline = levers.pipeline
    mix = scenario.population.origin_shares
    if pipeline.origin_mix is not None:
        mix = value_at(pipeline.origin_mix, month, mix)
    origin_mix = np.array([mix.get(k, 0.0) for k in regions])
    return LeverState(
        visa_odds=visa,
        talent_visa_odds=talent,
        climate=by_origin(levers.climate, 0.0),
        permanent_years=by_region(levers.permanent_residence_years, math.inf),
        bound_region=by_region(levers.exit_restriction.region, 0.0),
        bound_employer=by_employer(levers.exit_restriction.employer, 0.0),
        state_funding_region_usd=by_region(levers.state_funding_usd_m_per_year.region, 0.0) * 1e6,
        state_funding_employer_usd=by_employer(levers.state_funding_usd_m_per_year.employer, 0.0) * 1e6,
        policies=policies,
        compute_access=by_region(levers.compute_access, 1.0),
        investment=by_region(levers.investment_index, 1.0),
        research_funding=by_region(levers.research_funding_index, 1.0),
        entry_rate=float(value_at(pipeline.entry_rate_per_year, month, 0.0)),
        origin_mix=origin_mix / origin_mix.sum(),
        quality_shift=by_region(pipeline.quality_shift, 0.0),
    )
