"""Search: who looks for a new post this step, which offers they find, and the choice sets they weigh.

Each researcher searches with a hazard that rises with dissatisfaction and with targeted offers received, and
falls with career age and tenure; researchers without a post always search. A search finds
``search.offers_per_search`` offers from employers with vacancies (those in the searcher's region weigh
``search.local_weight`` times more). Recipients of targeted offers decide this step whether or not they search:
their choice set is staying, their targeted offers and, if they search, what the search found.
"""

from __future__ import annotations

import math

import numpy as np

from .choice import ChoiceSets, Deciders, Offers, PostTables, feasible, join_cost_table, lever_tables, score_choice_sets
from .choice import utility as general_utility
from .market import gumbel, inverse_cdf, search_probability

__all__ = ["Search"]


class Search:
    """The search phase, with the lookup tables it keeps between steps while the levers stay the same."""

    def __init__(self, model):
        self.model = model
        self._lever_tables = None

    def step(self, targeted: Offers) -> ChoiceSets:
        """Return the choice sets of this step's deciding researchers, each alternative scored with Gumbel noise."""
        model = self.model
        searching = self.searching(targeted)
        deciding = searching.copy()
        deciding[targeted.researcher] = True
        who = self.deciders(np.flatnonzero(deciding))

        # Slot 0 is staying; the others are the offers a search found.
        found = self.vacancy_offers(who)
        # Small codes (int16 employers, int8 regions): the blocks are copied as rejected researchers choose again.
        employer = np.concatenate([who.employer[None, :].astype(np.int16), found])
        region = np.concatenate([who.region[None, :].astype(np.int8), model.employer_region[found]])
        # Every offer draws its lottery number, needed or not, so odds of 1 leave all other draws unchanged.
        lottery = model.streams["visa"].random(found.shape)
        score = score_choice_sets(who, employer, lottery, self.post_tables())
        score += gumbel(model.streams["choice"], score.shape)
        score[1:, np.flatnonzero(~searching[who.row])] = -np.inf  # invited, not searching: no search offers

        column = np.searchsorted(who.row, targeted.researcher)
        aimed = who.take(column)
        lottery = model.streams["visa"].random(len(targeted))
        ok = feasible(model, aimed, targeted.employer, targeted.region, lottery, targeted=True)
        targeted.score = general_utility(model, aimed, targeted.employer, targeted.region, bonus_usd=targeted.bonus_usd)
        targeted.score += gumbel(model.streams["choice"], len(targeted))
        return ChoiceSets(
            deciders=who,
            employer=employer,
            region=region,
            score=score,
            targeted=targeted.take(ok),
            targeted_decider=column[ok],
        )

    def probabilities(self, targeted: Offers) -> np.ndarray:
        """Return each researcher's probability of searching this step (1 without a post)."""
        model = self.model
        pop = model.population
        cfg = model.config.search
        # An employer code of -1 (no post) reads the appended 0.
        dissatisfaction = np.append(model.market_dissatisfaction(), 0.0)[pop.employer]
        coefficients = (cfg.dissatisfaction, cfg.offers_received, cfg.career_age_per_year, cfg.tenure_per_year)
        p = search_probability(
            cfg.base_rate_per_year,
            model.years_per_step,
            dissatisfaction=dissatisfaction,
            offers_received=0,
            career_age=pop.career_age,
            tenure=pop.tenure,
            coefficients=coefficients,
        )
        # The few researchers with targeted offers: again, with the offers they received.
        offered, offers = np.unique(targeted.researcher, return_counts=True)
        p[offered] = search_probability(
            cfg.base_rate_per_year,
            model.years_per_step,
            dissatisfaction=dissatisfaction[offered],
            offers_received=offers,
            career_age=pop.career_age[offered],
            tenure=pop.tenure[offered],
            coefficients=coefficients,
        )
        p[pop.employer < 0] = 1.0  # researchers without a post are always looking
        return p

    def searching(self, targeted: Offers) -> np.ndarray:
        """Return who searches this step: ``random(researchers) < probabilities(targeted)``, the same draws and
        the same comparisons, at a fraction of the cost.

        In a step most researchers are far from searching: their draw lies above a bound on everyone's probability
        (from the largest dissatisfaction and the smallest career age and tenure, raised a little for rounding).
        Only the others' probabilities, and those of researchers with targeted offers, are computed.
        """
        model = self.model
        pop = model.population
        cfg = model.config.search
        draw = model.streams["search"].random(len(pop))
        searching = np.zeros(len(pop), dtype=bool)
        if not len(pop):
            return searching
        # An employer code of -1 (no post) reads the appended 0.
        dissatisfaction = np.append(model.market_dissatisfaction(), 0.0)
        coefficients = (cfg.dissatisfaction, cfg.offers_received, cfg.career_age_per_year, cfg.tenure_per_year)
        a_d, _, a_c, a_t = coefficients

        def least(a, x):  # the smallest a * x over the population
            return a * float(x.min() if a >= 0 else x.max())

        most_log_rate = -least(-a_d, dissatisfaction) - least(a_c, pop.career_age) - least(a_t, pop.tenure)
        bound = -math.expm1(-cfg.base_rate_per_year * math.exp(most_log_rate + 1e-6) * model.years_per_step)
        maybe = draw < bound * (1 + 1e-6)
        offered, offers = np.unique(targeted.researcher, return_counts=True)
        maybe[offered] = True
        rows = np.flatnonzero(maybe)
        offers_received = np.zeros(len(rows), dtype=np.int64)
        offers_received[np.searchsorted(rows, offered)] = offers
        p = search_probability(
            cfg.base_rate_per_year,
            model.years_per_step,
            dissatisfaction=dissatisfaction[pop.employer[rows]],
            offers_received=offers_received,
            career_age=pop.career_age[rows],
            tenure=pop.tenure[rows],
            coefficients=coefficients,
        )
        searching[rows] = draw[rows] < p
        searching |= pop.employer < 0  # researchers without a post are always looking (every draw is < 1)
        return searching

    def deciders(self, rows: np.ndarray) -> Deciders:
        """Return the researchers at ``rows`` with the attributes their choice depends on this step."""
        model = self.model
        pop = model.population
        employer = pop.employer[rows]
        region = pop.region[rows]
        levers = model.levers
        if levers.restricted:
            # A region's restriction binds everyone there, with or without a post; an employer's, its staff.
            limit = np.maximum(levers.bound_region[region], np.append(levers.bound_employer, 0.0)[employer])
            bound = pop.bound_draw[rows] < limit
        else:
            bound = np.zeros(len(rows), dtype=bool)
        # Codes as int64 and weights as float64: the block operations then need no casts.
        return Deciders(
            row=rows.astype(np.int64, copy=False),
            origin=pop.origin[rows].astype(np.int64),
            region=region.astype(np.int64),
            employer=employer.astype(np.int64),
            quality_pay=pop.quality[rows] ** model.config.market.pay_quality_elasticity,
            vesting_usd=np.where(pop.bonus_years_left[rows] > 0, pop.bonus_per_year[rows], np.float32(0.0)),
            permanent=pop.years_in_region[rows] >= levers.permanent_years[region],
            bound=bound,
            b_pay=pop.b_pay[rows].astype(np.float64),
            b_impact=pop.b_impact[rows].astype(np.float64),
            b_home=pop.b_home[rows].astype(np.float64),
            b_net=pop.b_net[rows].astype(np.float64),
        )

    def vacancy_offers(self, who: Deciders) -> np.ndarray:
        """Return the employers of the offers each decider's search finds (slots x deciders), drawn in proportion
        to vacancies, those in the decider's own region weighted by ``search.local_weight``."""
        model = self.model
        vacancies = model.market.vacancies
        cfg = model.config.search
        if vacancies.sum() <= 0 or not len(who):
            return np.empty((0, len(who)), dtype=np.int16)
        regions = np.arange(model.n_regions)
        weight = vacancies * np.where(model.employer_region == regions[:, None], cfg.local_weight, 1.0)
        cumulative = np.cumsum(weight, axis=1)
        cumulative /= cumulative[:, -1:]
        u = model.streams["vacancy_offers"].random((cfg.offers_per_search, len(who)))
        return inverse_cdf(cumulative, who.region, u).astype(np.int16)

    def post_tables(self) -> PostTables:
        """Return this step's lookup tables for scoring choice sets (the lever-dependent ones are rebuilt only
        when the levers change)."""
        model = self.model
        mkt = model.market
        levers = model.levers
        n = model.n_regions
        key = (levers.climate.tobytes(), levers.visa_odds.tobytes(), levers.bound_region.tobytes(),
               levers.bound_employer.tobytes())
        if self._lever_tables is None or self._lever_tables[0] != key:
            prefs = model.config.preferences
            tables = lever_tables(
                model.post_region,
                visa_friction=model.visa_friction,
                climate=levers.climate,
                visa_odds=levers.visa_odds,
                move_cost_region=prefs.move_cost_region,
                move_cost_employer=prefs.move_cost_employer,
            )
            join = None
            if levers.restricted:
                bound_post = np.append(levers.bound_employer, np.zeros(n))
                join = join_cost_table(model.post_region, bound_post, levers.bound_region, prefs.restriction_aversion)
            self._lever_tables = (key, (*tables, join))
        cost, odds, home, join = self._lever_tables[1]
        # Employers without a vacancy cannot hire: no lottery number wins odds of 0.
        hiring = np.append(mkt.vacancies > 0, np.zeros(n, dtype=bool))
        return PostTables(
            n_regions=n,
            pay_usd=mkt.pay_usd_median,
            unplaced_pay_usd=model.unplaced_pay,
            impact=np.concatenate([mkt.impact, model.unplaced_impact]),
            home=home,
            network=model.network[np.arange(n)[None, :], model.post_region[:, None]].ravel(),
            cost=cost,
            odds=(odds.reshape(len(hiring), -1) * hiring[:, None]).ravel(),
            join_cost=join,
        )
