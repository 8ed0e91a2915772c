"""The talent-market model: a Mesa ``Model`` whose step is the ordered list of phases in docs/model.md.

Each phase is a mechanism in a module of its own (``levers``, ``demography``, ``posts``, ``targeted``, ``search``,
``choice``, ``matching``, ``updates``, ``observe``); the model holds the state and orders the phases.
"""

from __future__ import annotations

import datetime as dt
import zlib

import mesa
import numpy as np

from .choice import Offers
from .demography import enter_and_exit
from .employers import Employer, EmployerArrays
from .levers import levers_at, policy_keys
from .market import weighted_quantiles
from .matching import match
from .observe import Recorder, observe
from .population import draw_initial_population
from .posts import Posts
from .scenario import Scenario
from .search import Search
from .targeted import TargetedOffers
from .updates import adapt_pay, update

__all__ = ["Offers", "TalentModel", "add_months"]

# Named random streams: a lever that draws more numbers from its own stream leaves every other
# stream's draws unchanged, so "policy vs baseline" differences are the policy, not noise.
STREAMS = ("init", "entry", "exit", "search", "vacancy_offers", "visa", "choice", "visibility")


def add_months(month: dt.date, months: int) -> dt.date:
    """Return the first day of the month ``months`` after ``month``."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


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
        self.streams = {name: np.random.default_rng(s) for name, s in zip(STREAMS, root.spawn(len(STREAMS)))}

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

        self.levers = levers_at(scenario, self.month)
        # Each targeted-offer policy draws from a stream named after it, so adding one leaves the others' draws alone.
        self.targeted = TargetedOffers(
            len(policy_keys(scenario)),
            self.scale,
            scenario.market.target_selection_noise,
            [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, zlib.crc32("/".join(k).encode()))))
             for k in policy_keys(scenario)],
            self.streams["visibility"],
        )
        self.search = Search(self)
        headcount = self.headcounts()
        self.posts = Posts(headcount, self.scale, scenario, self.levers, self.state_backed, self.employer_region)
        self.thresholds = self.quality_thresholds()
        self.set_posts(headcount)
        self.count_staff()
        self.recorder = Recorder(self.n_steps, self.n_regions, len(self.employers), self.start.year, scenario.run.end.year)
        self.observe(Offers.empty())

    # ----------------------------------------------------------------------------------------------------------
    # The step

    def step(self) -> None:
        """Advance one step: the phases, in order."""
        self.apply_policy_schedule()
        self.enter_and_exit()
        targeted = self.open_posts_and_make_offers()
        choices = self.search.step(targeted)
        hires = self.choose_and_match(choices)
        self.update(hires)
        self.observe(hires)
        self.advance_clock()

    def apply_policy_schedule(self) -> None:
        """1. Give every lever the value its schedule sets for this step's month."""
        self.step_count += 1
        self.levers = levers_at(self.config, self.month)

    def enter_and_exit(self) -> None:
        """2. Researchers leave research; new PhD graduates enter (``demography``)."""
        self.exits_by_employer = enter_and_exit(self)

    def open_posts_and_make_offers(self) -> Offers:
        """3. Employers open posts in line with their funding and compute (``posts``); policies make targeted offers
        (``targeted``)."""
        self.set_posts(self.headcounts())
        return self.targeted.offers(self, self.levers, self.month.year)

    def choose_and_match(self, choices) -> Offers:
        """5-6. Researchers choose (multinomial logit); targeted offers bring their own post, vacancies are matched
        under capacity, and rejected researchers choose again (``choice``, ``matching``)."""
        pop = self.population
        hires = []
        for _ in range(self.config.search.matching_rounds):
            hired, choices = match(choices, choices.choose(), pop.quality, pop.weight, self.market.vacancies)
            hires.append(hired)
            if not len(choices):
                break
        hires = Offers.concat(hires)
        targeted = hires.policy >= 0
        self.posts.add_targeted(hires.employer[targeted], pop.weight[hires.researcher[targeted]])
        for employer in self.employers:
            employer.positions = float(self.posts.posts[employer.index])
        self.targeted.commit(hires, pop.weight[hires.researcher])
        return hires

    def update(self, hires: Offers) -> None:
        """7. Hired researchers move, everyone ages, bonuses vest; employers adapt their pay (``updates``)."""
        for employer in self.employers:
            employer.staff_before = employer.headcount
        arrivals, departures = update(self, hires)
        self.count_staff()
        adapt_pay(self.employers, arrivals, departures, self.exits_by_employer)

    def observe(self, hires: Offers) -> None:
        """8. Record the step's counts and flows (``observe``)."""
        if self.step_count == 0:
            for employer in self.employers:
                employer.staff_before = employer.headcount
        observe(self, hires)

    def advance_clock(self) -> None:
        """Move the calendar on one step; stop at the end of the run."""
        self.month = add_months(self.month, self.config.run.step_months)
        if self.step_count >= self.n_steps:
            self.running = False

    # ----------------------------------------------------------------------------------------------------------
    # Quantities derived from the state

    def set_posts(self, headcount: np.ndarray) -> None:
        """Set every employer's posts from its funding and compute, and the step's market arrays."""
        posts = self.posts.step(self.levers, headcount)
        for employer in self.employers:
            employer.positions = float(posts[employer.index])
            employer.state_funding_usd = float(self.posts.state_usd[employer.index])
        self.market = self.employer_arrays(headcount)

    def count_staff(self) -> None:
        """Set each employer's headcount and peer quality from the population."""
        headcount = self.headcounts()
        peer = self.peer_quality(headcount)
        for employer in self.employers:
            employer.headcount = float(headcount[employer.index])
            employer.peer_quality = float(peer[employer.index])

    def headcounts(self) -> np.ndarray:
        """Return the (weighted) researchers employed by each employer."""
        pop = self.population
        return np.bincount(pop.employer + 1, weights=pop.weight, minlength=len(self.employers) + 1)[1:]

    def peer_quality(self, headcount: np.ndarray) -> np.ndarray:
        """Return each employer's mean staff quality relative to the population median (1 if empty)."""
        pop = self.population
        total = np.bincount(pop.employer + 1, weights=pop.quality * pop.weight, minlength=len(self.employers) + 1)[1:]
        median = self.thresholds[0.5]
        return np.where(headcount > 0, total / np.maximum(headcount, 1e-12) / median, 1.0)

    def quality_thresholds(self) -> dict[float, float]:
        """Return the quality at the median, at each tier's quantile and at each signing-bonus target quantile
        (weighted quantiles of the whole population, from one pass)."""
        cfg = self.config
        levels = {0.5, cfg.population.top_tier_quantile, cfg.population.elite_quantile, cfg.population.frontier_quantile}
        for table in cfg.levers.signing_bonus.values():
            for schedule in table.values():
                levels.update(step.value.target_quantile for step in schedule)
        levels = sorted(levels)
        values = weighted_quantiles(self.population.quality, self.population.weight, levels)
        return {q: float(v) for q, v in zip(levels, values)}

    def employer_arrays(self, headcount: np.ndarray) -> EmployerArrays:
        """Return pay, research impact and vacancies of every employer for this step."""
        weights = self.config.preferences.impact_weights
        r = self.employer_region
        spec = [e.spec for e in self.employers]
        compute = np.array([s.compute_per_researcher for s in spec]) * self.levers.compute_access[r]
        peer = self.peer_quality(headcount)
        impact = (
            weights.compute * np.log(np.maximum(compute, 1e-3))
            + weights.funding * np.log(np.maximum(self.posts.funding_per_researcher(), 1.0) / 1e5)
            + weights.peers * np.log(np.maximum(peer, 1e-3))
        )
        pay = np.array([s.base_pay_usd * e.pay_multiplier for s, e in zip(spec, self.employers)])
        self.co_nationals = self._co_nationals()
        self.network = np.log1p(self.co_nationals)
        return EmployerArrays(
            region=r,
            pay_usd_median=pay,
            impact=impact,
            vacancies=np.maximum(self.posts.posts - headcount, 0.0),
            headcount=headcount,
        )

    def _co_nationals(self) -> np.ndarray:
        """Return researchers of each origin in each region, per ``market.network_per`` researchers (origin x region)."""
        pop = self.population
        r = self.n_regions
        cell = pop.origin.astype(np.int16)  # two bytes a researcher hold every code (regions fit in int8)
        cell *= r
        cell += pop.region
        counts = np.bincount(cell, weights=pop.weight, minlength=r * r).reshape(r, r)
        return counts / max(float(pop.weight.sum()), 1e-12) * self.config.market.network_per

    def market_dissatisfaction(self) -> np.ndarray:
        """Return, per employer, how far its pay and impact lag the headcount-weighted market, in utility units."""
        prefs = self.config.preferences.default
        mkt = self.market
        value = prefs.pay.mean * np.log(mkt.pay_usd_median) + prefs.impact.mean * mkt.impact
        weight = np.maximum(mkt.headcount, 0)
        reference = float((value * weight).sum() / max(weight.sum(), 1e-12))
        return np.maximum(reference - value, 0.0)
