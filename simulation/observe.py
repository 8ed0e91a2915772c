"""What is recorded each step: counts by region, origin and tier; flows; employers; graduate cohorts.

Counts are tallied with ``bincount`` into preallocated arrays; ``results`` turns them into tidy tables.
Every column of every table is declared once in ``COLUMNS`` with its label and unit; tables, plots and
the scenario reference take their labels from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .population import Population

__all__ = ["COLUMNS", "TIERS", "Column", "Recorder"]

TIERS = ("all", "top_tier", "elite")  # inclusive: every elite researcher is also top-tier
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
    "tier": Column("Tier", "", "all, top_tier (top 20% by quality) or elite (top 1%); inclusive."),
    "researchers": Column("Researchers", "model researchers", "Researchers counted."),
    "from_region": Column("From", "", "Region left ('entry' for new graduates)."),
    "to_region": Column("To", "", "Region joined ('exit' for researchers leaving research)."),
    "moves": Column("Moves", "model researchers per step", "Researchers who moved in the step."),
    "employer": Column("Employer", "", "Employer id."),
    "headcount": Column("Headcount", "model researchers", "Researchers employed."),
    "top_tier_headcount": Column("Top-tier headcount", "model researchers", "Top-tier researchers employed."),
    "positions": Column("Positions", "model researchers", "Positions (capacity)."),
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
        self.stocks = np.zeros((steps + 1, n_regions, n_regions, len(TIERS)), dtype=np.int64)
        # from-region index n_regions is entry; to-region index n_regions is exit
        self.flows = np.zeros((steps + 1, n_regions + 1, n_regions + 1, n_regions), dtype=np.int64)
        self.employers = np.zeros((steps + 1, n_employers, 8), dtype=np.float64)
        # cohort x training region x origin x (active, in host region, returned home)
        self.cohorts = np.zeros((steps + 1, self.n_cohorts, n_regions, n_regions, 3), dtype=np.int64)

    def stocks_at(self, step: int, pop: Population, top_threshold: float, elite_threshold: float) -> None:
        """Count researchers by region, origin and tier."""
        r = self.n_regions
        cell = pop.region.astype(np.int64) * r + pop.origin
        for t, mask in enumerate((None, pop.quality >= top_threshold, pop.quality >= elite_threshold)):
            counts = np.bincount(cell if mask is None else cell[mask], minlength=r * r)
            self.stocks[step, :, :, t] = counts.reshape(r, r)

    def flows_at(self, step: int, from_region: np.ndarray, to_region: np.ndarray, origin: np.ndarray) -> None:
        """Add moves (including entry, code ``n_regions`` as from, and exit, as to) to the step's flows."""
        r1 = self.n_regions + 1
        cell = (from_region.astype(np.int64) * r1 + to_region) * self.n_regions + origin
        self.flows[step] += np.bincount(cell, minlength=r1 * r1 * self.n_regions).reshape(
            r1, r1, self.n_regions
        )

    def employers_at(self, step: int, values: np.ndarray) -> None:
        """Record the employers' state (columns in ``EMPLOYER_FIELDS`` order)."""
        self.employers[step] = values

    def cohorts_at(self, step: int, pop: Population) -> None:
        """Count graduates who trained outside their origin, by cohort, host region and origin."""
        abroad = np.flatnonzero((pop.entry_year >= 0) & (pop.training_region != pop.origin))
        r = self.n_regions
        cohort = (pop.entry_year[abroad] - self.start_year).clip(0, self.n_cohorts - 1).astype(np.int64)
        host = pop.training_region[abroad]
        origin = pop.origin[abroad]
        here = pop.region[abroad]
        # Where each works: 0 elsewhere, 1 in the host region, 2 back in the origin (never both: host != origin).
        where = (here == host) + 2 * (here == origin)
        cell = ((cohort * r + host) * r + origin) * 3 + where
        counts = np.bincount(cell, minlength=self.n_cohorts * r * r * 3).reshape(self.n_cohorts, r, r, 3)
        self.cohorts[step, ..., 0] = counts.sum(axis=3)
        self.cohorts[step, ..., 1] = counts[..., 1]
        self.cohorts[step, ..., 2] = counts[..., 2]


EMPLOYER_FIELDS = (
    "headcount",
    "top_tier_headcount",
    "positions",
    "pay_multiplier",
    "arrivals",
    "departures",
    "peer_quality",
    "state_funding_usd_m",
)
