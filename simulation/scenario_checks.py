"""Cross-field checks of a scenario, named after what they protect: names that point nowhere, shares that do not
add up, quantiles out of order and lever schedules out of time order."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .inputs import check_schedule, schedules, unknown
from .scenario_world import DEFAULT_KEY, SHARE_TOLERANCE

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .scenario import Scenario

__all__ = ["check_references"]


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
            yield (*path, key), unknown("region", key, regions, extra), key, True

    def employer_keys(mapping: Mapping[str, Any], path: tuple[Any, ...]):
        for key in mapping:
            if key not in employers:
                yield (*path, key), unknown("employer", key, employers), key, True

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
            yield ("employers", emp_id, "region"), unknown("region", employer.region, regions), employer.region, True
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

    for path, schedule in schedules(levers, ("levers",)):
        yield from check_schedule(schedule, path)


