"""The job-choice step written agent by agent, the idiomatic Mesa way, as a yardstick for the column code.

Each researcher is a ``mesa.Agent`` whose ``step()`` makes that researcher's own search and choice, and the
model schedules them with ``model.agents.shuffle_do("step")``. The maths is that of ``TalentModel.search``,
``TalentModel.feasible``, ``TalentModel.utility`` and ``TalentModel.choose`` for one researcher:

1. search hazard: ``p = 1 - exp(-rate * years)``, ``rate = base * exp(a_d d + a_o offers - a_c age - a_t tenure)``
   (``p = 1`` without a post), and one uniform draw decides whether the researcher searches;
2. the targeted offers the researcher received (signing bonuses, return packages) plus ``offers_per_search``
   offers from employers drawn in proportion to their vacancies, those in the researcher's own region
   weighted by ``search.local_weight``;
3. feasibility: another employer with open positions, a visa lottery won where a visa is needed (every
   offer draws its lottery number), no exit restriction binding a move out of the region;
4. logit choice: systematic utility of every feasible offer and of staying, plus Gumbel noise; the best wins.

The employers' phase before it is shared, not duplicated: ``TalentModel.post_offers`` (the same call the
column step makes) opens vacancies and makes the targeted offers, and ``AgentChoiceModel.step`` hands each
targeted offer to the researcher it is addressed to. Per-step market quantities (pay, impact, vacancies,
lever values) are converted once a step into Python lists, so each agent works on plain floats.

Run ``python benchmarks/agent_by_agent.py`` to check that both versions compute the same utilities and give
the same choice shares within sampling error.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import mesa
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulation.market import OfferKind  # noqa: E402
from simulation.model import TalentModel  # noqa: E402
from simulation.offers import ChoiceSets, Offers  # noqa: E402

__all__ = ["AgentChoiceModel", "ResearcherAgent", "compare_outcomes", "max_utility_difference"]

STAY = OfferKind.STAY
VACANCY = OfferKind.VACANCY


def gumbel(rng) -> float:
    """Return a standard Gumbel draw from a ``random.Random``."""
    return -math.log(-math.log(rng.random() or 1e-300))


class ResearcherAgent(mesa.Agent):
    """One researcher, deciding each step whether to search and which offer, if any, to take."""

    def __init__(self, model: AgentChoiceModel, row: int, state: dict):
        super().__init__(model)
        self.row = row  # the researcher's row in the TalentModel population
        self.origin = state["origin"]
        self.region = state["region"]
        self.employer = state["employer"]
        self.quality = state["quality"]
        self.career_age = state["career_age"]
        self.tenure = state["tenure"]
        self.years_in_region = state["years_in_region"]
        self.bonus_per_year = state["bonus_per_year"]
        self.bonus_years_left = state["bonus_years_left"]
        self.b_pay = state["b_pay"]
        self.b_impact = state["b_impact"]
        self.b_home = state["b_home"]
        self.b_net = state["b_net"]
        self.bound_draw = state["bound_draw"]
        self.offers: list[tuple[int, int, float, int]] = []  # targeted offers: (employer, region, bonus, kind)
        self.searched = False
        self.choice: tuple[int, int, float, int] | None = None  # the alternative chosen this step

    def step(self) -> None:
        """Search with this step's hazard; if searching, choose the best feasible offer or staying."""
        m = self.model
        rng = self.random
        targeted = self.offers
        self.offers = []
        if self.employer >= 0:
            log_rate = (
                m.a_dissatisfaction * m.dissatisfaction[self.employer]
                + m.a_offers * len(targeted)
                - m.a_career_age * self.career_age
                - m.a_tenure * self.tenure
            )
            p = -math.expm1(-m.base_rate * math.exp(log_rate) * m.years)
        else:
            p = 1.0  # researchers without a post are always looking
        self.searched = rng.random() < p
        if not self.searched:
            self.choice = None
            return

        offers = targeted
        if m.total_vacancies > 0:
            drawn = rng.choices(m.employer_codes, cum_weights=m.vacancy_cumulative[self.region], k=m.offers_per_search)
            offers = targeted + [(e, m.employer_region[e], 0.0, VACANCY) for e in drawn]

        stay = (self.employer, self.region, 0.0, STAY)
        best = stay
        best_score = self.utility(*stay) + gumbel(rng)
        for offer in offers:
            if self.feasible(offer[0], offer[1], rng) and (score := self.utility(*offer) + gumbel(rng)) >= best_score:
                best, best_score = offer, score
        self.choice = best

    def feasible(self, employer: int, region: int, rng) -> bool:
        """Return whether an offer can be taken: open positions, visa won if needed, not bound to stay."""
        m = self.model
        lottery = rng.random()  # drawn for every offer, as in the column version
        if employer == self.employer or m.vacancies[employer] <= 0:
            return False
        if region != self.region and region != self.origin and lottery >= m.visa_odds[region][self.origin]:
            return False
        employer_bound = m.bound_employer[self.employer] if self.employer >= 0 else 0.0
        bound = self.bound_draw < max(m.bound_region[self.region], employer_bound)
        return not (bound and region != self.region)

    def utility(self, employer: int, region: int, bonus_usd: float, kind: int) -> float:
        """Return the systematic utility of one alternative (before Gumbel noise)."""
        m = self.model
        placed = employer >= 0
        staying = kind == STAY
        if placed:
            pay = m.pay_usd_median[employer] * self.quality**m.pay_quality_elasticity
            impact = m.impact[employer]
        else:
            pay = m.unplaced_pay[region]
            impact = m.unplaced_impact[region]
        if staying:
            pay += self.bonus_per_year if self.bonus_years_left > 0 else 0.0
        else:
            pay += bonus_usd / m.bonus_amortisation_years
        moving_region = region != self.region
        changing_employer = not staying and not moving_region and self.employer >= 0
        permanent = not moving_region and self.years_in_region >= m.permanent_years[region]
        on_visa = region != self.origin and not permanent
        cost = (
            m.move_cost_region * moving_region
            + m.move_cost_employer * changing_employer
            + m.visa_friction[region] * on_visa
            + m.climate[region][self.origin]
        )
        return (
            self.b_pay * math.log(max(pay, 1.0))
            + self.b_impact * impact
            + self.b_home * (region == self.origin)
            + self.b_net * math.log1p(m.co_nationals[self.origin][region])
            - cost
        )


class AgentChoiceModel(mesa.Model):
    """The choice step of a ``TalentModel``, with one Mesa agent per researcher.

    Args:
        talent: the column model whose population (copied into agents), employers and levers are used;
            set ``talent`` to a copy of the same state, and ``targeted`` to its ``post_offers()``, to run the
            step again from it.
        seed: seed of the agents' random stream.
    """

    STATE = (
        "origin", "region", "employer", "quality", "career_age", "tenure", "years_in_region",
        "bonus_per_year", "bonus_years_left", "b_pay", "b_impact", "b_home", "b_net", "bound_draw",
    )

    def __init__(self, talent: TalentModel, seed: int = 0):
        super().__init__(rng=seed)
        self.talent = talent
        self.targeted = Offers.empty()  # set before each step
        cfg = talent.config
        self.years = talent.years_per_step
        self.base_rate = cfg.search.base_rate_per_year
        self.a_dissatisfaction = cfg.search.dissatisfaction
        self.a_offers = cfg.search.offers_received
        self.a_career_age = cfg.search.career_age_per_year
        self.a_tenure = cfg.search.tenure_per_year
        self.offers_per_search = cfg.search.offers_per_search
        self.local_weight = cfg.search.local_weight
        self.pay_quality_elasticity = cfg.market.pay_quality_elasticity
        self.bonus_amortisation_years = cfg.market.bonus_amortisation_years
        self.move_cost_region = cfg.preferences.move_cost_region
        self.move_cost_employer = cfg.preferences.move_cost_employer
        self.unplaced_pay = talent.unplaced_pay.tolist()
        self.unplaced_impact = talent.unplaced_impact.tolist()
        self.visa_friction = talent.visa_friction.tolist()
        self.employer_region = talent.employer_region.tolist()
        self.employer_codes = list(range(len(talent.employers)))

        pop = talent.population
        columns = {name: getattr(pop, name).tolist() for name in self.STATE}
        self.researchers = [
            ResearcherAgent(self, row, {name: columns[name][row] for name in self.STATE}) for row in range(len(pop))
        ]

    def step(self) -> None:
        """Let every researcher search and choose, in random order.

        ``self.targeted`` are this step's signing-bonus and return offers, from ``TalentModel.post_offers`` (the
        employers' phase, which both versions share and run before the researchers' choice step).
        """
        self.read_market()
        targeted = self.targeted
        for row, employer, region, bonus, kind in zip(
            targeted.researcher.tolist(),
            targeted.employer.tolist(),
            targeted.region.tolist(),
            targeted.bonus_usd.tolist(),
            targeted.kind.tolist(),
        ):
            self.researchers[row].offers.append((employer, region, bonus, kind))
        self.agents.shuffle_do("step")

    def read_market(self) -> None:
        """Copy this step's employer and lever values into plain Python lists."""
        talent = self.talent
        mkt = talent.market
        levers = talent.levers
        self.pay_usd_median = mkt.pay_usd_median.tolist()
        self.impact = mkt.impact.tolist()
        self.vacancies = mkt.vacancies.tolist()
        self.total_vacancies = sum(self.vacancies)
        # Cumulative offer weights for a searcher in each region: vacancies, local ones weighted up.
        self.vacancy_cumulative = [
            np.cumsum(mkt.vacancies * np.where(talent.employer_region == region, self.local_weight, 1.0)).tolist()
            for region in range(talent.n_regions)
        ]
        self.dissatisfaction = talent.market_dissatisfaction().tolist()
        self.co_nationals = talent.co_nationals.tolist()
        self.visa_odds = levers.visa_odds.tolist()
        self.climate = levers.climate.tolist()
        self.permanent_years = levers.permanent_years.tolist()
        self.bound_region = levers.bound_region.tolist()
        self.bound_employer = levers.bound_employer.tolist()


def max_utility_difference(
    talent: TalentModel, agents: AgentChoiceModel, choices: ChoiceSets, sample: int = 5000
) -> float:
    """Return the largest absolute gap between column and agent utilities over a sample of alternatives.

    ``choices`` are the choice sets of a column ``search`` made on the same state; ``agents.read_market``
    must have seen the same market.
    """
    offers = choices.alternatives()
    column = talent.offer_utilities(offers)
    rows = np.linspace(0, len(offers) - 1, min(sample, len(offers))).astype(np.int64)
    gap = 0.0
    for k in rows.tolist():
        agent = agents.researchers[int(offers.researcher[k])]
        value = agent.utility(
            int(offers.employer[k]), int(offers.region[k]), float(offers.bonus_usd[k]), int(offers.kind[k])
        )
        gap = max(gap, abs(value - float(column[k])))
    return gap


def column_outcomes(talent: TalentModel, choices: ChoiceSets, chosen: np.ndarray) -> dict[str, int]:
    """Return counts of researchers, searchers, movers and region changes of a column choice step."""
    pop = talent.population
    picks = choices.picked(chosen)
    moving = picks.kind != STAY
    return {
        "researchers": len(pop),
        "searched": len(chosen),
        "moved": int(moving.sum()),
        "changed_region": int((moving & (picks.region != pop.region[picks.researcher])).sum()),
    }


def agent_outcomes(agents: AgentChoiceModel) -> dict[str, int]:
    """Return counts of researchers, searchers, movers and region changes of an agent choice step."""
    searched = moved = changed = 0
    for agent in agents.researchers:
        searched += agent.searched
        if agent.choice is not None and agent.choice[3] != STAY:
            moved += 1
            changed += agent.choice[1] != agent.region
    return {"researchers": len(agents.researchers), "searched": searched, "moved": moved, "changed_region": changed}


def compare_outcomes(column: dict[str, int], agent: dict[str, int]) -> dict[str, dict[str, float]]:
    """Return each outcome's share in both versions and their gap in binomial standard errors.

    Counts may be summed over several steps; ``researchers`` is then the sum of the researchers deciding.
    """
    n_col, n_agent = column["researchers"], agent["researchers"]
    out = {}
    for key in ("searched", "moved", "changed_region"):
        p_col, p_agent = column[key] / n_col, agent[key] / n_agent
        pooled = (column[key] + agent[key]) / (n_col + n_agent)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_col + 1 / n_agent))
        out[key] = {"column_share": p_col, "agent_share": p_agent, "z": (p_agent - p_col) / se}
    return out


def main() -> int:
    """Check, on the baseline, that the agent version computes the column version's choice step."""
    from simulation import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml").with_run(researchers=50_000)
    state = TalentModel(scenario)
    for _ in range(4):
        state.step()
    state.step_count += 1
    state.apply_policy_schedule()
    state.enter_and_exit()

    # post_offers changes the employers, so each version starts from its own copy of the state.
    talent = copy.deepcopy(state)
    choices = talent.search(talent.post_offers())
    column_counts = column_outcomes(talent, choices, talent.choose(choices))
    agents = AgentChoiceModel(talent, seed=1)
    agents.read_market()
    gap = max_utility_difference(talent, agents, choices)
    agent_counts = {"researchers": 0, "searched": 0, "moved": 0, "changed_region": 0}
    for _ in range(10):
        agents.talent = copy.deepcopy(state)
        agents.targeted = agents.talent.post_offers()
        agents.step()
        for key, value in agent_outcomes(agents).items():
            agent_counts[key] += value

    print(f"largest utility gap, column vs agent: {gap:.2e}")
    ok = gap < 1e-6
    for key, row in compare_outcomes(column_counts, agent_counts).items():
        print(f"{key:>15}: column {row['column_share']:.4f}  agent {row['agent_share']:.4f}  z = {row['z']:+.2f}")
        ok &= abs(row["z"]) < 4
    print("same choice step" if ok else "the versions differ")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
