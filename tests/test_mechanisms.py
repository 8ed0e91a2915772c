"""Each mechanism against what it promises: targeted offers, talent visas, stacked policies, posts that follow
money, exit restrictions with both sides, researchers without a post, and the weighted frontier tier."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import run
from simulation.levers import levers_at
from simulation.model import TalentModel
from simulation.observe import UNPLACED
from simulation.posts import Posts

from conftest import small_version
from test_model import with_levers

BIG_OFFER = {"budget_usd_m_per_year": 400, "bonus_usd": 2e6, "max_usd": 2e7, "target_quantile": 0.95}


def step_with_hires(model):
    """Advance one step and return (hires, offers made) of the step."""
    model.apply_policy_schedule()
    model.enter_and_exit()
    offers = model.open_posts_and_make_offers()
    made = (offers.researcher.copy(), offers.policy.copy(), offers.bonus_usd.copy())
    choices = model.search.step(offers)
    hires = model.choose_and_match(choices)
    model.update(hires)
    model.observe(hires)
    model.advance_clock()
    return hires, made


def test_accepted_offers_add_a_post_and_a_hire_and_spend_only_their_cost(small):
    scenario = with_levers(small, {"signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    model = TalentModel(scenario, seed=3)
    meta = scenario.employer_ids.index("meta")
    policy = next(p.index for p in model.levers.policies if p.owner == meta and p.kind == "bonus")
    refused = 0
    for _ in range(6):
        year = model.targeted.year
        targeted_before = model.posts.targeted[meta]
        committed_before = model.targeted.committed[policy]
        hires, (_, offered_policy, _) = step_with_hires(model)
        mine = hires.policy == policy
        # Every accepted offer brought its post, and what was committed is what the accepted offers cost.
        assert model.posts.targeted[meta] - targeted_before == pytest.approx(model.targeted.hires[policy])
        if model.targeted.year != year:
            committed_before = 0.0  # a new year's budget
        assert model.targeted.committed[policy] - committed_before == pytest.approx(model.targeted.spent_usd[policy])
        assert model.targeted.committed[policy] <= BIG_OFFER["budget_usd_m_per_year"] * 1e6 + 1e-6
        refused += int((offered_policy == policy).sum() - mine.sum())
    assert refused > 0  # offers were refused, and cost nothing


def test_spending_equals_the_bonuses_of_accepted_offers_in_represented_researchers(small):
    scenario = with_levers(small, {"signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    model = TalentModel(scenario, seed=8)
    policy = model.levers.policies[[p.name for p in model.levers.policies].index("standard")].index
    total_hires = 0
    for _ in range(4):
        hires, _ = step_with_hires(model)
        mine = hires.policy == policy
        weight = model.population.weight[hires.researcher[mine]]  # rows of the step's population
        expected = (hires.bonus_usd[mine] * weight).sum() * model.scale
        assert model.targeted.spent_usd[policy] == pytest.approx(expected)
        total_hires += mine.sum()
    assert total_hires > 0


def test_a_target_who_is_not_searching_still_answers(small):
    quiet = small.model_copy(update={"search": small.search.model_copy(update={"base_rate_per_year": 0.0,
                                                                                  "offers_received": 0.0})})
    scenario = with_levers(quiet, {"signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    result = run(small_version(scenario, end="2021-01"), seed=2)
    employers = result.employers
    assert employers.hires_bonus.sum() > 0
    # Nobody with a post searches, so every move of a placed researcher is an accepted invitation.
    placed_moves = employers.hires_bonus.sum() + employers.hires_return.sum()
    assert placed_moves > 0


def test_talent_visa_offers_skip_the_lottery(small):
    shut = {"US": {"default": [{"from": "2019-04", "value": 0.0}]}}
    base = with_levers(small, {"visa_odds": shut, "signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    open_route = with_levers(base, {"talent_visa_odds": {"US": {"default": 1.0}}})
    closed_route = with_levers(base, {"talent_visa_odds": shut})

    def bonus_arrivals_from_abroad(scenario):
        f = run(small_version(scenario, end="2021-01"), seed=4).flows
        return f[(f.to_region == "US") & f.from_region.isin(["China", "Europe", "RoW"]) & (f.origin != "US")
                 & (f.year > 2019.3)].moves.sum()

    assert bonus_arrivals_from_abroad(open_route) > 0  # stars cross although the lottery is shut
    assert bonus_arrivals_from_abroad(closed_route) == 0


def test_policies_stack_on_one_employer(small):
    second = {**BIG_OFFER, "target_quantile": 0.99, "bonus_usd": 5e6, "max_usd": 5e7}
    scenario = with_levers(small, {"signing_bonus": {"meta": {"standard": BIG_OFFER, "stars": second}}})
    names = {p.name for p in levers_at(scenario, scenario.run.start).policies if p.kind == "bonus" and
             scenario.employer_ids[p.owner] == "meta"}
    assert names == {"standard", "stars"}
    model = TalentModel(scenario, seed=6)
    made = set()
    for _ in range(3):
        _, (_, policies, _) = step_with_hires(model)
        made.update(model.levers.policies[i].name for i in range(len(model.levers.policies))
                    if (policies == model.levers.policies[i].index).any())
    assert {"standard", "stars"} <= made


def test_a_child_adds_a_policy_under_a_new_name_and_replaces_one_under_its_own(baseline):
    added = with_levers(baseline, {"signing_bonus": {"meta": {"extra": [{"from": "2025-07", "value": BIG_OFFER}]}}})
    meta_policies = added.levers.signing_bonus["meta"]
    assert set(meta_policies) == {"standard", "extra"}
    replaced = with_levers(baseline, {"signing_bonus": {"meta": {"standard": [{"from": "2025-07", "value": BIG_OFFER}]}}})
    assert set(replaced.levers.signing_bonus["meta"]) == {"standard"}
    import datetime as dt

    from simulation.scenario import value_at

    schedule = replaced.levers.signing_bonus["meta"]["standard"]
    assert value_at(schedule, dt.date(2024, 1, 1)) == value_at(baseline.levers.signing_bonus["meta"]["standard"],
                                                               dt.date(2024, 1, 1))
    assert value_at(schedule, dt.date(2026, 1, 1)).budget_usd_m_per_year == BIG_OFFER["budget_usd_m_per_year"]


def test_posts_move_with_funding_at_the_stated_elasticity(small):
    levers = levers_at(small, small.run.start)
    n = len(small.employer_ids)
    staff = np.full(n, 10.0)
    backed = np.array([e.receives_state_funding for e in small.employers.values()])
    region = np.array([small.region_ids.index(e.region) for e in small.employers.values()])
    posts = Posts(staff, 4.0, small, levers, backed, region)
    start = posts.step(levers, staff).copy()
    richer = levers_at(small, small.run.start)
    richer.investment = richer.investment * 2.0
    eps = small.market.posts_funding_elasticity
    after = posts.step(richer, staff)
    private = ~backed
    np.testing.assert_allclose(after[private] / start[private], 2.0**eps)
    np.testing.assert_allclose(after[backed], start[backed])  # state-backed budgets do not follow private money
    # State funding: the budget grows by the new money, and posts by the budget ratio to the elasticity.
    surge = levers_at(small, small.run.start)
    surge.state_funding_region_usd = surge.state_funding_region_usd * 2.0
    china = small.region_ids.index("China")
    members = backed & (region == china)
    after = posts.step(surge, staff)
    ratio = (posts.own_budget_usd + posts.state_funding(surge, staff)) / posts.start_budget_usd
    np.testing.assert_allclose(after[members] / start[members], ratio[members] ** eps)
    assert (after[members] > start[members]).all()
    # Compute controls: posts fall with compute access to its elasticity.
    cut = levers_at(small, small.run.start)
    cut.compute_access = cut.compute_access * 0.5
    after = posts.step(cut, staff)
    np.testing.assert_allclose(after / start, 0.5**small.market.posts_compute_elasticity)


def test_state_funding_surge_creates_posts_in_a_run(small):
    surge = with_levers(small, {"state_funding_usd_m_per_year": {"region": {"China": [{"from": "2020-01", "value": 9000}]}}})
    a, b = run(small, seed=5).employers, run(surge, seed=5).employers

    def chinese_posts(e):
        return e[(e.region == "China") & (e.year == e.year.max())].positions.sum()

    assert chinese_posts(b) > 1.2 * chinese_posts(a)


def test_a_region_restriction_of_one_keeps_everyone_there_graduates_included(small):
    scenario = with_levers(small, {"exit_restriction": {"region": {"China": 1.0}}})
    model = TalentModel(small_version(scenario, end="2022-01"), seed=7)
    china = scenario.region_ids.index("China")
    seen_in_china = set()
    graduates = 0
    while model.running:
        model.step()
        pop = model.population
        here = pop.region == china
        graduates += int((here & (pop.entry_year >= 0)).sum() > 0)
        left = np.isin(pop.id, list(seen_in_china)) & ~here
        assert not left.any()
        seen_in_china.update(pop.id[here].tolist())
    assert graduates > 0


def test_joining_a_restricted_employer_costs_the_aversion_times_its_share(small):
    from simulation.choice import utility

    scenario = with_levers(small, {"exit_restriction": {"employer": {"deepseek": 0.8}, "region": {"China": 0.25}}})
    free = TalentModel(small, seed=1)
    bound = TalentModel(scenario, seed=1)
    deepseek = scenario.employer_ids.index("deepseek")
    us, china = scenario.region_ids.index("US"), scenario.region_ids.index("China")
    aversion = scenario.preferences.restriction_aversion
    rows = np.flatnonzero(bound.population.region == us)[:200]
    for model in (free, bound):
        model.apply_policy_schedule()
        model.open_posts_and_make_offers()
    values = []
    for model in (free, bound):
        who = model.search.deciders(rows)
        employer = np.full(len(rows), deepseek)
        values.append(utility(model, who, employer, np.full(len(rows), china)))
    # From the US, joining DeepSeek costs the larger of its share (0.8) and China's (0.25), times the aversion.
    np.testing.assert_allclose(values[0] - values[1], aversion * 0.8)
    who = bound.search.deciders(rows)
    stay = utility(bound, who, who.employer, who.region, staying=True)
    np.testing.assert_allclose(stay, utility(free, free.search.deciders(rows), who.employer, who.region, staying=True))


def test_restrictions_cost_recruiting(small):
    """Researchers weigh an exit restriction when they consider joining: fewer come to a restricted region."""
    restricted = {"exit_restriction": {"region": {"China": [{"from": "2019-04", "value": 1.0}]}}}
    averse = with_levers(small, restricted)
    # an aversion of 2 (the baseline's is 1): returnees' pull home, about 2.7 in utility, damps a cost of 1 to a
    # fall of some 10%, too close to the noise of this small run to test against a clear margin
    averse = averse.model_copy(update={"preferences": averse.preferences.model_copy(update={"restriction_aversion": 2.0})})
    indifferent = averse.model_copy(update={"preferences": averse.preferences.model_copy(update={"restriction_aversion": 0.0})})
    arrivals = []
    for scenario in (indifferent, averse):
        f = run(scenario, seed=3, replicates=2).flows
        # every arrival from abroad, returnees included: with the calibrated home preference, arrivals of other
        # origins into China are a handful of weighted moves in this small run, too few to measure a cost on
        into = f[(f.to_region == "China") & f.from_region.isin(["US", "Europe", "RoW"])]
        arrivals.append(into.moves.sum())
    assert arrivals[1] < 0.9 * arrivals[0]


def test_researchers_without_a_post_are_never_counted_as_working_in_a_region(small):
    result = run(small_version(small, end="2021-01"), seed=2)
    model = TalentModel(small_version(small, end="2021-01"), seed=result.seeds[0])
    while model.running:
        model.step()
    stocks = result.stocks[(result.stocks.tier == "all") & (result.stocks.step == result.stocks.step.max())]
    pop = model.population
    unplaced = pop.weight[pop.employer < 0].sum()
    assert unplaced > 0
    assert stocks[stocks.region == UNPLACED].researchers.sum() == pytest.approx(unplaced)
    placed = stocks[stocks.region != UNPLACED].researchers.sum()
    assert placed == pytest.approx(pop.weight[pop.employer >= 0].sum())
    curve = result.migration_curve("all")
    assert UNPLACED not in set(curve.region)
    last = curve[curve.step == curve.step.max()]
    assert last.share.sum() == pytest.approx(1.0)


def test_weights_make_counts_unbiased_at_the_start(baseline):
    """The densely sampled tail carries weights: weighted tier sizes are the quantiles' shares."""
    model = TalentModel(baseline.with_run(researchers=50_000, end="2019-04"), seed=1)
    pop = model.population
    share_dense = (pop.weight < 1).mean()
    assert share_dense > 0.2  # about a quarter of the model researchers come from the top 1%
    thresholds = model.thresholds
    top = pop.weight[pop.quality >= thresholds[0.999]].sum() / pop.weight.sum()
    assert top == pytest.approx(0.001, rel=0.05)
    assert (pop.quality >= thresholds[0.999]).sum() > 1000  # vs 50 without dense sampling


@pytest.mark.slow
def test_frontier_shares_agree_between_a_plain_large_run_and_the_weighted_default(baseline):
    """Importance sampling changes the noise, not the answer."""
    short = baseline.with_run(end="2021-01")
    plain_scenario = short.model_copy(update={"population": short.population.model_copy(
        update={"tail_sampling": short.population.tail_sampling.model_copy(update={"share": 0.0})})})
    plain = run(plain_scenario.with_run(researchers=300_000, replicates=1), seed=1).migration_curve("frontier")
    weighted = run(short.with_run(researchers=20_000, replicates=6), seed=2).migration_curve("frontier")
    last = plain.step.max()
    p = plain[plain.step == last].set_index("region").share
    w = weighted[weighted.step == last].groupby("region").share
    for region in ("US", "China"):
        n_plain = 300_000 * 0.001 * 1.6  # frontier agents at the end, population grown by about 60%
        se = np.sqrt(p[region] * (1 - p[region]) / n_plain + w.var()[region] / 6)
        assert abs(p[region] - w.mean()[region]) < 4 * se, (region, p[region], w.mean()[region])


def test_employer_outcomes_read_staff_by_tier_and_hires_by_offer_kind(small):
    from pydantic import TypeAdapter

    from simulation.outcomes import Outcome

    scenario = with_levers(small, {"signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    result = run(small_version(scenario, end="2022-01"), seed=1)
    scale = scenario.population.represents / scenario.run.researchers
    read = TypeAdapter(Outcome).validate_python
    staff = read({"kind": "employer_staff", "employer": "meta", "tier": "elite", "year": 2021})
    table = result.employers
    row = table[(table.employer == "meta") & np.isclose(table.year, 2021)]
    assert staff.compute(result) == pytest.approx(row.elite_headcount.item() * scale)
    hires = read({"kind": "employer_hires", "employer": "meta", "offer": "signing_bonus", "between": [2019, 2021]})
    window = table[(table.employer == "meta") & (table.year > 2019) & (table.year <= 2021)]
    assert hires.compute(result) == pytest.approx(window.hires_bonus.sum() * scale / 2)
    assert hires.compute(result) > 0
    problems = list(read({"kind": "employer_staff", "employer": "mta", "year": 2021}).check(scenario))
    assert problems and "did you mean 'meta'" in problems[0][1]


def test_who_searches_is_exactly_a_draw_below_each_researchers_probability(small):
    """The shortcut in Search.searching (most draws settled against a bound) decides as the full comparison would."""
    scenario = with_levers(small, {"signing_bonus": {"meta": {"standard": BIG_OFFER}}})
    model = TalentModel(scenario, seed=11)
    checked = 0
    for _ in range(8):
        model.apply_policy_schedule()
        model.enter_and_exit()
        offers = model.open_posts_and_make_offers()
        stream = model.streams["search"]
        state = stream.bit_generator.state
        expected = stream.random(len(model.population)) < model.search.probabilities(offers)
        stream.bit_generator.state = state
        assert np.array_equal(model.search.searching(offers), expected)
        stream.bit_generator.state = state
        checked += int(expected.sum())
        hires = model.choose_and_match(model.search.step(offers))
        model.update(hires)
        model.observe(hires)
        model.advance_clock()
    assert checked > 0
