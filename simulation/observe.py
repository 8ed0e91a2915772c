"""Observation: what is recorded each step — counts by region, origin and tier; flows; employers; graduate cohorts.

Counts are weighted tallies (``bincount`` with the researchers' weights) in model researchers, into preallocated
arrays; ``results`` turns them into tidy tables. Researchers without a research post are counted under
``UNPLACED``, not in the region where they are.
Every column of every table is declared once in ``COLUMNS`` with its label and unit; tables, plots and
the scenario reference take their labels from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .market import OfferKind
from .population import Population

__all__ = ["COLUMNS", "EMPLOYER_FIELDS", "TIERS", "TIER_LABELS", "UNPLACED", "Column", "Recorder", "observe"]

TIERS = ("all", "top_tier", "elite", "frontier")  # inclusive: every frontier researcher is also elite and top-tier
TIER_LABELS = {"all": "all", "top_tier": "top-tier (top 20%)", "elite": "elite (top 1%)", "frontier": "frontier (top 0.1%)"}
UNPLACED = "unplaced"  # the region column's category for researchers without a research post
ENTRY = "entry"  # the from-region of graduates entering research
EXIT = "exit"  # the to-region of researchers leaving research


@dataclass(frozen=True)
class Column:
    """A declared output column."""

    label: str
    unit: str
    description: str


COLUMNS: dict[str, Column] = {
    "replicate": Column("Replicate", "", "Replicate number, from 0."),
    "seed": Column("Seed", "", "Seed of the replicate, derived from the run's root seed."),
    "step": Column("Step", "", "Step number; 0 is the initial state."),
    "date": Column("Date", "", "First day of the month the state describes."),
    "year": Column("Year", "year", "Date as a decimal year."),
    "region": Column("Region", "", "Region where researchers work."),
    "origin": Column("Origin", "", "Region of undergraduate degree."),
    "tier": Column("Tier", "", "all, top_tier (top 20% by quality), elite (top 1%) or frontier (top 0.1%); inclusive."),
    "researchers": Column("Researchers", "model researchers", "Researchers counted (weighted: the upper tail is "
                          "sampled densely and its researchers carry weights below 1)."),
    "from_region": Column("From", "", "Region left ('entry' for new graduates)."),
    "to_region": Column("To", "", "Region joined ('exit' for researchers leaving research)."),
    "moves": Column("Moves", "model researchers per step", "Researchers who moved in the step."),
    "employer": Column("Employer", "", "Employer id."),
    "headcount": Column("Headcount", "model researchers", "Researchers employed."),
    "top_tier_headcount": Column("Top-tier headcount", "model researchers", "Top-tier researchers employed."),
    "elite_headcount": Column("Elite headcount", "model researchers", "Elite researchers employed."),
    "frontier_headcount": Column("Frontier headcount", "model researchers", "Frontier researchers employed."),
    "positions": Column("Positions", "model researchers", "Research posts (from funding, compute and targeted hires)."),
    "exits": Column("Exits", "model researchers per step", "Staff who left research in the step."),
    "hires_vacancy": Column("Hires from vacancies", "model researchers per step", "Hires through ordinary vacancies."),
    "hires_bonus": Column("Hires by signing bonus", "model researchers per step", "Hires through signing-bonus offers."),
    "hires_return": Column("Hires by return package", "model researchers per step", "Hires through return packages."),
    "bonus_spent_usd_m": Column("Bonus spending", "USD million per step", "Signing bonuses paid for accepted offers."),
    "staff_retention": Column("Staff retention", "share per step", "Share of the staff at the step's start who "
                              "neither moved to another employer nor left research."),
    "pay_multiplier": Column("Pay multiplier", "ratio", "Adaptive multiplier on the pay schedule."),
    "arrivals": Column("Arrivals", "model researchers per step", "Researchers hired in the step."),
    "departures": Column("Departures", "model researchers per step", "Researchers who left in the step."),
    "peer_quality": Column("Peer quality", "ratio to median", "Mean quality of staff."),
    "state_funding_usd_m": Column("State funding", "USD million per year", "State funding received."),
    "at_home": Column("At home", "model researchers", "Researchers of the origin working in it."),
    "retention": Column("Home retention", "share", "Share of an origin's researchers working in their origin."),
    "cohort_year": Column("Cohort", "year", "Year the graduates entered research."),
    "training_region": Column("Trained in", "", "Region of PhD training (the host region)."),
    "years_since_entry": Column("Years since PhD", "years", "Years since the cohort entered."),
    "active": Column("Active", "model researchers", "Cohort members still in research."),
    "in_host_region": Column("In host region", "model researchers", "Active members working in the training region."),
    "returned_home": Column("Returned home", "model researchers", "Active members working in their origin."),
    "stay_rate": Column("Stay rate", "share", "Share of active members still in the host region."),
    "share": Column("Share", "share", "Share of the tier's researchers."),
}


class Recorder:
    """Tallies a run's state every step into preallocated count arrays."""

    def __init__(self, steps: int, n_regions: int, n_employers: int, start_year: int, end_year: int):
        self.n_regions = n_regions
        self.start_year = start_year
        self.n_cohorts = end_year - start_year + 2
        # work region index n_regions is "without a research post"
        self.stocks = np.zeros((steps + 1, n_regions + 1, n_regions, len(TIERS)))
        # from-region index n_regions is entry; to-region index n_regions is exit
        self.flows = np.zeros((steps + 1, n_regions + 1, n_regions + 1, n_regions))
        self.employers = np.zeros((steps + 1, n_employers, len(EMPLOYER_FIELDS)))
        # cohort x training region x origin x (active, in host region, returned home)
        self.cohorts = np.zeros((steps + 1, self.n_cohorts, n_regions, n_regions, 3))

    def stocks_at(self, step: int, pop: Population, thresholds: tuple[float, ...], top: TopTier | None = None) -> None:
        """Count researchers by work region (or without a post), origin and tier (``thresholds``: top tier on,
        ascending; ``top``: the top tier's rows, if the caller has them)."""
        r = self.n_regions
        cell = pop.region.astype(np.int16)  # two bytes a researcher hold every code (regions fit in int8)
        cell[np.flatnonzero(pop.employer < 0)] = r
        cell *= r
        cell += pop.origin
        size = (r + 1) * r
        self.stocks[step, :, :, 0] = np.bincount(cell, weights=pop.weight, minlength=size).reshape(r + 1, r)
        if top is None:
            top = TopTier(pop, thresholds[0])
        for t, counts in enumerate(top.tally(cell[top.rows], size, thresholds), start=1):
            self.stocks[step, :, :, t] = counts.reshape(r + 1, r)

    def flows_at(
        self, step: int, from_region: np.ndarray, to_region: np.ndarray, origin: np.ndarray, weight: np.ndarray
    ) -> None:
        """Add moves (including entry, code ``n_regions`` as from, and exit, as to) to the step's flows."""
        r1 = self.n_regions + 1
        cell = (from_region.astype(np.int64) * r1 + to_region) * self.n_regions + origin
        self.flows[step] += np.bincount(cell, weights=weight, minlength=r1 * r1 * self.n_regions).reshape(
            r1, r1, self.n_regions
        )

    def employers_at(self, step: int, values: np.ndarray) -> None:
        """Record the employers' state (columns in ``EMPLOYER_FIELDS`` order)."""
        self.employers[step] = values

    def cohorts_at(self, step: int, pop: Population) -> None:
        """Count graduates who trained outside their origin, by cohort, host region and origin."""
        abroad = np.flatnonzero((pop.entry_year >= 0) & (pop.training_region != pop.origin))
        r = self.n_regions
        host = pop.training_region[abroad]
        origin = pop.origin[abroad]
        here = pop.region[abroad]
        # The cell ((cohort, host, origin), where each works: 0 elsewhere, 1 in the host region, 2 back in the
        # origin (never both: host != origin)), built in place in four-byte codes.
        cell = (pop.entry_year[abroad] - self.start_year).clip(0, self.n_cohorts - 1).astype(np.int32)
        cell *= r
        cell += host
        cell *= r
        cell += origin
        cell *= 3
        cell += here == host
        cell += 2 * (here == origin)
        counts = np.bincount(cell, weights=pop.weight[abroad], minlength=self.n_cohorts * r * r * 3).reshape(
            self.n_cohorts, r, r, 3
        )
        self.cohorts[step, ..., 0] = counts.sum(axis=3)
        self.cohorts[step, ..., 1] = counts[..., 1]
        self.cohorts[step, ..., 2] = counts[..., 2]


class TopTier:
    """The researchers at or above the top tier's quality threshold, with their quality and weight, gathered once
    for the tallies by tier that stocks and employers both make."""

    def __init__(self, pop: Population, threshold: float):
        self.rows = np.flatnonzero(pop.quality >= threshold)
        self.quality = pop.quality[self.rows]
        self.weight = pop.weight[self.rows]

    def tally(self, codes: np.ndarray, size: int, thresholds: tuple[float, ...]) -> list[np.ndarray]:
        """Return, for each threshold (ascending, the first the top tier's), the weight of those at or above it by
        ``codes`` (one code for each of ``rows``, below ``size``). The tiers are nested: each is selected from the
        one before, in the same row order."""
        quality, weight = self.quality, self.weight
        out = []
        for threshold in thresholds:
            keep = np.flatnonzero(quality >= threshold)
            if len(keep) < len(quality):
                codes, quality, weight = codes[keep], quality[keep], weight[keep]
            out.append(np.bincount(codes, weights=weight, minlength=size))
        return out


EMPLOYER_FIELDS = (
    "headcount",
    "top_tier_headcount",
    "elite_headcount",
    "frontier_headcount",
    "positions",
    "pay_multiplier",
    "arrivals",
    "departures",
    "exits",
    "hires_vacancy",
    "hires_bonus",
    "hires_return",
    "bonus_spent_usd_m",
    "staff_retention",
    "peer_quality",
    "state_funding_usd_m",
)


def observe(model, hires) -> None:
    """Record the step's state: stocks by region, origin and tier, employers, graduate cohorts; and set the
    quality thresholds (tiers and targeted-offer quantiles) the next step uses."""
    pop = model.population
    step = model.step_count
    cfg = model.config.population
    model.thresholds = model.quality_thresholds()
    tiers = (model.thresholds[cfg.top_tier_quantile], model.thresholds[cfg.elite_quantile],
             model.thresholds[cfg.frontier_quantile])
    top = TopTier(pop, tiers[0])
    model.recorder.stocks_at(step, pop, tiers, top)
    n = len(model.employers)
    # Staff by tier (those without a post tallied under code 0 and dropped).
    by_tier = [counts[1:] for counts in top.tally(pop.employer[top.rows] + 1, n + 1, tiers)]
    kind = hires.kind
    hire_counts = [
        np.bincount(hires.employer[kind == k], weights=pop.weight[hires.researcher[kind == k]], minlength=n)
        for k in (OfferKind.VACANCY, OfferKind.BONUS, OfferKind.RETURN)
    ]
    spent = np.bincount(hires.employer[kind == OfferKind.BONUS],
                        weights=(hires.bonus_usd * pop.weight[hires.researcher])[kind == OfferKind.BONUS] * model.scale,
                        minlength=n) / 1e6
    before = np.array([e.staff_before for e in model.employers])
    left = np.array([e.departures + e.exits for e in model.employers])
    retention = np.where(before > 0, 1.0 - left / np.maximum(before, 1e-12), np.nan) if step else np.full(n, np.nan)
    columns = {
        "headcount": [e.headcount for e in model.employers],
        "top_tier_headcount": by_tier[0],
        "elite_headcount": by_tier[1],
        "frontier_headcount": by_tier[2],
        "positions": [e.positions for e in model.employers],
        "pay_multiplier": [e.pay_multiplier for e in model.employers],
        "arrivals": [e.arrivals if step else 0.0 for e in model.employers],
        "departures": [e.departures if step else 0.0 for e in model.employers],
        "exits": [e.exits if step else 0.0 for e in model.employers],
        "hires_vacancy": hire_counts[0],
        "hires_bonus": hire_counts[1],
        "hires_return": hire_counts[2],
        "bonus_spent_usd_m": spent,
        "staff_retention": retention,
        "peer_quality": [e.peer_quality for e in model.employers],
        "state_funding_usd_m": [e.state_funding_usd / 1e6 for e in model.employers],
    }
    model.recorder.employers_at(step, np.column_stack([np.asarray(columns[f], dtype=float) for f in EMPLOYER_FIELDS]))
    model.recorder.cohorts_at(step, pop)
