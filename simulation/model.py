"""The talent-market model: a Mesa ``Model`` whose step is the ordered list of phases in docs/model.md."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import mesa
import numpy as np

from .employers import Employer, EmployerArrays
from .market import (
    OfferKind,
    gumbel,
    inverse_cdf,
    match_under_capacity,
    offer_utility,
    quantiles,
    search_probability,
    stochastic_round,
)
from .observe import Recorder
from .offers import ChoiceSets, Deciders, Offers, PostTables, lever_tables, score_choice_sets
from .population import draw_graduates, draw_initial_population
from .scenario import DEFAULT_KEY, BonusPolicy, ReturnProgramme, Scenario, value_at

__all__ = ["Offers", "TalentModel", "add_months"]

# Named random streams: a lever that draws more numbers from its own stream leaves every other
# stream's draws unchanged, so "policy vs baseline" differences are the policy, not noise.
STREAMS = ("init", "entry", "exit", "search", "vacancy_offers", "visa", "choice")


def add_months(month: dt.date, months: int) -> dt.date:
    """Return the first day of the month ``months`` after ``month``."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass
class Levers:
    """Lever values in force this step, as arrays indexed by region, origin and employer."""

    visa_odds: np.ndarray  # destination x origin
    climate: np.ndarray  # destination x origin
    permanent_years: np.ndarray  # by region; inf where there is no permanent status
    bound_region: np.ndarray
    bound_employer: np.ndarray
    state_funding_region_usd: np.ndarray
    state_funding_employer_usd: np.ndarray
    capacity_growth: np.ndarray  # extra yearly growth of positions by employer
    return_programme: list[ReturnProgramme | None]
    signing_bonus: list[BonusPolicy | None]
    compute_access: np.ndarray
    investment: np.ndarray
    entry_rate: float
    origin_mix: np.ndarray
    quality_shift: np.ndarray  # of new graduates' ln(quality), by training region


class TalentModel(mesa.Model):
    """The global market for AI research talent.

    Args:
        scenario: a validated scenario.
        seed: seed of this run; defaults to ``scenario.run.seed``.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None):
        seed = scenario.run.seed if seed is None else int(seed)
        root = np.random.SeedSequence(seed)
        super().__init__(rng=int(root.generate_state(1)[0]))
        self.config = scenario
        self.seed = seed
        self.region_ids = scenario.region_ids
        self.employer_ids = scenario.employer_ids
        self.n_regions = len(self.region_ids)
        self.years_per_step = scenario.run.step_months / 12.0
        self.scale = scenario.population.represents / scenario.run.researchers
        self.start = scenario.run.start
        self.month = self.start
        self.step_count = 0
        self.n_steps = scenario.run.steps

        children = root.spawn(len(STREAMS) + 2)
        self.streams = {name: np.random.default_rng(s) for name, s in zip(STREAMS, children)}
        self.bonus_streams = [np.random.default_rng(s) for s in children[-2].spawn(len(self.employer_ids))]
        self.return_streams = [np.random.default_rng(s) for s in children[-1].spawn(self.n_regions)]

        region_index = {r: i for i, r in enumerate(self.region_ids)}
        self.employers = [
            Employer(self, key, i, region_index[spec.region], spec)
            for i, (key, spec) in enumerate(scenario.employers.items())
        ]
        self.employer_region = np.array([e.region for e in self.employers], dtype=np.int8)
        # The region of each post: the employers', then one per region for researchers without a post.
        self.post_region = np.concatenate([self.employer_region, np.arange(self.n_regions)]).astype(np.int64)
        self.state_backed = np.array([e.spec.receives_state_funding for e in self.employers])
        self.unplaced_pay = np.array([r.unplaced_pay_usd for r in scenario.regions.values()])
        self.unplaced_impact = np.array([r.unplaced_impact for r in scenario.regions.values()])
        self.visa_friction = np.array([r.visa_friction for r in scenario.regions.values()])

        weights = np.array([e.spec.weight for e in self.employers])
        self.population = draw_initial_population(scenario, scenario.run.researchers, weights, self.streams["init"])
        self.next_id = len(self.population)

        self.levers = self.resolve_levers(self.month)
        headcount = self.headcounts()
        self.initial_state_funding = self.state_funding_by_employer(headcount)
        for employer in self.employers:
            employer.base_positions = headcount[employer.index] * (1.0 + employer.spec.vacancy_share)
            employer.state_funding_usd = self.initial_state_funding[employer.index]
            employer.positions = int(round(employer.base_positions))
        self.median_quality, self.target_thresholds = self.quality_thresholds()
        self.market = self.employer_arrays(headcount)
        self._lever_tables = None
        self.count_staff()
        self.recorder = Recorder(self.n_steps, self.n_regions, len(self.employers), self.start.year, scenario.run.end.year)
        self.observe(Offers.empty())

    # ----------------------------------------------------------------------------------------------------------
    # The step

    def step(self) -> None:
        """Advance one step: the eight phases, in order."""
        self.step_count += 1
        self.apply_policy_schedule()
        self.enter_and_exit()
        choices = self.search(self.post_offers())
        hires = []
        for _ in range(self.config.search.matching_rounds):
            chosen = self.choose(choices)
            hired, choices = self.match(choices, chosen)
            hires.append(hired)
            if not len(choices):
                break
        moves = Offers.concat(hires)
        self.update(moves)
        self.observe(moves)
        self.month = add_months(self.month, self.config.run.step_months)
        if self.step_count >= self.n_steps:
            self.running = False

    # 1. Policy schedule -------------------------------------------------------------------------------------

    def apply_policy_schedule(self) -> None:
        """Give every lever the value its schedule sets for this step's month."""
        self.levers = self.resolve_levers(self.month)
        for employer in self.employers:
            employer.bonus_policy = self.levers.signing_bonus[employer.index]

    def resolve_levers(self, month: dt.date) -> Levers:
        """Return the lever values in force at ``month``."""
        levers = self.config.levers
        regions = self.region_ids
        r = self.n_regions

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
            return np.array(
                [value_at(table[k], month, default) if k in table else default for k in self.employer_ids], dtype=float
            )

        def policies(table, keys):
            return [value_at(table[k], month) if k in table else None for k in keys]

        visa = by_origin(levers.visa_odds, 1.0)
        np.fill_diagonal(visa, 1.0)  # natives need no visa
        pipeline = levers.pipeline
        mix = self.config.population.origin_shares
        if pipeline.origin_mix is not None:
            mix = value_at(pipeline.origin_mix, month, mix)
        origin_mix = np.array([mix.get(k, 0.0) for k in regions])
        entry_rate = value_at(pipeline.entry_rate_per_year, month, 0.0)
        return Levers(
            visa_odds=visa,
            climate=by_origin(levers.climate, 0.0),
            permanent_years=by_region(levers.permanent_residence_years, math.inf),
            bound_region=by_region(levers.exit_restriction.region, 0.0),
            bound_employer=by_employer(levers.exit_restriction.employer, 0.0),
            state_funding_region_usd=by_region(levers.state_funding_usd_m_per_year.region, 0.0) * 1e6,
            state_funding_employer_usd=by_employer(levers.state_funding_usd_m_per_year.employer, 0.0) * 1e6,
            capacity_growth=by_region(levers.capacity_growth_per_year.region, 0.0)[self.employer_region]
            + by_employer(levers.capacity_growth_per_year.employer, 0.0),
            return_programme=policies(levers.return_programme, regions),
            signing_bonus=policies(levers.signing_bonus, self.employer_ids),
            compute_access=by_region(levers.compute_access, 1.0),
            investment=by_region(levers.investment_index, 1.0),
            entry_rate=float(entry_rate),
            origin_mix=origin_mix / origin_mix.sum(),
            quality_shift=by_region(pipeline.quality_shift, 0.0),
        )

    # 2. Entry and exit --------------------------------------------------------------------------------------

    def enter_and_exit(self) -> None:
        """Remove researchers who leave research (hazard by career age); add new PhD graduates."""
        pop = self.population
        exits = self.config.population.exits
        # The chance of leaving within a step, for each yearly hazard that can apply.
        working, retired, unplaced = 1.0 - (1.0 - np.array([
            exits.hazard_per_year, exits.retirement_hazard_per_year, exits.unplaced_hazard_per_year,
        ])) ** self.years_per_step  # fmt: skip
        p = np.where(pop.career_age >= exits.retirement_career_age_years, retired, working)
        p = np.where(pop.employer < 0, np.maximum(p, unplaced), p)
        leaving = self.streams["exit"].random(len(pop)) < p
        exit_code = np.full(int(leaving.sum()), self.n_regions)
        self.recorder.flows_at(self.step_count, pop.region[leaving], exit_code, pop.origin[leaving])
        staying = len(pop) - len(exit_code)

        rng = self.streams["entry"]
        n = stochastic_round(self.levers.entry_rate * staying * self.years_per_step, rng)
        graduates = None
        if n > 0:
            graduates = draw_graduates(
                self.config, n, self.levers.origin_mix, self.levers.quality_shift, self.month.year, self.next_id, rng
            )
            self.next_id += n
            entry_code = np.full(n, self.n_regions)
            self.recorder.flows_at(self.step_count, entry_code, graduates.region, graduates.origin)
        pop.replace(~leaving, graduates)

    # 3. Vacancies and offers --------------------------------------------------------------------------------

    def post_offers(self) -> Offers:
        """Open positions; make signing-bonus offers to targeted stars and return-programme packages."""
        headcount = self.headcounts()
        state_funding = self.state_funding_by_employer(headcount)
        share = self.config.market.state_funding_position_share
        for employer in self.employers:
            employer.state_funding_usd = state_funding[employer.index]
            extra = (state_funding[employer.index] - self.initial_state_funding[employer.index]) * share
            employer.grow(self.levers.capacity_growth[employer.index], self.years_per_step)
            employer.set_positions(self.scale, extra)
        self.median_quality, self.target_thresholds = self.quality_thresholds()
        self.market = self.employer_arrays(headcount)
        return Offers.concat([*self.bonus_offers(), *self.return_offers()])

    def bonus_offers(self) -> list[Offers]:
        """Return each employer's signing-bonus offers to researchers above its quality threshold."""
        pop = self.population
        out = []
        stars = {}  # researchers at or above each target threshold
        for employer in self.employers:
            policy = employer.bonus_policy
            if policy is None or policy.budget_usd_m_per_year <= 0 or self.market.vacancies[employer.index] <= 0:
                continue
            rng = self.bonus_streams[employer.index]
            threshold = self.target_thresholds[policy.target_quantile]
            if threshold not in stars:
                stars[threshold] = np.flatnonzero(pop.quality >= threshold)
            eligible = stars[threshold][pop.employer[stars[threshold]] != employer.index]
            if not len(eligible):
                continue
            bonus = np.minimum(
                policy.max_usd, policy.bonus_usd * (pop.quality[eligible] / threshold) ** policy.quality_elasticity
            )
            budget = policy.budget_usd_m_per_year * 1e6 * self.years_per_step
            n = min(len(eligible), stochastic_round(budget / max(bonus.mean(), 1.0) / self.scale, rng))
            pick = rng.choice(len(eligible), size=n, replace=False)
            out.append(self._offers(eligible[pick], employer.index, bonus[pick], OfferKind.BONUS))
        return out

    def return_offers(self) -> list[Offers]:
        """Return each region's return-programme packages to eligible expatriates of that region."""
        pop = self.population
        out = []
        for region, programme in enumerate(self.levers.return_programme):
            if programme is None or programme.slots_per_year <= 0:
                continue
            rng = self.return_streams[region]
            local = np.flatnonzero((self.employer_region == region) & (self.market.vacancies > 0))
            eligible = np.flatnonzero(
                (pop.origin == region)
                & (pop.region != region)
                & (pop.career_age <= programme.max_career_age_years)
                & (pop.years_abroad >= programme.min_years_abroad)
            )
            if not len(local) or not len(eligible):
                continue
            n = min(len(eligible), stochastic_round(programme.slots_per_year * self.years_per_step / self.scale, rng))
            pick = eligible[rng.choice(len(eligible), size=n, replace=False)]
            weights = self.market.vacancies[local] / self.market.vacancies[local].sum()
            employer = local[rng.choice(len(local), size=n, p=weights)]
            out.append(self._offers(pick, employer, np.full(n, programme.bonus_usd), OfferKind.RETURN))
        return out

    def _offers(self, researcher: np.ndarray, employer, bonus: np.ndarray, kind: int) -> Offers:
        employer = np.broadcast_to(np.asarray(employer, dtype=np.int16), researcher.shape).copy()
        return Offers(
            researcher=researcher.astype(np.int64),
            employer=employer,
            region=self.employer_region[employer].astype(np.int8),
            bonus_usd=np.asarray(bonus, dtype=float),
            kind=np.full(len(researcher), kind, dtype=np.int8),
        )

    # 4. Search ----------------------------------------------------------------------------------------------

    def search(self, targeted: Offers) -> ChoiceSets:
        """Decide who searches; give searchers offers from employers with vacancies; rule out infeasible offers.

        Returns the choice sets of the searching researchers: staying, their search offers and the targeted
        offers they received (those of researchers who do not search lapse), each scored with Gumbel noise.
        """
        pop = self.population
        searching = self.streams["search"].random(len(pop)) < self.search_probabilities(targeted)
        who = self.deciders(np.flatnonzero(searching))

        # Slot 0 is staying; the others are the offers the search found.
        found = self.vacancy_offers(who)
        employer = np.concatenate([who.employer[None, :], found])
        region = np.concatenate([who.region[None, :], self.employer_region[found]])
        # Every offer draws its lottery number, needed or not, so odds of 1 leave all other draws unchanged.
        lottery = self.streams["visa"].random(found.shape)
        score = score_choice_sets(who, employer, lottery, self.post_tables())
        score += gumbel(self.streams["choice"], score.shape)

        targeted = targeted.take(searching[targeted.researcher])
        column = np.searchsorted(who.row, targeted.researcher)
        aimed = who.take(column)
        ok = self.feasible(aimed, targeted.employer, targeted.region, self.streams["visa"].random(len(targeted)))
        targeted.score = self.utility(aimed, targeted.employer, targeted.region, bonus_usd=targeted.bonus_usd)
        targeted.score += gumbel(self.streams["choice"], len(targeted))
        return ChoiceSets(
            deciders=who,
            employer=employer,
            region=region,
            score=score,
            targeted=targeted.take(ok),
            targeted_decider=column[ok],
        )

    def search_probabilities(self, targeted: Offers) -> np.ndarray:
        """Return each researcher's probability of searching this step (1 without a post)."""
        pop = self.population
        cfg = self.config.search
        # An employer code of -1 (no post) reads the appended 0.
        dissatisfaction = np.append(self.market_dissatisfaction(), 0.0)[pop.employer]
        p = search_probability(
            cfg.base_rate_per_year,
            self.years_per_step,
            dissatisfaction=dissatisfaction,
            offers_received=np.bincount(targeted.researcher, minlength=len(pop)),
            career_age=pop.career_age,
            tenure=pop.tenure,
            coefficients=(cfg.dissatisfaction, cfg.offers_received, cfg.career_age_per_year, cfg.tenure_per_year),
        )
        p[pop.employer < 0] = 1.0  # researchers without a post are always looking
        return p

    def deciders(self, rows: np.ndarray) -> Deciders:
        """Return the researchers at ``rows`` with the attributes their choice depends on this step."""
        pop = self.population
        employer = pop.employer[rows]
        region = pop.region[rows]
        levers = self.levers
        if levers.bound_region.any() or levers.bound_employer.any():
            # An employer code of -1 (no post) reads the appended 0: no employer restriction.
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
            quality_pay=pop.quality[rows] ** self.config.market.pay_quality_elasticity,
            vesting_usd=np.where(pop.bonus_years_left[rows] > 0, pop.bonus_per_year[rows], np.float32(0.0)),
            permanent=pop.years_in_region[rows] >= levers.permanent_years[region],
            bound=bound,
            b_pay=pop.b_pay[rows].astype(np.float64),
            b_impact=pop.b_impact[rows].astype(np.float64),
            b_home=pop.b_home[rows].astype(np.float64),
            b_net=pop.b_net[rows].astype(np.float64),
        )

    def vacancy_offers(self, who: Deciders) -> np.ndarray:
        """Return the employers of ``search.offers_per_search`` offers per decider (slots x deciders), drawn in
        proportion to vacancies, those in the decider's own region weighted by ``search.local_weight``."""
        vacancies = self.market.vacancies
        if vacancies.sum() <= 0 or not len(who):
            return np.empty((0, len(who)), dtype=np.int16)
        cfg = self.config.search
        regions = np.arange(self.n_regions)
        weight = vacancies * np.where(self.employer_region == regions[:, None], cfg.local_weight, 1.0)
        cumulative = np.cumsum(weight, axis=1)
        cumulative /= cumulative[:, -1:]
        u = self.streams["vacancy_offers"].random((cfg.offers_per_search, len(who)))
        return inverse_cdf(cumulative, who.region, u).astype(np.int16)

    def feasible(self, who: Deciders, employer: np.ndarray, region: np.ndarray, lottery: np.ndarray) -> np.ndarray:
        """Return which offers can be taken: open positions, visa lotteries won, no exit restriction.

        ``employer``, ``region`` and ``lottery`` have the deciders' shape or (slots, deciders).
        """
        ok = (employer != who.employer) & (self.market.vacancies[employer] > 0)
        needs_visa = (region != who.region) & (region != who.origin)
        ok &= ~needs_visa | (lottery < self.levers.visa_odds[region, who.origin])
        ok &= ~(who.bound & (region != who.region))
        return ok

    def post_tables(self) -> PostTables:
        """Return this step's lookup tables for scoring choice sets (the lever-dependent ones are rebuilt only
        when the levers change)."""
        mkt = self.market
        levers = self.levers
        n = self.n_regions
        key = (levers.climate.tobytes(), levers.visa_odds.tobytes())
        if self._lever_tables is None or self._lever_tables[0] != key:
            prefs = self.config.preferences
            tables = lever_tables(
                self.post_region,
                visa_friction=self.visa_friction,
                climate=levers.climate,
                visa_odds=levers.visa_odds,
                move_cost_region=prefs.move_cost_region,
                move_cost_employer=prefs.move_cost_employer,
            )
            self._lever_tables = (key, tables)
        cost, odds, home = self._lever_tables[1]
        # Employers without a vacancy cannot hire: no lottery number wins odds of 0.
        hiring = np.append(mkt.vacancies > 0, np.zeros(n, dtype=bool))
        return PostTables(
            n_regions=n,
            pay_usd=mkt.pay_usd_median,
            unplaced_pay_usd=self.unplaced_pay,
            impact=np.concatenate([mkt.impact, self.unplaced_impact]),
            home=home,
            network=self.network[np.arange(n)[None, :], self.post_region[:, None]].ravel(),
            cost=cost,
            odds=(odds.reshape(len(hiring), -1) * hiring[:, None]).ravel(),
        )

    # 5. Choice ----------------------------------------------------------------------------------------------

    def utility(
        self,
        who: Deciders,
        employer: np.ndarray,
        region: np.ndarray,
        *,
        staying: bool = False,
        bonus_usd: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return the systematic utility of alternatives for the deciders ``who``.

        ``employer`` and ``region`` have the deciders' shape or (slots, deciders). ``staying`` says they are
        the deciders' current posts (a stay pays any bonus still vesting); ``bonus_usd`` is each offer's signing
        bonus or return package. ``offers.score_choice_sets`` computes the same for a step's choice sets, faster.
        """
        mkt = self.market
        cfg = self.config
        prefs = cfg.preferences
        pay = mkt.pay_usd_median[employer] * who.quality_pay
        impact = mkt.impact[employer]
        placed = employer >= 0
        if not placed.all():  # staying without a post: the region's pay and impact outside research posts
            pay = np.where(placed, pay, self.unplaced_pay[region])
            impact = np.where(placed, impact, self.unplaced_impact[region])
        if bonus_usd is not None:
            pay += bonus_usd / cfg.market.bonus_amortisation_years
        if staying:
            pay += who.vesting_usd
        moving = region != who.region
        changing_employer = ~moving & (who.employer >= 0) & (not staying)
        permanent = ~moving & who.permanent
        at_home = region == who.origin
        cost = (
            prefs.move_cost_region * moving
            + prefs.move_cost_employer * changing_employer
            + self.visa_friction[region] * (~at_home & ~permanent)
            + self.levers.climate[region, who.origin]
        )
        return offer_utility(
            b_pay=who.b_pay,
            b_impact=who.b_impact,
            b_home=who.b_home,
            b_net=who.b_net,
            pay_usd=pay,
            impact=impact,
            at_home=at_home,
            network=self.network[who.origin, region],
            cost=cost,
        )

    def offer_utilities(self, offers: Offers) -> np.ndarray:
        """Return the systematic utility of alternatives given as rows (for inspection and checks)."""
        out = np.empty(len(offers))
        who = self.deciders(offers.researcher)
        stay = offers.kind == OfferKind.STAY
        out[stay] = self.utility(who.take(stay), offers.employer[stay], offers.region[stay], staying=True)
        move = ~stay
        out[move] = self.utility(
            who.take(move), offers.employer[move], offers.region[move], bonus_usd=offers.bonus_usd[move]
        )
        return out

    def choose(self, choices: ChoiceSets) -> np.ndarray:
        """Return the alternative each deciding researcher chooses: the highest utility plus Gumbel noise (logit)."""
        return choices.choose()

    # 6. Matching under capacity -----------------------------------------------------------------------------

    def match(self, choices: ChoiceSets, chosen: np.ndarray) -> tuple[Offers, ChoiceSets]:
        """Let employers keep their highest-quality acceptors up to their vacancies.

        Returns the accepted moves, and the choice sets left for a further round: those of rejected
        researchers, without the offer that rejected them or any employer now full.
        """
        picks = choices.picked(chosen)
        moving = picks.kind != OfferKind.STAY
        acceptors = picks.take(moving)
        vacancies = self.market.vacancies
        accepted = match_under_capacity(acceptors.employer, self.population.quality[acceptors.researcher], vacancies)
        hired = acceptors.take(accepted)
        vacancies -= np.bincount(hired.employer, minlength=len(vacancies))
        rejected = np.zeros(len(choices), dtype=bool)
        rejected[np.flatnonzero(moving)[~accepted]] = True
        return hired, choices.after_rejection(rejected, chosen, vacancies)

    # 7. Updates ---------------------------------------------------------------------------------------------

    def update(self, moves: Offers) -> None:
        """Move hired researchers; age everyone; vest bonuses; let employers adapt their pay."""
        pop = self.population
        cfg = self.config
        i = moves.researcher
        old_employer = pop.employer[i]
        self.recorder.flows_at(self.step_count, pop.region[i], moves.region, pop.origin[i])
        departures = np.bincount(old_employer[old_employer >= 0], minlength=len(self.employers))
        arrivals = np.bincount(moves.employer, minlength=len(self.employers))
        changed_region = moves.region != pop.region[i]
        pop.years_in_region[i[changed_region]] = 0.0
        pop.employer[i] = moves.employer
        pop.region[i] = moves.region
        pop.tenure[i] = 0.0
        has_bonus = moves.bonus_usd > 0
        pop.bonus_per_year[i] = np.where(has_bonus, moves.bonus_usd / cfg.market.bonus_amortisation_years, 0.0)
        pop.bonus_years_left[i] = np.where(has_bonus, cfg.market.bonus_amortisation_years, 0.0)

        years = self.years_per_step
        pop.career_age += years
        pop.tenure += years
        pop.years_in_region += years
        pop.bonus_years_left -= years
        abroad = pop.region != pop.origin
        gaining = abroad & (pop.years_abroad < cfg.population.abroad_quality_gain_years)
        # Whole-column operations (x * 1 and x + 0 leave the others exactly as they were).
        pop.quality *= np.where(gaining, math.exp(cfg.population.abroad_quality_gain_per_year * years), 1.0)
        pop.years_abroad += np.where(abroad, np.float32(years), np.float32(0.0))

        self.count_staff()
        for employer in self.employers:
            employer.arrivals = int(arrivals[employer.index])
            employer.departures = int(departures[employer.index])
            employer.adapt()

    # 8. Observation -----------------------------------------------------------------------------------------

    def observe(self, moves: Offers) -> None:
        """Record the step's counts by region, origin and tier, employers and graduate cohorts."""
        pop = self.population
        step = self.step_count
        top, elite = quantiles(pop.quality, [self.config.population.top_tier_quantile, self.config.population.elite_quantile])
        self.recorder.stocks_at(step, pop, top, elite)
        top_headcount = np.bincount(pop.employer[(pop.quality >= top) & (pop.employer >= 0)], minlength=len(self.employers))
        values = np.array(
            [
                [
                    e.headcount,
                    top_headcount[e.index],
                    e.positions,
                    e.pay_multiplier,
                    e.arrivals if step else 0,
                    e.departures if step else 0,
                    e.peer_quality,
                    e.state_funding_usd / 1e6,
                ]
                for e in self.employers
            ]
        )
        self.recorder.employers_at(step, values)
        self.recorder.cohorts_at(step, pop)

    # ----------------------------------------------------------------------------------------------------------
    # Quantities derived from the state

    def count_staff(self) -> None:
        """Set each employer's headcount and peer quality from the population."""
        headcount = self.headcounts()
        peer = self.peer_quality(headcount)
        for employer in self.employers:
            employer.headcount = int(headcount[employer.index])
            employer.peer_quality = float(peer[employer.index])

    def headcounts(self) -> np.ndarray:
        """Return researchers employed by each employer."""
        return np.bincount(self.population.employer + 1, minlength=len(self.employers) + 1)[1:]

    def peer_quality(self, headcount: np.ndarray) -> np.ndarray:
        """Return each employer's mean staff quality relative to the population median (1 if empty)."""
        pop = self.population
        total = np.bincount(pop.employer + 1, weights=pop.quality, minlength=len(self.employers) + 1)[1:]
        median = self.median_quality
        return np.where(headcount > 0, total / np.maximum(headcount, 1) / median, 1.0)

    def quality_thresholds(self) -> tuple[float, dict[float, float]]:
        """Return the population's median quality, and the quality at each signing-bonus target quantile in
        force (one partial sort for all of them)."""
        targets = sorted({p.target_quantile for p in self.levers.signing_bonus if p is not None})
        values = quantiles(self.population.quality, [0.5, *targets])
        return float(values[0]), {q: float(v) for q, v in zip(targets, values[1:])}

    def state_funding_by_employer(self, headcount: np.ndarray) -> np.ndarray:
        """Return state funding (USD/year) reaching each employer: its own plus its share of its region's."""
        funding = self.levers.state_funding_employer_usd.copy()
        for region, total in enumerate(self.levers.state_funding_region_usd):
            if total <= 0:
                continue
            members = self.state_backed & (self.employer_region == region)
            weight = np.where(members, np.maximum(headcount, 1), 0).astype(float)
            if weight.sum() > 0:
                funding += total * weight / weight.sum()
        return funding

    def employer_arrays(self, headcount: np.ndarray) -> EmployerArrays:
        """Return pay, research impact and vacancies of every employer for this step."""
        cfg = self.config
        weights = cfg.preferences.impact_weights
        r = self.employer_region
        spec = [e.spec for e in self.employers]
        base_funding = np.array([s.funding_usd_per_researcher for s in spec])
        private = ~self.state_backed
        real_headcount = np.maximum(headcount, 1) * self.scale
        state_share = 1.0 - cfg.market.state_funding_position_share
        funding = (
            base_funding * np.where(private, self.levers.investment[r], 1.0)
            + np.array([e.state_funding_usd for e in self.employers]) * state_share / real_headcount
        )
        compute = np.array([s.compute_per_researcher for s in spec]) * self.levers.compute_access[r]
        peer = self.peer_quality(headcount)
        impact = (
            weights.compute * np.log(np.maximum(compute, 1e-3))
            + weights.funding * np.log(np.maximum(funding, 1.0) / 1e5)
            + weights.peers * np.log(np.maximum(peer, 1e-3))
        )
        pay = np.array([s.base_pay_usd * e.pay_multiplier for s, e in zip(spec, self.employers)])
        positions = np.array([e.positions for e in self.employers])
        self.co_nationals = self._co_nationals()
        self.network = np.log1p(self.co_nationals)
        return EmployerArrays(
            region=r,
            pay_usd_median=pay,
            impact=impact,
            vacancies=np.maximum(positions - headcount, 0).astype(np.int64),
            headcount=headcount,
        )

    def _co_nationals(self) -> np.ndarray:
        """Return researchers of each origin in each region, per ``market.network_per`` researchers (origin x region)."""
        pop = self.population
        r = self.n_regions
        counts = np.bincount(pop.origin.astype(np.int64) * r + pop.region, minlength=r * r).reshape(r, r)
        return counts / max(len(pop), 1) * self.config.market.network_per

    def market_dissatisfaction(self) -> np.ndarray:
        """Return, per employer, how far its pay and impact lag the headcount-weighted market, in utility units."""
        prefs = self.config.preferences.default
        mkt = self.market
        value = prefs.pay.mean * np.log(mkt.pay_usd_median) + prefs.impact.mean * mkt.impact
        weight = np.maximum(mkt.headcount, 0)
        reference = float((value * weight).sum() / max(weight.sum(), 1))
        return np.maximum(reference - value, 0.0)
