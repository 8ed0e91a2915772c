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
            bonus_offers = self._bonus_offers(model, bonuses, stars, key)
        out = []
        for policy in levers.policies:
            if policy.kind == "bonus":
                out.append(bonus_offers[policy.index])
            else:
                out.append(self._return_offers(model, policy))
        return Offers.concat(out)

    def _ranked(self, policy: Policy, rows: np.ndarray, quality: np.ndarray, most: int, enough) -> np.ndarray:
        """Return the best of ``rows``, best first by ln(quality) plus selection noise: the first ``most``, or fewer
        once ``enough`` says a budget is spent (see ``_best_until``).

        Every eligible researcher draws its noise whatever the budget, so a budget change leaves the draws alone.
        """
        key = np.log(quality)
        if self.noise > 0:
            key = key + self.noise * gumbel(self.streams[policy.index], len(rows))
        return rows[_best_until(-key, most, lambda best: enough(rows[best]))]

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

    def _bonus_offers(self, model, policies: list[Policy], stars: np.ndarray, key: np.ndarray) -> dict[int, Offers]:
        """Return the offers of each signing-bonus policy (by policy index), ranking ``stars`` by ``key`` once.

        Every policy ranks the same stars by the same key, so they are ranked once for all, only as deep as the
        policies need: ``FIRST_RANKED`` stars, four times as many each time a policy needs more, at most as many
        as the furthest-reaching budget could pay (see ``_best_until``).
        """
        reach = max(0, min(len(stars), max(self._most(*self._bonus_budget(p), len(stars)) for p in policies)))
        depth = min(reach, FIRST_RANKED)
        while True:
            ranked = _best(key, depth)
            out = {p.index: self._bonus_policy_offers(model, p, stars, key, ranked, depth >= reach) for p in policies}
            if all(offers is not None for offers in out.values()):
                return out
            depth = min(reach, 4 * depth)

    def _bonus_policy_offers(self, model, policy: Policy, stars: np.ndarray, key: np.ndarray, ranked: np.ndarray,
                             final: bool) -> Offers | None:
        """Return one signing-bonus policy's offers to the best ``stars`` it may offer to, or None if the stars
        ``ranked`` (positions in ``stars``, best first) are too few to tell them and ``final`` is false.

        The stars the policy may offer to among the ranked ones are its best ones. They are enough if they are as
        many as its budget could pay, if every star was ranked, or if their bonuses exceed the budget. Otherwise,
        once the ranking is ``final``, the policy ranks all the stars it may offer to.
        """
        terms = policy.terms
        pop = model.population
        remaining, cheapest = self._bonus_budget(policy)
        if remaining <= 0:
            return Offers.empty()
        threshold = model.thresholds[terms.target_quantile]
        most = self._most(remaining, cheapest, len(stars))
        mine = (pop.quality[stars[ranked]] >= threshold) & (pop.employer[stars[ranked]] != policy.owner)
        chosen = stars[ranked[np.flatnonzero(mine)[:most]]]
        bonus, cost = self._bonuses(model, policy, chosen)
        if len(chosen) < most and len(ranked) < len(stars) and not (len(cost) and cost[-1] > remaining):
            if not final:
                return None
            keep = np.flatnonzero((pop.quality[stars] >= threshold) & (pop.employer[stars] != policy.owner))
            chosen = stars[keep[_best(key[keep], self._most(remaining, cheapest, len(keep)))]]
            bonus, cost = self._bonuses(model, policy, chosen)
        take = cost <= remaining
        return _offers(model, chosen[take], policy.owner, bonus[take], OfferKind.BONUS, policy.index)

    def _bonuses(self, model, policy: Policy, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the bonus each of ``chosen`` is offered and the running total of their cost, in that order."""
        terms = policy.terms
        pop = model.population
        threshold = model.thresholds[terms.target_quantile]
        bonus = np.minimum(terms.max_usd, terms.bonus_usd * (pop.quality[chosen] / threshold) ** terms.quality_elasticity)
        return bonus, np.cumsum(bonus * pop.weight[chosen] * self.scale)

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

        def spent(ranked):
            return np.cumsum(pop.weight[ranked] * self.scale)

        ranked = self._ranked(policy, eligible, pop.quality[eligible], most, lambda best: spent(best)[-1] > remaining)
        ranked = ranked[spent(ranked) <= remaining]
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


FIRST_RANKED = 4096  # how many recipients are ranked first; four times as many each time that is too few


def _best(key: np.ndarray, most: int) -> np.ndarray:
    """Return the positions of the ``most`` smallest keys (or all), smallest first (ties: the earlier position)."""
    if most >= len(key):
        return stable_argsort(key)
    if most <= 0:
        return np.empty(0, dtype=np.intp)
    top = None
    if 4 * most < len(key):
        # Few of many: if at least ``most`` keys lie at or below a cut read off every 64th key (about twice as
        # many are expected to), the best are among them, and only they need partitioning.
        sample = np.sort(key[::64])
        below = np.flatnonzero(key <= sample[min(len(sample) - 1, 2 * most // 64 + 16)])
        if len(below) >= most:
            top = below[np.argpartition(key[below], most - 1)[:most]]
    if top is None:
        top = np.argpartition(key, most - 1)[:most]
    return top[stable_argsort(key[top])]


def _best_until(key: np.ndarray, most: int, enough) -> np.ndarray:
    """Return the positions of the smallest keys, smallest first: the best ``k`` for ``k`` = ``FIRST_RANKED``, four
    times that, ... (at most ``most``) until ``enough(positions)`` is true.

    ``most`` bounds the recipients of a budget by the cheapest one possible, far more than a budget usually pays
    for; ranking the best ``k`` is a partition of all keys and a sort of ``k``, so ranking only as deep as the
    budget reaches spares sorting the rest.
    """
    k = min(most, FIRST_RANKED)
    while True:
        best = _best(key, k)
        if k >= most or enough(best):
            return best
        k = min(most, 4 * k)


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
