"""Entry and exit: new PhD graduates join research; researchers leave it (by career age and without a post).

Graduates enter at ``pipeline.entry_rate_per_year`` times the (weighted) researchers staying, with the origin mix
the pipeline lever sets, in the region where they trained (``population.training_location``), without a post.
Researchers leave research with a yearly hazard: a background one, a higher one past retirement age, and a higher
one still while without a research post.
"""

from __future__ import annotations

import numpy as np

from .market import stochastic_round
from .population import draw_graduates

__all__ = ["enter_and_exit"]


def enter_and_exit(model) -> np.ndarray:
    """Remove the researchers who leave research and add new graduates; return exits by employer (weighted)."""
    pop = model.population
    exits = model.config.population.exits
    years = model.years_per_step
    # The chance of leaving within a step, for each yearly hazard that can apply, looked up by whether the
    # researcher is past retirement age (+1) and without a post (+2).
    working, retired, unplaced = 1.0 - (1.0 - np.array([
        exits.hazard_per_year, exits.retirement_hazard_per_year, exits.unplaced_hazard_per_year,
    ])) ** years  # fmt: skip
    chance = np.array([working, retired, max(working, unplaced), max(retired, unplaced)])
    case = (pop.career_age >= exits.retirement_career_age_years).astype(np.int8)
    case += 2 * (pop.employer < 0).astype(np.int8)
    leaving = model.streams["exit"].random(len(pop)) < chance[case]
    leavers = np.flatnonzero(leaving)
    weight = pop.weight[leavers]
    exit_code = np.full(len(weight), model.n_regions)
    model.recorder.flows_at(model.step_count, pop.region[leavers], exit_code, pop.origin[leavers], weight)
    employer = pop.employer[leavers]
    placed = employer >= 0
    by_employer = np.bincount(employer[placed], weights=weight[placed], minlength=len(model.employers))
    staying = float(pop.weight.sum() - weight.sum())

    rng = model.streams["entry"]
    levers = model.levers
    n = stochastic_round(levers.entry_rate * staying * years, rng)
    graduates = None
    if n > 0:
        graduates = draw_graduates(
            model.config, n, levers.origin_mix, levers.quality_shift, model.month.year, model.next_id, rng
        )
        model.next_id += n
        entry_code = np.full(n, model.n_regions)
        model.recorder.flows_at(model.step_count, entry_code, graduates.region, graduates.origin, graduates.weight)
    pop.replace(~leaving, graduates)
    return by_employer
