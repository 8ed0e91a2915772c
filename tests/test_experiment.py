"""Experiment files: validation, expansion into runs, key paths, seeds and outcomes (no sweeps here)."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.experiment import (
    ExperimentError,
    ExperimentFile,
    PathError,
    Setting,
    apply_setting,
    expand,
    lever_arms,
    load_experiment,
    run_id,
    run_seed,
    uncertainty_samples,
)
from simulation.outcomes import CURVE_KINDS, OUTCOME_KINDS, evaluate
from simulation.runner import run
from simulation.scenario import scenario_from_dict, value_at

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
EXPERIMENTS = ROOT / "experiments"

SMALL = f"""
name: small
scenario: {BASELINE}
run: {{researchers: 2000, end: 2023-01}}
seed: 11
replicates: 2
levers:
  us_bonus:
    from: 2021-01
    scale: true
    path: [levers.signing_bonus.meta.standard.budget_usd_m_per_year, levers.signing_bonus.google.standard.budget_usd_m_per_year]
    values: [1, 3]
  china_funding:
    from: 2021-01
    scale: true
    path: levers.state_funding_usd_m_per_year.region.China
    values: [1, 3]
uncertainties:
  pay_weight: {{path: preferences.default.pay.mean, range: [1.2, 1.8]}}
sampling: {{method: latin_hypercube, samples: 3}}
outcomes:
  us_share: {{kind: share, region: US, tier: top_tier, year: 2022}}
  china_retention: {{kind: retention, origin: China, year: 2022}}
  net_us_china: {{kind: net_flow, from: US, to: China, between: [2020, 2022]}}
curves:
  location: {{kind: migration, tier: top_tier}}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        load_experiment(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


@pytest.fixture
def small(tmp_path):
    return load_experiment(write(tmp_path, SMALL))


# ---- the shipped examples


@pytest.mark.parametrize("name", ["bonus_vs_state_funding", "visa_policy_lhs"])
def test_example_experiments_are_valid(name):
    experiment = load_experiment(EXPERIMENTS / f"{name}.yaml")
    runs = expand(experiment)
    d = experiment.definition
    assert len(runs) == len(lever_arms(d)) * len(uncertainty_samples(d)) * d.replicates
    assert len(d.levers) == 2 and d.outcomes
    experiment.scenario_for(runs[-1])  # validates


def test_example_bonus_experiment_crosses_bonuses_with_state_funding():
    experiment = load_experiment(EXPERIMENTS / "bonus_vs_state_funding.yaml")
    d = experiment.definition
    assert d.replicates > 1 and not d.uncertainties
    assert {"us_bonus_budget", "china_state_funding"} == set(d.levers)
    assert all(p.startswith("levers.signing_bonus.") for p in d.levers["us_bonus_budget"].path)


def test_example_visa_experiment_samples_preferences_by_latin_hypercube():
    d = load_experiment(EXPERIMENTS / "visa_policy_lhs.yaml").definition
    assert d.sampling.method == "latin_hypercube"
    assert all(p.startswith("preferences.") for u in d.uncertainties.values() for p in u.path)
    assert any("visa_odds" in p for lever in d.levers.values() for p in lever.path)
    assert any("exit_restriction" in p for lever in d.levers.values() for p in lever.path)


# ---- expansion


def test_expand_is_pure_and_ids_are_stable(small):
    first, second = expand(small), expand(small.definition)
    assert first == second
    assert len(first) == 2 * 2 * 3 * 2
    assert len({r.run_id for r in first}) == len(first)


def test_run_ids_come_from_parameters_and_seed_only():
    # pinned: ids must not drift between versions, or resumed sweeps would redo finished runs
    assert run_id({"a": 1}, {"b": 0.5}, 7) == "814e27a08344daf5"
    assert run_id({"us_bonus": 2}, {}, 123) == "cf01e2f55e2d3c25"
    assert run_id({"a": 1}, {"b": 0.5}, 7) != run_id({"a": 1}, {"b": 0.5}, 8)
    assert run_id({"a": 1}, {"b": 0.5}, 7) != run_id({"a": 2}, {"b": 0.5}, 7)
    assert run_id({"a": 1, "c": 2}, {}, 7) == run_id({"c": 2, "a": 1}, {}, 7)  # order of keys does not matter


def test_arms_share_uncertainty_draws_and_seeds(small):
    """Common random numbers: every lever arm runs under the same draws and seeds."""
    runs = expand(small)
    blocks: dict[tuple[int, int], list] = {}
    for spec in runs:
        blocks.setdefault((spec.sample, spec.replicate), []).append(spec)
    assert len(blocks) == 3 * 2
    for block in blocks.values():
        assert len(block) == 4  # every arm
        assert len({s.seed for s in block}) == 1
        assert len({tuple(s.uncertainties.items()) for s in block}) == 1
        assert len({tuple(s.levers.items()) for s in block}) == 4
    seeds = {spec.seed for spec in runs}
    assert len(seeds) == 3 * 2  # a seed per sample and replicate


def test_more_replicates_keep_the_runs_already_planned(small):
    more = small.definition.model_copy(update={"replicates": 3})
    old, new = {r.run_id for r in expand(small)}, {r.run_id for r in expand(more)}
    assert old < new


def test_run_seed_is_independent_of_arm_and_derived_from_root():
    assert run_seed(1, 0, 0) == run_seed(1, 0, 0)
    assert len({run_seed(1, s, r) for s in range(5) for r in range(5)}) == 25
    assert run_seed(1, 0, 0) != run_seed(2, 0, 0)
    assert 0 <= run_seed(1, 0, 0) < 2**63


def _definition(tmp_path, sampling: str, uncertainties: str) -> ExperimentFile:
    text = f"""
    name: s
    scenario: {BASELINE}
    uncertainties:
{textwrap.indent(textwrap.dedent(uncertainties), '      ')}
    sampling: {sampling}
    outcomes:
      us: {{kind: share, region: US, year: 2020}}
    """
    return load_experiment(write(tmp_path, text)).definition


def test_latin_hypercube_puts_one_draw_in_each_stratum(tmp_path):
    d = _definition(tmp_path, "{method: lhs, samples: 10}", """
        a: {path: preferences.default.pay.mean, range: [1.0, 2.0]}
        b: {path: preferences.default.impact.mean, range: [0.0, 1.0]}
    """)
    samples = uncertainty_samples(d)
    assert len(samples) == 10
    for name, low in (("a", 1.0), ("b", 0.0)):
        strata = sorted(int((s[name] - low) * 10) for s in samples)
        assert strata == list(range(10))
    assert uncertainty_samples(d) == samples  # seeded from the root seed


def test_quasi_random_needs_a_power_of_two(tmp_path):
    text = f"""
    name: s
    scenario: {BASELINE}
    uncertainties:
      a: {{path: preferences.default.pay.mean, range: [1.0, 2.0]}}
    sampling: {{method: quasi_random, samples: 100}}
    outcomes:
      us: {{kind: share, region: US, year: 2020}}
    """
    [problem] = problems_of(tmp_path, text)
    assert "sampling" in problem and "power of 2" in problem and "64 or 128" in problem
    d = _definition(tmp_path, "{method: quasi_random, samples: 16}", """
        a: {path: preferences.default.pay.mean, range: [1.0, 2.0]}
    """)
    values = sorted(s["a"] for s in uncertainty_samples(d))
    assert len(values) == 16 and 1.0 <= values[0] and values[-1] <= 2.0
    assert sorted(int((v - 1.0) * 16) for v in values) == list(range(16))  # balanced in one dimension


def test_the_old_name_sobol_still_works_and_warns_naming_the_file(tmp_path):
    uncertainties = """
        a: {path: preferences.default.pay.mean, range: [1.0, 2.0]}
    """
    new = _definition(tmp_path, "{method: quasi_random, samples: 16}", uncertainties)
    with pytest.warns(FutureWarning, match=r"^sampling\.method: .*'sobol' is now called 'quasi_random'.*saltelli") as caught:
        old = _definition(tmp_path, "{method: sobol, samples: 16}", uncertainties)
    [warning] = caught
    assert warning.filename == str(tmp_path / "exp.yaml") and warning.lineno == 8  # the line of sampling: (after a blank first line)
    assert old.sampling.method == "quasi_random"
    assert uncertainty_samples(old) == uncertainty_samples(new)  # the same draws as before the rename


SALTELLI_UNCERTAINTIES = """
    a: {path: preferences.default.pay.mean, range: [1.0, 2.0]}
    b: {path: preferences.default.impact.mean, distribution: {kind: normal, mean: 1.0, sd: 0.2}}
    c: {path: search.offers_per_search, values: [2, 3, 4]}
"""


def test_saltelli_design_is_salib_s_mapped_through_each_distribution(tmp_path):
    pytest.importorskip("SALib")
    from SALib.sample import sobol as salib_sobol
    from scipy import stats

    from simulation.experiment import SAMPLER_STREAM, design, salib_problem

    d = _definition(tmp_path, "{method: saltelli, samples: 8}", SALTELLI_UNCERTAINTIES)
    unit = design(d)
    assert unit.shape == (8 * (3 + 2), 3)
    seed = int(np.random.SeedSequence(d.seed, spawn_key=(SAMPLER_STREAM,)).generate_state(1, np.uint32)[0])
    direct = salib_sobol.sample(salib_problem(d), 8, calc_second_order=False, seed=seed)
    np.testing.assert_allclose(unit, direct)  # SALib's rows, in SALib's order
    samples = uncertainty_samples(d)
    assert len(samples) == 40 and len(expand(load_experiment_of(tmp_path))) == 40
    np.testing.assert_allclose([s["a"] for s in samples], 1.0 + unit[:, 0])
    np.testing.assert_allclose([s["b"] for s in samples], stats.norm.ppf(unit[:, 1], 1.0, 0.2))
    assert {s["c"] for s in samples} <= {2, 3, 4}
    second = _definition(tmp_path, "{method: saltelli, samples: 8, second_order: true}", SALTELLI_UNCERTAINTIES)
    assert len(uncertainty_samples(second)) == 8 * (2 * 3 + 2)


def load_experiment_of(tmp_path):
    return load_experiment(tmp_path / "exp.yaml")


def test_morris_design_moves_one_uncertainty_a_step(tmp_path):
    pytest.importorskip("SALib")
    from simulation.experiment import design

    d = _definition(tmp_path, "{method: morris, samples: 5, levels: 4}", SALTELLI_UNCERTAINTIES)
    unit = design(d)
    assert unit.shape == (5 * 4, 3)
    for t in range(5):
        steps = np.diff(unit[4 * t: 4 * t + 4], axis=0)
        changed = np.abs(steps) > 1e-6
        assert (changed.sum(axis=1) == 1).all()  # each step of a trajectory moves exactly one uncertainty
        assert sorted(np.flatnonzero(changed.any(axis=0))) == [0, 1, 2]
    assert np.isfinite([s["b"] for s in uncertainty_samples(d)]).all()  # the unbounded normal's grid ends are moved in


@pytest.mark.parametrize("sampling, message", [
    ("{method: saltelli, samples: 10}", "power of 2"),
    ("{method: saltelli}", "saltelli needs samples: N (base samples)"),
    ("{method: morris, samples: 4, second_order: true}", "second_order applies to method: saltelli only"),
    ("{method: latin_hypercube, samples: 4, levels: 6}", "levels applies to method: morris only"),
])
def test_design_options_are_checked(tmp_path, sampling, message):
    text = f"""
    name: s
    scenario: {BASELINE}
    uncertainties:
      a: {{path: preferences.default.pay.mean, range: [1.0, 2.0]}}
    sampling: {sampling}
    outcomes:
      us: {{kind: share, region: US, year: 2020}}
    """
    [problem] = problems_of(tmp_path, text)
    assert message in problem


def test_grid_crosses_points_and_values(tmp_path):
    d = _definition(tmp_path, "{method: grid, points: 3}", """
        a: {path: preferences.default.pay.mean, range: [1.0, 2.0]}
        b: {path: search.offers_per_search, values: [2, 4]}
        c: {path: preferences.default.impact.mean, distribution: {kind: normal, mean: 1.0, sd: 0.2}}
    """)
    samples = uncertainty_samples(d)
    assert len(samples) == 3 * 2 * 3
    assert sorted({s["a"] for s in samples}) == [1.0, 1.5, 2.0]
    assert sorted({s["b"] for s in samples}) == [2, 4]
    c = sorted({s["c"] for s in samples})
    assert c[1] == pytest.approx(1.0) and c[0] == pytest.approx(1.0 - 0.2 * 0.9674, abs=1e-3)  # quantile midpoints


def test_distributions_draw_within_their_bounds(tmp_path):
    d = _definition(tmp_path, "{method: latin_hypercube, samples: 64}", """
        t: {path: preferences.default.pay.mean, distribution: {kind: normal, mean: 1.5, sd: 1.0, low: 1.0, high: 2.0}}
        l: {path: preferences.default.impact.mean, distribution: {kind: loguniform, low: 0.1, high: 10}}
        g: {path: preferences.default.home.mean, distribution: {kind: triangular, low: 0.5, mode: 1.0, high: 2.0}}
        n: {path: search.offers_per_search, values: [1, 2, 3, 4], integer: true}
    """)
    samples = pd.DataFrame(uncertainty_samples(d))
    assert samples.t.between(1.0, 2.0).all()
    assert samples.l.between(0.1, 10).all() and (np.log10(samples.l) < 0).mean() == pytest.approx(0.5, abs=0.05)
    assert samples.g.between(0.5, 2.0).all()
    assert sorted(samples.n.unique()) == [1, 2, 3, 4] and (samples.n.value_counts() == 16).all()


# ---- setting key paths


@pytest.fixture(scope="module")
def base_data():
    from simulation import load_scenario

    return load_scenario(BASELINE).to_dict()


def _apply(base_data, *settings) -> object:
    import copy

    data = copy.deepcopy(base_data)
    for s in settings:
        apply_setting(data, s)
    return scenario_from_dict(data)


def test_setting_a_plain_value(base_data):
    scenario = _apply(base_data, Setting(("preferences", "default", "pay", "mean"), 1.9))
    assert scenario.preferences.default.pay.mean == 1.9
    assert scenario.preferences.default.pay.sd == base_data["preferences"]["default"]["pay"]["sd"]


def test_a_lever_from_a_month_keeps_the_history_before_it(base_data):
    original = scenario_from_dict(base_data).levers.visa_odds["US"]["default"]
    assert len(original) > 2  # the baseline follows the H-1B selection rates year by year
    scenario = _apply(base_data, Setting(("levers", "visa_odds", "US", "default"), 0.9, start="2025-01"))
    schedule = scenario.levers.visa_odds["US"]["default"]
    for month in (dt.date(2019, 1, 1), dt.date(2022, 6, 1), dt.date(2024, 12, 1)):
        assert value_at(schedule, month) == value_at(original, month)
    assert value_at(schedule, dt.date(2025, 1, 1)) == 0.9
    assert value_at(schedule, dt.date(2030, 1, 1)) == 0.9  # the baseline's later steps give way


def test_scaling_inside_a_scheduled_structure(base_data):
    scenario = _apply(base_data, Setting(("levers", "signing_bonus", "meta", "standard", "budget_usd_m_per_year"), 3, True, "2025-01"))
    schedule = scenario.levers.signing_bonus["meta"]["standard"]
    before, after = value_at(schedule, dt.date(2024, 1, 1)), value_at(schedule, dt.date(2026, 1, 1))
    assert after.budget_usd_m_per_year == 3 * before.budget_usd_m_per_year
    assert after.bonus_usd == before.bonus_usd and after.max_usd == before.max_usd


def test_a_new_lever_entry_from_a_month(base_data):
    scenario = _apply(base_data, Setting(("levers", "exit_restriction", "region", "China"), 0.3, start="2025-01"))
    schedule = scenario.levers.exit_restriction.region["China"]
    assert value_at(schedule, dt.date(2026, 1, 1)) == 0.3
    assert value_at(schedule, dt.date(2024, 1, 1), 0.0) == 0.0


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        (Setting(("preferences", "defualt", "pay", "mean"), 1.0), ["no key 'defualt'", "did you mean 'default'"]),
        (Setting(("preferences", "default", "pay", "mean", "x"), 1.0), ["is a number", "should end at"]),
        (Setting(("preferences", "default", "pay", "mean"), 1.0, start="2025-01"), ["'from' applies to levers"]),
        (Setting(("regions", "US", "name"), 2.0, scale=True), ["multiplies a number", "text"]),
        (Setting(("preferences", "by_origin", "China", "pay", "mean"), 1.0), ["not set in the base scenario"]),
    ],
)
def test_paths_that_lead_nowhere_say_why(base_data, setting, words):
    import copy

    with pytest.raises(PathError) as caught:
        apply_setting(copy.deepcopy(base_data), setting)
    for word in words:
        assert word in str(caught.value)


# ---- validation messages


def test_unknown_keys_are_named_with_a_suggestion(tmp_path):
    [problem] = problems_of(tmp_path, SMALL.replace("levers:", "levres:", 1))
    assert problem.startswith(str(tmp_path / "exp.yaml") + ": levres: unknown key; did you mean 'levers'?")
    assert problem.endswith("(got 'levres')")


def test_an_unknown_path_names_the_file_and_lever(tmp_path):
    [problem] = problems_of(tmp_path, SMALL.replace("levers.signing_bonus.meta.standard.", "levers.signing_bonuses.meta.standard.", 1))
    assert f"{tmp_path / 'exp.yaml'}: levers.us_bonus.path[0]: no key 'signing_bonuses'" in problem
    assert "did you mean 'signing_bonus'" in problem


def test_a_lever_value_the_scenario_refuses_names_the_value(tmp_path):
    china = "    scale: true\n    path: levers.state_funding_usd_m_per_year.region.China\n    values: [1, 3]"
    assert china in SMALL
    text = SMALL.replace(china, "    path: levers.state_funding_usd_m_per_year.region.China\n    values: [3000, -5]")
    [problem] = problems_of(tmp_path, text)
    assert "levers.china_funding.values[1]" in problem
    assert "levers.state_funding_usd_m_per_year.region.China" in problem and problem.endswith("(got -5)")


def test_outcome_regions_and_years_are_checked(tmp_path):
    text = SMALL.replace("region: US, tier: top_tier, year: 2022", "region: USA, tier: top_tier, year: 2040")
    problems = problems_of(tmp_path, text)
    assert any("outcomes.us_share.region: unknown region 'USA'; did you mean 'US'?" in p for p in problems)
    assert any("outcomes.us_share.year: outside the run (2019-01 to 2023-01)" in p for p in problems)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("kind: share", "kind: shares", ["outcomes.us_share", "unknown kind", "share"]),
        ("tier: top_tier, year", "tier: top, year", ["outcomes.us_share.tier", "top_tier"]),
        ("range: [1.2, 1.8]", "range: [1.8, 1.2]", ["uncertainties.pay_weight", "must be above the low end"]),
        ("range: [1.2, 1.8]", "range: [1.2, 1.8], values: [1]", ["exactly one of"]),
        ("samples: 3", "points: 3", ["sampling", "needs samples"]),
        ("replicates: 2", "replicates: 0", ["replicates: must be between 1 and 100,000"]),
        ("values: [1, 3]", "values: [1, 1]", ["listed twice"]),
        ("us_share:", "seed:", ["outcomes.seed", "already has"]),
        ("from: 2021-01\n    scale", "from: 2040-01\n    scale", ["levers.us_bonus.from", "after the run ends"]),
        ("name: small", "name: ../small", ["name: must be a short name"]),
        ("path: levers.state_funding_usd_m_per_year.region.China", "path: levers.state_funding_usd_m_per_year.regions.China",
         ["levers.china_funding.path: no key 'regions'", "did you mean 'region'"]),
        ("path: levers.state_funding_usd_m_per_year.region.China", "path: levers.state_funding_usd_m_per_year.region.Chine",
         ["levers.china_funding.path", "'Chine'", "did you mean 'China'"]),
        ("run: {", "run: {seed: 4, ", ["run.seed", "top level"]),
        ("outcomes:\n", "outcomes: {}\nx:\n", ["outcomes: must not be empty"]),
        ("replicates: 2", "replicates: 100000", ["1,200,000 runs", "more than 1,000,000"]),
    ],
)
def test_validation_messages(tmp_path, old, new, words):
    assert old in SMALL
    problems = "\n".join(problems_of(tmp_path, SMALL.replace(old, new, 1)))
    for word in words:
        assert word in problems, problems


def test_sampling_needs_uncertainties(tmp_path):
    text = SMALL.replace("uncertainties:\n  pay_weight: {path: preferences.default.pay.mean, range: [1.2, 1.8]}\n", "")
    [problem] = problems_of(tmp_path, text)
    assert "sampling: latin_hypercube draws uncertainties, and there are none" in problem


def test_files_that_are_not_experiments(tmp_path):
    with pytest.raises(ExperimentError, match="file not found"):
        load_experiment(tmp_path / "missing.yaml")
    with pytest.raises(ExperimentError, match="looks like a scenario"):
        load_experiment(BASELINE)
    with pytest.raises(ExperimentError, match="written twice"):
        load_experiment(write(tmp_path, "name: a\nname: b\n"))
    with pytest.raises(ExperimentError, match="no scenario file"):
        load_experiment(write(tmp_path, SMALL.replace(str(BASELINE), "nowhere.yaml")))


# ---- outcomes


@pytest.fixture(scope="module")
def one_run():
    from simulation import load_scenario

    scenario = load_scenario(BASELINE).with_run(researchers=3000, end="2024-01")
    return run(scenario, seed=5, replicates=1)


def _outcome(kind: str, **fields):
    from pydantic import TypeAdapter

    from simulation.outcomes import Outcome

    return TypeAdapter(Outcome).validate_python({"kind": kind, **fields})


def test_shares_of_all_regions_add_up_to_one(one_run):
    shares = [_outcome("share", region=r, tier="top_tier", year=2023).compute(one_run) for r in one_run.scenario.regions]
    assert sum(shares) == pytest.approx(1.0)
    curve = one_run.migration_curve("top_tier")
    at = curve[(curve.year == 2023.0) & (curve.region == "US")]["share"].item()
    assert shares[0] == pytest.approx(at)


def test_an_origin_share_of_several_origins_adds_their_shares(one_run):
    def share(origin):
        return _outcome("origin_share", origin=origin, region="US", tier="top_tier", year=2022).compute(one_run)

    assert share(["US", "China"]) == pytest.approx(share("US") + share("China"))
    assert 0 < share("China") < share(["US", "China"]) < 1
    label = _outcome("origin_share", origin=["US", "China"], region="US", year=2022).default_label()
    assert "of US or China origin" in label


def test_an_unknown_origin_in_a_list_is_named(tmp_path):
    text = SMALL.replace("kind: share, region: US, tier: top_tier, year: 2022",
                         "kind: origin_share, origin: [US, Chna], region: US, tier: top_tier, year: 2022")
    problems = problems_of(tmp_path, text)
    assert any("outcomes.us_share.origin: unknown region 'Chna'; did you mean 'China'?" in p for p in problems), problems


def test_retention_matches_the_retention_table(one_run):
    value = _outcome("retention", origin="China", tier="all", year=2022).compute(one_run)
    table = one_run.retention
    row = table[(table.year == 2022.0) & (table.origin == "China") & (table.tier == "all")]
    assert value == pytest.approx(row.at_home.item() / row.researchers.item())


def test_net_flow_is_the_difference_of_gross_flows(one_run):
    scale = one_run.scenario.population.represents / one_run.scenario.run.researchers
    there = _outcome("flow", **{"from": "US", "to": "China", "between": [2020, 2023]}).compute(one_run)
    back = _outcome("flow", **{"from": "China", "to": "US", "between": [2020, 2023]}).compute(one_run)
    net = _outcome("net_flow", **{"from": "US", "to": "China", "between": [2020, 2023]}).compute(one_run)
    reverse = _outcome("net_flow", **{"from": "China", "to": "US", "between": [2020, 2023]}).compute(one_run)
    assert net == pytest.approx(there - back) and reverse == pytest.approx(-net)
    flows = one_run.flows
    moves = flows[(flows.from_region == "US") & (flows.to_region == "China") & (flows.year > 2020) & (flows.year <= 2023)]
    assert there == pytest.approx(moves.moves.sum() * scale)
    assert there > 0  # the period holds moves (12 steps of the quarterly run)


def test_researchers_are_scaled_to_the_population_represented(one_run):
    value = _outcome("researchers", region="US", tier="all", year=2019).compute(one_run)
    stocks = one_run.stocks
    model = stocks[(stocks.step == 0) & (stocks.region == "US") & (stocks.tier == "all")].researchers.sum()
    assert value == pytest.approx(model * one_run.scenario.population.represents / 3000)


def test_curves_are_long_tables_with_one_schema(one_run):
    from pydantic import TypeAdapter

    from simulation.outcomes import CURVE_COLUMNS, Curve

    curves = {name: TypeAdapter(Curve).validate_python({"kind": name}) for name in CURVE_KINDS}
    values, table = evaluate(one_run, {}, curves, "r1")
    assert values == {} and tuple(table.columns) == CURVE_COLUMNS
    assert set(table.curve) == set(CURVE_KINDS) and (table.run_id == "r1").all()
    steps = one_run.scenario.run.steps + 1
    assert len(table[table.curve == "migration"]) == steps * 4
    sums = table[table.curve == "migration"].groupby("step").value.sum()
    assert np.allclose(sums, 1.0)


def test_every_kind_has_a_label_and_a_unit_and_is_documented():
    docs = (ROOT / "docs" / "experiments.md").read_text()
    for kinds in (OUTCOME_KINDS, CURVE_KINDS):
        for name, cls in kinds.items():
            assert cls.UNIT, name
            assert f"`{name}`" in docs, f"docs/experiments.md does not describe kind {name}"


# ---- the science: levers at their neutral value, common random numbers


def test_a_lever_at_its_neutral_value_reproduces_the_base_scenario(small):
    """Scale 1 from a month, at the base scenario's own funding: the run is the base scenario's, exactly."""
    from simulation.executors import RunTask, execute

    spec = next(r for r in expand(small) if r.levers == {"us_bonus": 1, "china_funding": 1})
    d = small.definition
    base = small.base.to_dict()
    base["preferences"]["default"]["pay"]["mean"] = spec.uncertainties["pay_weight"]
    reference = run(scenario_from_dict(base), seed=spec.seed, replicates=1)
    output = execute(RunTask(spec, small.base_data, small.settings_for(spec), dict(d.outcomes), dict(d.curves), "t"))
    assert output.status == "done", output.traceback
    for name, outcome in d.outcomes.items():
        expected = outcome.compute(reference)
        assert output.outcomes[name] == expected or (math.isnan(expected) and math.isnan(output.outcomes[name]))
