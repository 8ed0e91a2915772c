"""The researcher population as numpy columns: one row per researcher, no Python object per person."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import ndtri

from .scenario import Scenario

__all__ = ["Population", "Researcher", "draw_graduates", "draw_initial_population"]

UNPLACED = -1  # employer code of a researcher without a research post


@dataclass
class Population:
    """Researcher state as parallel numpy columns.

    ``origin``, ``region`` and ``training_region`` index ``scenario.region_ids``; ``employer`` indexes
    ``scenario.employer_ids`` or is -1 for a researcher without a post. Times are in years.
    """

    id: np.ndarray  # int64, stable across steps
    origin: np.ndarray  # int8, region of undergraduate degree
    region: np.ndarray  # int8, where the researcher works now
    employer: np.ndarray  # int16
    quality: np.ndarray  # float64, lognormal by origin
    weight: np.ndarray  # float64, model researchers this one counts for (upper tail sampled densely; mean 1)
    career_age: np.ndarray  # float32, years since PhD
    tenure: np.ndarray  # float32, years with the current employer
    years_abroad: np.ndarray  # float32, years worked outside the origin region
    years_in_region: np.ndarray  # float32, years in the current region
    bonus_per_year: np.ndarray  # float32, USD/year of a signing bonus still vesting
    bonus_years_left: np.ndarray  # float32
    b_pay: np.ndarray  # float32, preference weights (random coefficients)
    b_impact: np.ndarray
    b_home: np.ndarray
    b_net: np.ndarray
    bound_draw: np.ndarray  # float32 uniform; bound by an exit restriction of share s iff bound_draw < s
    entry_year: np.ndarray  # int16, year of PhD entry; -1 for the initial population
    training_region: np.ndarray  # int8, region of PhD training; -1 for the initial population

    def __len__(self) -> int:
        return len(self.id)

    def __post_init__(self) -> None:
        # Each column is the start of a longer buffer, so a step can append graduates without a new array.
        self._buffers: dict[str, np.ndarray] = {}

    def replace(self, keep: np.ndarray, joining: Population | None = None) -> None:
        """Keep the researchers where ``keep`` is true and add those of ``joining`` after them.

        Every column is the start of a buffer with spare room (a quarter more than needed when it was made): the
        kept rows are gathered by a boolean index, numpy's fastest selection, and written back at the buffer's
        start, the graduates after them. A step thus fills the same memory again instead of allocating and
        filling new columns; a buffer is replaced by a larger one only when the population outgrows it.
        """
        kept = int(np.count_nonzero(keep))
        n = kept + (0 if joining is None else len(joining))
        for f in fields(self):
            column = getattr(self, f.name)
            buffer = self._buffers.get(f.name)
            if buffer is None or len(buffer) < n:
                buffer = self._buffers[f.name] = np.empty(n + n // 4, dtype=column.dtype)
            buffer[:kept] = column[keep]  # the gather makes a copy first, so the buffer may hold ``column``
            if joining is not None:
                buffer[kept:n] = getattr(joining, f.name)
            setattr(self, f.name, buffer[:n])

    def researcher(self, index: int) -> Researcher:
        """Return a read-only view of one researcher, for inspection (not for the hot path)."""
        return Researcher(**{f.name: getattr(self, f.name)[index].item() for f in fields(self)})

    @property
    def nbytes(self) -> int:
        """Return the memory held by the columns, in bytes."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))


@dataclass(frozen=True)
class Researcher:
    """One researcher's state, copied out of the population for inspection."""

    id: int
    origin: int
    region: int
    employer: int
    quality: float
    weight: float
    career_age: float
    tenure: float
    years_abroad: float
    years_in_region: float
    bonus_per_year: float
    bonus_years_left: float
    b_pay: float
    b_impact: float
    b_home: float
    b_net: float
    bound_draw: float
    entry_year: int
    training_region: int


def _draw_preferences(scenario: Scenario, origin: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return per-researcher preference weights drawn from their origin's distributions."""
    names = ("b_pay", "b_impact", "b_home", "b_net")
    normal = rng.standard_normal((4, len(origin)))
    # Mean and standard deviation of each weight (rows) for each origin (columns), looked up by origin.
    mean = np.empty((4, len(scenario.region_ids)))
    sd = np.empty((4, len(scenario.region_ids)))
    for code, region in enumerate(scenario.region_ids):
        prefs = scenario.preferences.for_origin(region)
        for k, dist in enumerate((prefs.pay, prefs.impact, prefs.home, prefs.network)):
            mean[k, code], sd[k, code] = dist.mean, dist.sd
    out = {name: (mean[k][origin] + sd[k][origin] * normal[k]).astype(np.float32) for k, name in enumerate(names)}
    for name in ("b_pay", "b_impact", "b_net"):
        np.maximum(out[name], 0.0, out=out[name])
    return out


def draw_quality(
    scenario: Scenario, origin: np.ndarray, rng: np.random.Generator, shift: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Return the quality and weight of researchers of the given origins.

    ln(quality) is normal with the origin's mean and sigma (``population.quality_by_origin``) plus ``shift``.
    A share ``tail_sampling.share`` of draws comes from above the origin's ``tail_sampling.quantile``; weights
    ``f/g`` (true over sampling density) undo that, so weighted counts are unbiased and weights average 1.
    """
    pop = scenario.population
    tail = pop.tail_sampling
    n = len(origin)
    mean = np.zeros(len(scenario.region_ids))
    sigma = np.full(len(scenario.region_ids), pop.quality_sigma)
    for code, region in enumerate(scenario.region_ids):
        spec = pop.quality_by_origin.get(region)
        if spec is not None:
            mean[code] = spec.log_mean
            sigma[code] = spec.sigma if spec.sigma is not None else pop.quality_sigma
    u = rng.random(n)
    dense = rng.random(n) < tail.share
    u = np.where(dense, tail.quantile + (1.0 - tail.quantile) * u, u)
    # The tail's density is raised from 1 - share to 1 - share + share / (1 - quantile) above the quantile.
    weight = 1.0 / ((1.0 - tail.share) + tail.share * (u >= tail.quantile) / (1.0 - tail.quantile))
    z = ndtri(np.clip(u, 1e-16, 1 - 1e-16))
    quality = np.exp(mean[origin] + sigma[origin] * z + shift)
    return quality, weight


def _draw_rows(shares: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return one category per element, drawn from the row of ``shares`` that ``rows`` selects."""
    cumulative = np.cumsum(shares, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random(len(rows))
    return (u[:, None] > cumulative[rows]).sum(axis=1).astype(np.int8)


def share_matrix(table: dict[str, dict[str, float]], regions: list[str]) -> np.ndarray:
    """Return a region x region matrix of shares from a nested mapping (missing rows: stay at home)."""
    matrix = np.zeros((len(regions), len(regions)))
    for i, origin in enumerate(regions):
        row = table.get(origin)
        if row is None:
            matrix[i, i] = 1.0
            continue
        for j, region in enumerate(regions):
            matrix[i, j] = row.get(region, 0.0)
    return matrix


def draw_initial_population(
    scenario: Scenario, n: int, employer_weights: np.ndarray, rng: np.random.Generator
) -> Population:
    """Return the population at the start of the run.

    Origins follow ``population.origin_shares`` and work regions ``population.initial_location``;
    within a region, researchers are placed with employers with probability proportional to
    weight x quality**selectivity, so selective employers start with stronger staff.
    """
    regions = scenario.region_ids
    pop = scenario.population
    origin_p = np.array([pop.origin_shares.get(r, 0.0) for r in regions])
    origin = rng.choice(len(regions), size=n, p=origin_p / origin_p.sum()).astype(np.int8)
    region = _draw_rows(share_matrix(pop.initial_location, regions), origin, rng)
    quality, weight = draw_quality(scenario, origin, rng)

    employer = np.empty(n, dtype=np.int16)
    emp_region = np.array([regions.index(e.region) for e in scenario.employers.values()])
    selectivity = np.array([e.selectivity for e in scenario.employers.values()])
    u = rng.random(n)
    for code in range(len(regions)):
        rows = np.flatnonzero(region == code)
        candidates = np.flatnonzero(emp_region == code)
        log_w = np.log(employer_weights[candidates])[None, :] + np.log(quality[rows])[:, None] * selectivity[candidates]
        # Normalise so each employer's expected share of the region matches its weight.
        log_w -= np.log(np.exp(log_w).mean(axis=0))[None, :]
        log_w += np.log(employer_weights[candidates] / employer_weights[candidates].sum())[None, :]
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        cumulative = np.cumsum(w, axis=1)
        cumulative /= cumulative[:, -1:]
        pick = (u[rows, None] > cumulative).sum(axis=1)
        employer[rows] = candidates[pick]

    career_age = rng.gamma(2.0, pop.career_age_mean_years / 2.0, size=n).astype(np.float32)
    abroad = region != origin
    years_abroad = np.where(abroad, pop.phd_years + career_age * rng.uniform(0.5, 1.0, size=n), 0.0).astype(np.float32)
    tenure = (rng.random(n) * np.minimum(career_age, pop.initial_tenure_cap_years)).astype(np.float32)
    prefs = _draw_preferences(scenario, origin, rng)
    return Population(
        id=np.arange(n, dtype=np.int64),
        origin=origin,
        region=region,
        employer=employer,
        quality=quality,
        weight=weight,
        career_age=career_age,
        tenure=tenure,
        years_abroad=years_abroad,
        years_in_region=np.where(abroad, years_abroad, career_age + pop.phd_years).astype(np.float32),
        bonus_per_year=np.zeros(n, dtype=np.float32),
        bonus_years_left=np.zeros(n, dtype=np.float32),
        bound_draw=rng.random(n).astype(np.float32),
        entry_year=np.full(n, -1, dtype=np.int16),
        training_region=np.full(n, -1, dtype=np.int8),
        **prefs,
    )


def draw_graduates(
    scenario: Scenario,
    n: int,
    origin_mix: np.ndarray,
    quality_shift: np.ndarray,
    year: int,
    first_id: int,
    rng: np.random.Generator,
) -> Population:
    """Return ``n`` new PhD graduates, without a post, in the region where they trained.

    ``quality_shift`` (by training region) shifts the mean of their ln(quality).
    """
    regions = scenario.region_ids
    origin = rng.choice(len(regions), size=n, p=origin_mix).astype(np.int8)
    trained = _draw_rows(share_matrix(scenario.population.training_location, regions), origin, rng)
    quality, weight = draw_quality(scenario, origin, rng, quality_shift[trained])
    abroad = trained != origin
    phd = scenario.population.phd_years
    prefs = _draw_preferences(scenario, origin, rng)
    zeros = np.zeros(n, dtype=np.float32)
    return Population(
        id=np.arange(first_id, first_id + n, dtype=np.int64),
        origin=origin,
        region=trained,
        employer=np.full(n, UNPLACED, dtype=np.int16),
        quality=quality,
        weight=weight,
        career_age=zeros.copy(),
        tenure=zeros.copy(),
        years_abroad=np.where(abroad, phd, 0.0).astype(np.float32),  # the PhD years abroad
        years_in_region=np.full(n, phd, dtype=np.float32),
        bonus_per_year=zeros.copy(),
        bonus_years_left=zeros.copy(),
        bound_draw=rng.random(n).astype(np.float32),
        entry_year=np.full(n, year, dtype=np.int16),
        training_region=trained.copy(),
        **prefs,
    )
