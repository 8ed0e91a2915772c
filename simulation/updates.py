"""Updates after matching: hired researchers move, everyone ages, bonuses vest, experience abroad builds quality,
and employers adapt their pay."""

from __future__ import annotations

import math

import numpy as np

from .choice import Offers

__all__ = ["update"]


def update(model, moves: Offers) -> tuple[np.ndarray, np.ndarray]:
    """Apply the step's moves and the passage of time; return weighted arrivals and departures by employer."""
    pop = model.population
    cfg = model.config
    n_employers = len(model.employers)
    i = moves.researcher
    w = pop.weight[i]
    old_employer = pop.employer[i]
    model.recorder.flows_at(model.step_count, pop.region[i], moves.region, pop.origin[i], w)
    left = old_employer >= 0
    departures = np.bincount(old_employer[left], weights=w[left], minlength=n_employers)
    arrivals = np.bincount(moves.employer, weights=w, minlength=n_employers)
    changed_region = moves.region != pop.region[i]
    pop.years_in_region[i[changed_region]] = 0.0
    pop.employer[i] = moves.employer
    pop.region[i] = moves.region
    pop.tenure[i] = 0.0
    amortisation = cfg.market.bonus_amortisation_years
    has_bonus = moves.bonus_usd > 0
    pop.bonus_per_year[i] = np.where(has_bonus, moves.bonus_usd / amortisation, 0.0)
    pop.bonus_years_left[i] = np.where(has_bonus, amortisation, 0.0)

    years = model.years_per_step
    pop.career_age += years
    pop.tenure += years
    pop.years_in_region += years
    pop.bonus_years_left -= years
    abroad = pop.region != pop.origin
    gaining = abroad & (pop.years_abroad < cfg.population.abroad_quality_gain_years)
    pop.quality[np.flatnonzero(gaining)] *= math.exp(cfg.population.abroad_quality_gain_per_year * years)
    pop.years_abroad += abroad * np.float32(years)  # a step for those abroad, 0 (exactly) for the others
    return arrivals, departures


def adapt_pay(employers, arrivals: np.ndarray, departures: np.ndarray, exits: np.ndarray) -> None:
    """Let each employer raise pay after losing staff or leaving posts unfilled, or relax it otherwise."""
    for employer in employers:
        employer.arrivals = float(arrivals[employer.index])
        employer.departures = float(departures[employer.index])
        employer.exits = float(exits[employer.index])
        employer.adapt()
