"""The job-choice step written agent by agent, the idiomatic Mesa way, as a yardstick for the column code.

Each researcher is a ``mesa.Agent`` whose ``step()`` makes that researcher's own search and choice, and the
model schedules them with ``model.agents.shuffle_do("step")``. The maths is that of ``Search.step``
(``simulation/search.py``), ``choice.feasible``, ``choice.utility`` (``choice.score_choice_sets`` for the
alternatives a search finds) and ``ChoiceSets.choose`` for one researcher:

1. search hazard: ``p = 1 - exp(-rate * years)``, ``rate = base * exp(a_d d + a_o offers - a_c age - a_t tenure)``
   (``p = 1`` without a post), and one uniform draw decides whether the researcher searches;
2. targeted offers (signing bonuses, return packages) are invitations: a researcher who received any decides
   this step, searching or not, between staying and those offers; a searcher also weighs ``offers_per_search``
   offers from employers drawn in proportion to their vacancies, those in the researcher's own region weighted
   by ``search.local_weight``;
3. feasibility (every offer draws its lottery number): another employer; no exit restriction binding a move out
   of the region; where a visa is needed, a lottery won against ``levers.visa_odds`` for a vacancy, or against
   ``levers.talent_visa_odds`` for a targeted offer; a vacancy also needs its employer to have open posts, while a
   targeted offer brings its own post;
4. logit choice: systematic utility of every feasible offer and of staying, plus Gumbel noise; the best wins.
   Moving to an employer or region under an exit restriction costs ``preferences.restriction_aversion`` x its share.

The employers' phase before it is shared, not duplicated: ``TalentModel.open_posts_and_make_offers`` (the same
call the column step makes) opens posts and makes the targeted offers, and ``AgentChoiceModel.step`` hands each
targeted offer to the researcher it is addressed to. Per-step market quantities (pay, impact, vacancies,
lever values) are converted once a step into Python lists, so each agent works on plain floats. Matching under
capacity (phase 6) follows the choice in the model and is not part of this step.

Run ``python benchmarks/agent_by_agent.py`` to check that both versions compute the same feasibility and
utilities (to 1e-12) and give the same choice shares within sampling error.
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

from simulation.choice import ChoiceSets, Offers, feasible, score_choice_sets  # noqa: E402
from simulation.choice import utility as general_utility  # noqa: E402
from simulation.market import OfferKind  # noqa: E402
from simulation.model import TalentModel  # noqa: E402

__all__ = [
    "AgentChoiceModel", "ResearcherAgent", "agent_outcomes", "check_alternatives", "choice_state", "column_choice_step",
    "column_outcomes", "compare_outcomes",
]

STAY = OfferKind.STAY
VACANCY = OfferKind.VACANCY
TARGETED = OfferKind.TARGETED
OUTCOMES = ("researchers", "searched", "decided", "moved", "changed_region", "took_targeted")


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
        self.decided = False  # searched, or received a targeted offer
        self.choice: tuple[int, int, float, int] | None = None  # the alternative chosen this step

    def step(self) -> None:
        """Search with this step's hazard; if searching or invited, choose the best feasible offer or staying."""
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
        self.decided = self.searched or bool(targeted)
        if not self.decided:
            self.choice = None
            return

        stay = (self.employer, self.region, 0.0, STAY)
        best = stay
        best_score = self.utility(*stay) + gumbel(rng)
        if self.searched and m.total_vacancies > 0:
            drawn = rng.choices(m.employer_codes, cum_weights=m.vacancy_cumulative[self.region], k=m.offers_per_search)
            for e in drawn:
                region = m.employer_region[e]
                if self.feasible(e, region, rng.random(), targeted=False):
                    score = self.utility(e, region, 0.0, VACANCY) + gumbel(rng)
                    if score >= best_score:
                        best, best_score = (e, region, 0.0, VACANCY), score
        # Invitations are weighed by every recipient, searching or not; they win ties, as in the column version.
        for offer in targeted:
            if self.feasible(offer[0], offer[1], rng.random(), targeted=True):
                score = self.utility(*offer) + gumbel(rng)
                if score >= best_score:
                    best, best_score = offer, score
        self.choice = best

    def bound(self) -> bool:
        """Return whether an exit restriction keeps this researcher in the current region."""
        m = self.model
        employer_bound = m.bound_employer[self.employer] if self.employer >= 0 else 0.0
        return self.bound_draw < max(m.bound_region[self.region], employer_bound)

    def feasible(self, employer: int, region: int, lottery: float, *, targeted: bool) -> bool:
        """Return whether an offer can be taken, given its visa lottery number.

        Another employer; a vacancy needs open posts and a visa on the general route, a targeted offer brings
        its own post and crosses on the talent-visa route; an exit restriction forbids leaving the region.
        """
        m = self.model
        if employer == self.employer:
            return False
        if not targeted and m.vacancies[employer] <= 0:
            return False
        if region != self.region and region != self.origin:
            odds = m.talent_visa_odds if targeted else m.visa_odds
            if lottery >= odds[region][self.origin]:
                return False
        return not (region != self.region and self.bound())

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
        if not staying and m.restricted:
            # Joining a restricted employer, or moving into a restricted region, costs the aversion x its share.
            bound_post = m.bound_employer[employer] if placed else 0.0
            cost += m.restriction_aversion * max(bound_post, m.bound_region[region] * moving_region)
        return (
            self.b_pay * math.log(max(pay, 1.0))
            + self.b_impact * impact
            + self.b_home * (region == self.origin)
            + self.b_net * m.network[self.origin][region]
            - cost
        )


class AgentChoiceModel(mesa.Model):
    """The choice step of a ``TalentModel``, with one Mesa agent per researcher.

    Args:
        talent: the column model whose population (copied into agents), employers and levers are used;
            set ``talent`` to a copy of the same state, and ``targeted`` to its ``open_posts_and_make_offers()``,
            to run the step again from it.
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
        self.restriction_aversion = cfg.preferences.restriction_aversion
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

        ``self.targeted`` are this step's signing-bonus and return offers, from
        ``TalentModel.open_posts_and_make_offers`` (the employers' phase, which both versions share and run before
        the researchers' choice step).
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
        self.network = talent.network.tolist()  # ln(1 + co-nationals), origin x region
        self.visa_odds = levers.visa_odds.tolist()
        self.talent_visa_odds = levers.talent_visa_odds.tolist()
        self.climate = levers.climate.tolist()
        self.permanent_years = levers.permanent_years.tolist()
        self.bound_region = levers.bound_region.tolist()
        self.bound_employer = levers.bound_employer.tolist()
        self.restricted = levers.restricted


# ------------------------------------------------------------------------------------------------------------
# The column step, and the checks that both versions compute the same step


def column_choice_step(talent: TalentModel) -> tuple[Offers, ChoiceSets, np.ndarray, np.ndarray]:
    """Run the column employers' phase, search and choice; return the targeted offers, the choice sets, each
    decider's choice and who searched (read from a copy of the search stream, so the step's draws are unchanged)."""
    targeted = talent.open_posts_and_make_offers()
    stream = copy.deepcopy(talent.streams["search"])
    searching = stream.random(len(talent.population)) < talent.search.probabilities(targeted)
    choices = talent.search.step(targeted)
    return targeted, choices, choices.choose(), searching


def check_alternatives(
    talent: TalentModel, agents: AgentChoiceModel, choices: ChoiceSets, targeted: Offers, sample: int = 5000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Compare column and agent feasibility and utilities of the same alternatives, with the same lottery numbers.

    The deciders' choice sets (staying and the offers a search found, through ``score_choice_sets``, the code the
    model runs) for up to ``sample`` deciders, and every targeted offer (through ``choice.feasible`` and
    ``choice.utility``). ``agents.read_market`` must have seen the same market. Returns the alternatives compared,
    the feasibility disagreements and the largest absolute utility gap.
    """
    rng = np.random.default_rng(seed)
    who = choices.deciders
    columns = np.unique(np.linspace(0, len(who) - 1, min(sample, len(who))).astype(np.int64)) if len(who) else []
    block = choices.employer[:, columns]
    sub = who.take(columns)
    lottery = rng.random(block[1:].shape)
    score = score_choice_sets(sub, block, lottery, talent.search.post_tables())

    aimed = who.take(np.searchsorted(who.row, targeted.researcher))
    t_lottery = rng.random(len(targeted))
    t_ok = feasible(talent, aimed, targeted.employer, targeted.region, t_lottery, targeted=True)
    t_utility = general_utility(talent, aimed, targeted.employer, targeted.region, bonus_usd=targeted.bonus_usd)

    region_of = talent.employer_region.tolist()
    compared = mismatches = 0
    gap = 0.0
    for j, column in enumerate(np.asarray(columns).tolist()):
        agent = agents.researchers[int(who.row[column])]
        gap = max(gap, abs(agent.utility(agent.employer, agent.region, 0.0, STAY) - float(score[0, j])))
        compared += 1
        for slot in range(1, len(block)):
            e = int(block[slot, j])
            ok = agent.feasible(e, region_of[e], float(lottery[slot - 1, j]), targeted=False)
            compared += 1
            if ok != bool(np.isfinite(score[slot, j])):
                mismatches += 1
            elif ok:
                gap = max(gap, abs(agent.utility(e, region_of[e], 0.0, VACANCY) - float(score[slot, j])))
    for k in range(len(targeted)):
        agent = agents.researchers[int(targeted.researcher[k])]
        e, r = int(targeted.employer[k]), int(targeted.region[k])
        compared += 1
        if agent.feasible(e, r, float(t_lottery[k]), targeted=True) != bool(t_ok[k]):
            mismatches += 1
        value = agent.utility(e, r, float(targeted.bonus_usd[k]), int(targeted.kind[k]))
        gap = max(gap, abs(value - float(t_utility[k])))
    return {"alternatives": compared, "targeted": len(targeted), "feasibility_mismatches": mismatches, "max_gap": gap}


def column_outcomes(talent: TalentModel, choices: ChoiceSets, chosen: np.ndarray, searching: np.ndarray) -> dict[str, int]:
    """Return counts of researchers, searchers, deciders, movers, region changes and targeted offers taken of a
    column choice step."""
    pop = talent.population
    picks = choices.picked(chosen)
    moving = picks.kind != STAY
    return {
        "researchers": len(pop),
        "searched": int(searching.sum()),
        "decided": len(chosen),
        "moved": int(moving.sum()),
        "changed_region": int((moving & (picks.region != pop.region[picks.researcher])).sum()),
        "took_targeted": int(np.isin(picks.kind, TARGETED).sum()),
    }


def agent_outcomes(agents: AgentChoiceModel) -> dict[str, int]:
    """Return the same counts as ``column_outcomes`` for an agent choice step."""
    searched = decided = moved = changed = took = 0
    for agent in agents.researchers:
        searched += agent.searched
        decided += agent.decided
        if agent.choice is not None and agent.choice[3] != STAY:
            moved += 1
            changed += agent.choice[1] != agent.region
            took += agent.choice[3] in TARGETED
    return {"researchers": len(agents.researchers), "searched": searched, "decided": decided, "moved": moved,
            "changed_region": changed, "took_targeted": took}


def compare_outcomes(column: dict[str, int], agent: dict[str, int]) -> dict[str, dict[str, float]]:
    """Return each outcome's share in both versions and their gap in binomial standard errors.

    Counts may be summed over several steps; ``researchers`` is then the sum of the researchers deciding.
    """
    n_col, n_agent = column["researchers"], agent["researchers"]
    out = {}
    for key in OUTCOMES[1:]:
        p_col, p_agent = column[key] / n_col, agent[key] / n_agent
        pooled = (column[key] + agent[key]) / (n_col + n_agent)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_col + 1 / n_agent))
        out[key] = {"column_share": p_col, "agent_share": p_agent, "z": (p_agent - p_col) / se}
    return out


def choice_state(scenario, warmup: int) -> TalentModel:
    """Return the model after ``warmup`` steps and the next step's policy schedule, exits and entries: the state
    the employers' phase and the choice step start from."""
    state = TalentModel(scenario)
    for _ in range(warmup):
        state.step()
    state.apply_policy_schedule()
    state.enter_and_exit()
    return state


MAX_UTILITY_GAP = 1e-12
MAX_Z = 4.0
# (scenario, warm-up steps): the baseline early on, and two policy scenarios once their levers are in force, so
# signing bonuses, return packages, talent visas and exit restrictions are all exercised.
CHECKS = (("baseline.yaml", 4), ("china_return_drive.yaml", 26), ("us_open_china_closed.yaml", 26))


def check(path: Path, warmup: int, researchers: int = 50_000, agent_steps: int = 10) -> bool:
    """Check, on one scenario, that the agent version computes the column version's choice step."""
    from simulation import load_scenario

    state = choice_state(load_scenario(path).with_run(researchers=researchers), warmup)
    # The employers' phase changes the employers, so each version starts from its own copy of the state.
    talent = copy.deepcopy(state)
    targeted, choices, chosen, searching = column_choice_step(talent)
    column_counts = column_outcomes(talent, choices, chosen, searching)
    agents = AgentChoiceModel(talent, seed=1)
    agents.read_market()
    alternatives = check_alternatives(talent, agents, choices, targeted)
    agent_counts = dict.fromkeys(OUTCOMES, 0)
    for _ in range(agent_steps):
        agents.talent = copy.deepcopy(state)
        agents.targeted = agents.talent.open_posts_and_make_offers()
        agents.step()
        for key, value in agent_outcomes(agents).items():
            agent_counts[key] += value

    print(f"{path.stem}, {talent.month:%Y-%m}, {len(talent.population):,} researchers, "
          f"{alternatives['targeted']:,} targeted offers")
    print(f"largest utility gap, column vs agent: {alternatives['max_gap']:.2e}; feasibility disagreements: "
          f"{alternatives['feasibility_mismatches']} of {alternatives['alternatives']:,} alternatives")
    ok = alternatives["max_gap"] < MAX_UTILITY_GAP and alternatives["feasibility_mismatches"] == 0
    for key, row in compare_outcomes(column_counts, agent_counts).items():
        print(f"{key:>15}: column {row['column_share']:.4f}  agent {row['agent_share']:.4f}  z = {row['z']:+.2f}")
        ok &= abs(row["z"]) < MAX_Z
    return bool(ok)


def main() -> int:
    """Check, on the baseline and two policy scenarios, that the agent version computes the column choice step."""
    ok = True
    for name, warmup in CHECKS:
        ok &= check(ROOT / "scenarios" / name, warmup)
        print()
    print("same choice step" if ok else "the versions differ")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
