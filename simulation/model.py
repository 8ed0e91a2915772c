"""The talent-market model: a Mesa ``Model`` whose step is the ordered list of phases in docs/model.md."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields

import mesa
import numpy as np

from .employers import Employer, EmployerArrays
from .market import (
    OfferKind,
    choose_best,
    match_under_capacity,
    offer_utility,
    search_probability,
    stochastic_round,
)
from .observe import Recorder
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
class Offers:
    """Alternatives weighed by researchers, one row each (a stay row per deciding researcher)."""

    researcher: np.ndarray  # int64 row in the population
    employer: np.ndarray  # int16; -1 for staying without a post
    region: np.ndarray  # int8
    bonus_usd: np.ndarray  # float64, signing bonus or return package
    kind: np.ndarray  # int8, OfferKind
    score: np.ndarray | None = None  # utility plus Gumbel noise, once evaluated

    @classmethod
    def empty(cls) -> Offers:
        return cls(
            np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, np.int8), np.empty(0), np.empty(0, np.int8),
            np.empty(0),
        )

    @classmethod
    def concat(cls, parts: list[Offers]) -> Offers:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        has_score = all(p.score is not None for p in parts)
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls) if f.name != "score"),
            score=np.concatenate([p.score for p in parts]) if has_score else None,
        )

    def take(self, mask: np.ndarray) -> Offers:
        return Offers(
            *(getattr(self, f.name)[mask] for f in fields(self) if f.name != "score"),
            score=None if self.score is None else self.score[mask],
        )

    def __len__(self) -> int:
        return len(self.researcher)


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
        self.thresholds, self.target_thresholds = self.quality_thresholds()
        self.market = self.employer_arrays(headcount)
        self.recorder = Recorder(self.n_steps, self.n_regions, len(self.employers), self.start.year, scenario.run.end.year)
        self.observe(Offers.empty())

    # ----------------------------------------------------------------------------------------------------------
    # The step

    def step(self) -> None:
        """Advance one step: the eight phases, in order."""
        self.step_count += 1
        self.apply_policy_schedule()
        self.enter_and_exit()
        offers = self.post_offers()
        offers = self.search(offers)
        hires = []
        for _ in range(self.config.search.matching_rounds):
            chosen = self.choose(offers)
            hired, offers = self.match(offers, chosen)
            hires.append(hired)
            if not len(offers):
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
        yearly = np.where(
            pop.career_age >= exits.retirement_career_age_years, exits.retirement_hazard_per_year, exits.hazard_per_year
        )
        yearly = np.where(pop.employer < 0, np.maximum(yearly, exits.unplaced_hazard_per_year), yearly)
        leaving = self.streams["exit"].random(len(pop)) < 1.0 - (1.0 - yearly) ** self.years_per_step
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
        self.thresholds, self.target_thresholds = self.quality_thresholds()
        self.market = self.employer_arrays(headcount)
        return Offers.concat([*self.bonus_offers(), *self.return_offers()])

    def bonus_offers(self) -> list[Offers]:
        """Return each employer's signing-bonus offers to researchers above its quality threshold."""
        pop = self.population
        out = []
        for employer in self.employers:
            policy = employer.bonus_policy
            if policy is None or policy.budget_usd_m_per_year <= 0 or self.market.vacancies[employer.index] <= 0:
                continue
            rng = self.bonus_streams[employer.index]
            threshold = self.target_thresholds[policy.target_quantile]
            eligible = np.flatnonzero((pop.quality >= threshold) & (pop.employer != employer.index))
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

    def search(self, targeted: Offers) -> Offers:
        """Decide who searches; give searchers offers from employers with vacancies; drop infeasible offers.

        Returns every feasible alternative of every searching researcher, a stay row included.
        """
        pop = self.population
        cfg = self.config.search
        received = np.bincount(targeted.researcher, minlength=len(pop))
        placed = pop.employer >= 0
        dissatisfaction = np.where(placed, self.market_dissatisfaction()[pop.employer], 0.0)
        p = search_probability(
            cfg.base_rate_per_year,
            self.years_per_step,
            dissatisfaction=dissatisfaction,
            offers_received=received,
            career_age=pop.career_age,
            tenure=pop.tenure,
            coefficients=(cfg.dissatisfaction, cfg.offers_received, cfg.career_age_per_year, cfg.tenure_per_year),
        )
        p[~placed] = 1.0  # researchers without a post are always looking
        searching = self.streams["search"].random(len(pop)) < p
        searchers = np.flatnonzero(searching)

        parts = [targeted.take(searching[targeted.researcher]), *self.vacancy_offers(searchers)]
        offers = Offers.concat(parts)
        offers = offers.take(self.feasible(offers))
        stay = Offers(
            researcher=searchers.astype(np.int64),
            employer=pop.employer[searchers],
            region=pop.region[searchers],
            bonus_usd=np.zeros(len(searchers)),
            kind=np.full(len(searchers), OfferKind.STAY, dtype=np.int8),
        )
        offers = Offers.concat([stay, offers])
        offers.score = self.utility(offers) + self.streams["choice"].gumbel(size=len(offers))
        return offers

    def vacancy_offers(self, searchers: np.ndarray) -> list[Offers]:
        """Return ``search.offers_per_search`` offers per searcher, drawn from employers in proportion to their
        vacancies, those in the searcher's own region weighted by ``search.local_weight``."""
        vacancies = self.market.vacancies.astype(float)
        if vacancies.sum() <= 0 or not len(searchers):
            return []
        cfg = self.config.search
        rng = self.streams["vacancy_offers"]
        here = self.population.region[searchers]
        out = []
        for region in range(self.n_regions):
            who = np.repeat(searchers[here == region], cfg.offers_per_search)
            if not len(who):
                continue
            weight = vacancies * np.where(self.employer_region == region, cfg.local_weight, 1.0)
            employer = rng.choice(len(weight), size=len(who), p=weight / weight.sum())
            out.append(self._offers(who, employer, np.zeros(len(who)), OfferKind.VACANCY))
        return out

    def feasible(self, offers: Offers) -> np.ndarray:
        """Return which offers can be taken: open positions, visa lotteries won, no exit restriction."""
        pop = self.population
        i = offers.researcher
        origin, here = pop.origin[i], pop.region[i]
        ok = (offers.employer != pop.employer[i]) & (self.market.vacancies[offers.employer] > 0)
        # Every offer draws its lottery number, needed or not, so odds of 1 leave all other draws unchanged.
        lottery = self.streams["visa"].random(len(offers))
        needs_visa = (offers.region != here) & (offers.region != origin)
        ok &= ~needs_visa | (lottery < self.levers.visa_odds[offers.region, origin])
        employer_bound = np.where(pop.employer[i] >= 0, self.levers.bound_employer[pop.employer[i]], 0.0)
        bound = pop.bound_draw[i] < np.maximum(self.levers.bound_region[here], employer_bound)
        ok &= ~(bound & (offers.region != here))
        return ok

    # 5. Choice ----------------------------------------------------------------------------------------------

    def utility(self, offers: Offers) -> np.ndarray:
        """Return the systematic utility of each alternative for the researcher it is offered to."""
        pop = self.population
        mkt = self.market
        cfg = self.config
        i = offers.researcher
        e = offers.employer.astype(np.int64)
        r = offers.region.astype(np.int64)
        origin = pop.origin[i].astype(np.int64)
        here = pop.region[i]
        placed = e >= 0
        safe_e = np.where(placed, e, 0)
        quality_pay = pop.quality[i] ** cfg.market.pay_quality_elasticity
        pay = np.where(placed, mkt.pay_usd_median[safe_e] * quality_pay, self.unplaced_pay[r])
        staying = offers.kind == OfferKind.STAY
        vesting = np.where(pop.bonus_years_left[i] > 0, pop.bonus_per_year[i], 0.0)
        pay = pay + np.where(staying, vesting, offers.bonus_usd / cfg.market.bonus_amortisation_years)
        impact = np.where(placed, mkt.impact[safe_e], self.unplaced_impact[r])

        moving_region = r != here
        changing_employer = ~staying & ~moving_region & (pop.employer[i] >= 0)
        permanent = (r == here) & (pop.years_in_region[i] >= self.levers.permanent_years[r])
        on_visa = (r != origin) & ~permanent
        cost = (
            cfg.preferences.move_cost_region * moving_region
            + cfg.preferences.move_cost_employer * changing_employer
            + self.visa_friction[r] * on_visa
            + self.levers.climate[r, origin]
        )
        return offer_utility(
            b_pay=pop.b_pay[i],
            b_impact=pop.b_impact[i],
            b_home=pop.b_home[i],
            b_net=pop.b_net[i],
            pay_usd=pay,
            impact=impact,
            at_home=r == origin,
            co_nationals=self.co_nationals[origin, r],
            cost=cost,
        )

    def choose(self, offers: Offers) -> np.ndarray:
        """Return the row each deciding researcher chooses: the highest utility plus Gumbel noise (logit)."""
        return choose_best(offers.score, offers.researcher)

    # 6. Matching under capacity -----------------------------------------------------------------------------

    def match(self, offers: Offers, chosen: np.ndarray) -> tuple[Offers, Offers]:
        """Let employers keep their highest-quality acceptors up to their vacancies.

        Returns the accepted moves, and the offers left for a further round: those of rejected
        researchers, without the offer that rejected them or any employer now full.
        """
        picks = offers.take(chosen)
        acceptors = picks.take(picks.kind != OfferKind.STAY)
        vacancies = self.market.vacancies
        accepted = match_under_capacity(acceptors.employer, self.population.quality[acceptors.researcher], vacancies)
        hired = acceptors.take(accepted)
        vacancies -= np.bincount(hired.employer, minlength=len(vacancies))
        rejected = np.zeros(len(self.population), dtype=bool)
        rejected[acceptors.researcher[~accepted]] = True
        remaining = np.ones(len(offers), dtype=bool)
        remaining[chosen] = False
        remaining &= rejected[offers.researcher]
        is_stay = offers.kind == OfferKind.STAY
        remaining &= is_stay | (vacancies[offers.employer] > 0)
        return hired, offers.take(remaining)

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

        headcount = self.headcounts()
        peer = self.peer_quality(headcount)
        for employer in self.employers:
            employer.headcount = int(headcount[employer.index])
            employer.peer_quality = float(peer[employer.index])
            employer.arrivals = int(arrivals[employer.index])
            employer.departures = int(departures[employer.index])
            employer.adapt()

    # 8. Observation -----------------------------------------------------------------------------------------

    def observe(self, moves: Offers) -> None:
        """Record the step's counts by region, origin and tier, employers and graduate cohorts."""
        pop = self.population
        step = self.step_count
        top, elite = np.quantile(pop.quality, [self.config.population.top_tier_quantile, self.config.population.elite_quantile])
        self.recorder.stocks_at(step, pop, top, elite)
        headcount = self.headcounts()
        top_headcount = np.bincount(pop.employer[(pop.quality >= top) & (pop.employer >= 0)], minlength=len(self.employers))
        peer = self.peer_quality(headcount)
        values = np.array(
            [
                [
                    headcount[e.index],
                    top_headcount[e.index],
                    e.positions,
                    e.pay_multiplier,
                    e.arrivals if step else 0,
                    e.departures if step else 0,
                    peer[e.index],
                    e.state_funding_usd / 1e6,
                ]
                for e in self.employers
            ]
        )
        self.recorder.employers_at(step, values)
        self.recorder.cohorts_at(step, pop)

    # ----------------------------------------------------------------------------------------------------------
    # Quantities derived from the state

    def headcounts(self) -> np.ndarray:
        """Return researchers employed by each employer."""
        return np.bincount(self.population.employer + 1, minlength=len(self.employers) + 1)[1:]

    def peer_quality(self, headcount: np.ndarray) -> np.ndarray:
        """Return each employer's mean staff quality relative to the population median (1 if empty)."""
        pop = self.population
        total = np.bincount(pop.employer + 1, weights=pop.quality, minlength=len(self.employers) + 1)[1:]
        median = self.thresholds["median"]
        return np.where(headcount > 0, total / np.maximum(headcount, 1) / median, 1.0)

    def quality_thresholds(self) -> tuple[dict[str, float], dict[float, float]]:
        """Return the population's median, top-tier and elite quality thresholds, and the quality at each
        signing-bonus target quantile in force (one partial sort for all of them)."""
        pop_cfg = self.config.population
        targets = sorted({p.target_quantile for p in self.levers.signing_bonus if p is not None})
        levels = [0.5, pop_cfg.top_tier_quantile, pop_cfg.elite_quantile, *targets]
        values = np.quantile(self.population.quality, levels)
        named = {"median": float(values[0]), "top_tier": float(values[1]), "elite": float(values[2])}
        return named, {q: float(v) for q, v in zip(targets, values[3:])}

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
