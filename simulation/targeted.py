"""Targeted offers: signing bonuses to stars and return-programme packages to expatriates.

A targeted offer is an invitation: its recipient weighs it in the step it is made, searching or not, against
staying and whatever else they have; if accepted it brings its own post (the offer is the funding). Budgets pay
for hires: a signing-bonus policy spends what accepted bonuses cost and stops offering once the year's budget is
committed; a return programme uses a slot per package accepted. Recipients are chosen by quality, with a little
noise (``market.target_selection_noise``), among those each policy may reach: researchers above its target quantile
who are not its own staff (bonuses), or the region's expatriates within its age and years-abroad rules (returns).
Several policies can stand on one employer or region at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .choice import Offers
from .levers import LeverState, Policy
from .market import OfferKind, gumbel, stable_argsort

__all__ = ["TargetedOffers"]


class TargetedOffers:
    """The targeted-offer policies of a run, with what each has committed this calendar year.

    Args:
        n_policies: policies the scenario schedules (``levers.policy_keys``).
        scale: real researchers per model researcher.
        selection_noise: Gumbel scale of the noise on ln(quality) when recipients are ranked.
        streams: one random stream per policy.
    """

    def __init__(
        self,
        n_policies: int,
        scale: float,
        selection_noise: float,
        streams: list[np.random.Generator],
        visibility: np.random.Generator,
    ):
        self.scale = scale
        self.noise = selection_noise
        self.streams = streams
        self.visibility = visibility
        self.year = None
        self.committed = np.zeros(n_policies)  # USD (bonuses) or real researchers (return slots), this year
        self.spent_usd = np.zeros(n_policies)  # this step, by policy
        self.hires = np.zeros(n_policies)  # this step, model researchers, by policy

    def offers(self, model, levers: LeverState, year: int) -> Offers:
        """Return this step's targeted offers of every policy in force."""
        if year != self.year:
            self.year = year
            self.committed[:] = 0.0
        self._lightest = float(model.population.weight.min()) if len(model.population) else 1.0
        self._stars = None
        bonuses = [p for p in levers.policies if p.kind == "bonus"]
        if bonuses:
            # Signing bonuses rank stars by ln(quality) plus one draw of noise a step per top-tier researcher
            # (how visible they are this quarter), shared by every policy: a policy added leaves the draws alone.
            pop = model.population
            stars = np.flatnonzero(pop.quality >= model.thresholds[model.config.population.top_tier_quantile])
            key = np.log(pop.quality[stars])
            if self.noise > 0:
                key += self.noise * gumbel(self.visibility, len(stars))
            key = np.negative(key, out=key)  # best first
            # A budget reaches only the first few stars in that order: rank, once for every policy, twice as many
            # as the furthest-reaching budget could pay (``_bonus_offers`` ranks all it may reach if that is short).
            reach = max(0, min(len(stars), 2 * max(self._most(*self._bonus_budget(p), len(stars)) for p in bonuses)))
            ranked = _best(key, reach)
            self._stars = Stars(stars, pop.quality[stars], key, ranked, pop.quality[stars[ranked]],
                                pop.employer[stars[ranked]])
        out = []
        for policy in levers.policies:
            if policy.kind == "bonus":
                out.append(self._bonus_offers(model, policy))
            else:
                out.append(self._return_offers(model, policy))
        return Offers.concat(out)

    def _ranked(self, policy: Policy, rows: np.ndarray, quality: np.ndarray, most: int) -> np.ndarray:
        """Return the best ``most`` of ``rows`` (or all), best first by ln(quality) plus selection noise.

        Every eligible researcher draws its noise whatever the budget, so a budget change leaves the draws alone.
        """
        key = np.log(quality)
        if self.noise > 0:
            key = key + self.noise * gumbel(self.streams[policy.index], len(rows))
        return rows[_best(-key, most)]

    def _most(self, budget: float, cheapest: float, eligible: int) -> int:
        """Return how many recipients a budget could possibly cover, when none costs less than ``cheapest``."""
        if cheapest <= 0:
            return eligible
        return int(min(eligible, budget / cheapest + 1))

    def _bonus_budget(self, policy: Policy) -> tuple[float, float]:
        """Return a signing-bonus policy's budget left this year and the least a recipient can cost (USD).

        A bonus is at least bonus_usd (quality at or above the threshold), so the budget bounds the recipients.
        """
        terms = policy.terms
        remaining = terms.budget_usd_m_per_year * 1e6 - self.committed[policy.index]
        return remaining, terms.bonus_usd * self._lightest * self.scale

    def _bonus_offers(self, model, policy: Policy) -> Offers:
        terms = policy.terms
        pop = model.population
        remaining, cheapest = self._bonus_budget(policy)
        threshold = model.thresholds[terms.target_quantile]
        if remaining <= 0:
            return Offers.empty()
        stars = self._stars
        most = self._most(remaining, cheapest, len(stars.row))
        # The stars this policy may offer to, among those ranked for every policy. If at least ``most`` of them
        # are, its best ``most`` are among them; if every star was ranked, so are all it may offer to.
        first = np.flatnonzero((stars.ranked_quality >= threshold) & (stars.ranked_employer != policy.owner))
        if len(first) >= most or len(stars.ranked) == len(stars.row):
            ranked = stars.row[stars.ranked[first[:most]]]
        else:
            keep = np.flatnonzero((stars.quality >= threshold) & (pop.employer[stars.row] != policy.owner))
            most = self._most(remaining, cheapest, len(keep))
            ranked = stars.row[keep[_best(stars.key[keep], most)]]
        if not len(ranked):
            return Offers.empty()
        bonus = np.minimum(terms.max_usd, terms.bonus_usd * (pop.quality[ranked] / threshold) ** terms.quality_elasticity)
        cost = bonus * pop.weight[ranked] * self.scale
        take = np.cumsum(cost) <= remaining
        return _offers(model, ranked[take], policy.owner, bonus[take], OfferKind.BONUS, policy.index)

    def _return_offers(self, model, policy: Policy) -> Offers:
        terms = policy.terms
        pop = model.population
        region = policy.owner
        remaining = terms.slots_per_year - self.committed[policy.index]
        home = np.flatnonzero(model.employer_region == region)
        if remaining <= 0 or not len(home):
            return Offers.empty()
        eligible = np.flatnonzero(
            (pop.origin == region)
            & (pop.region != region)
            & (pop.career_age <= terms.max_career_age_years)
            & (pop.years_abroad >= terms.min_years_abroad)
        )
        if not len(eligible):
            return Offers.empty()
        most = self._most(remaining, self._lightest * self.scale, len(eligible))
        ranked = self._ranked(policy, eligible, pop.quality[eligible], most)
        ranked = ranked[np.cumsum(pop.weight[ranked] * self.scale) <= remaining]
        # The package places its recipient with a home employer, in proportion to the employers' posts.
        posts = model.posts.posts[home]
        rng = self.streams[policy.index]
        employer = home[rng.choice(len(home), size=len(ranked), p=posts / posts.sum())] if len(ranked) else home[:0]
        return _offers(model, ranked, employer, np.full(len(ranked), terms.bonus_usd), OfferKind.RETURN, policy.index)

    def commit(self, hired: Offers, weight: np.ndarray) -> None:
        """Spend the budgets and slots of the targeted offers accepted (``weight``: of each hire)."""
        targeted = hired.policy >= 0
        policy = hired.policy[targeted].astype(np.int64)
        w = weight[targeted]
        n = len(self.committed)
        self.hires = np.bincount(policy, weights=w, minlength=n)
        self.spent_usd = np.bincount(policy, weights=hired.bonus_usd[targeted] * w * self.scale, minlength=n)
        is_return = hired.kind[targeted] == OfferKind.RETURN
        slots = np.bincount(policy[is_return], weights=w[is_return] * self.scale, minlength=n)
        bonuses = np.bincount(policy[~is_return], weights=hired.bonus_usd[targeted][~is_return] * w[~is_return]
                              * self.scale, minlength=n)
        self.committed += slots + bonuses


@dataclass(frozen=True)
class Stars:
    """A step's top-tier researchers as signing-bonus policies rank them, and the first of them in rank order."""

    row: np.ndarray  # rows in the population
    quality: np.ndarray
    key: np.ndarray  # -(ln(quality) + noise): smaller is better
    ranked: np.ndarray  # positions in ``row`` of the best, best first
    ranked_quality: np.ndarray  # their quality
    ranked_employer: np.ndarray  # their employer


def _best(key: np.ndarray, most: int) -> np.ndarray:
    """Return the positions of the ``most`` smallest keys (or all), smallest first (ties: the earlier position)."""
    if most < len(key):
        top = np.argpartition(key, most - 1)[:most]
        return top[stable_argsort(key[top])]
    return stable_argsort(key)


def _offers(model, researcher: np.ndarray, employer, bonus: np.ndarray, kind: int, policy: int) -> Offers:
    employer = np.broadcast_to(np.asarray(employer, dtype=np.int16), researcher.shape).copy()
    return Offers(
        researcher=researcher.astype(np.int64),
        employer=employer,
        region=model.employer_region[employer].astype(np.int8),
        bonus_usd=np.asarray(bonus, dtype=float),
        kind=np.full(len(researcher), kind, dtype=np.int8),
        policy=np.full(len(researcher), policy, dtype=np.int16),
    )
