"""Scenario loading: extends and schedule merging, lever schedules, round trips, the generated reference."""

from __future__ import annotations

import datetime as dt

import yaml

from simulation.reference import reference_markdown
from simulation.scenario import load_scenario, scenario_from_dict, value_at

from conftest import ROOT, SCENARIOS


def write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_extends_overrides_only_what_differs(tmp_path):
    child = write(tmp_path / "child.yaml", {
        "extends": str(SCENARIOS / "baseline.yaml"),
        "name": "child",
        "employers": {"meta": {"base_pay_usd": 500000}},
    })
    base, scenario = load_scenario(SCENARIOS / "baseline.yaml"), load_scenario(child)
    assert scenario.name == "child"
    assert scenario.employers["meta"].base_pay_usd == 500000
    assert scenario.employers["meta"].region == base.employers["meta"].region  # the rest is inherited
    assert scenario.employers["google"] == base.employers["google"]
    assert scenario.levers == base.levers


def test_a_child_schedule_keeps_the_parents_history_before_it(tmp_path):
    child = write(tmp_path / "child.yaml", {
        "extends": str(SCENARIOS / "baseline.yaml"),
        "name": "crackdown",
        "levers": {"visa_odds": {"US": {"default": [{"from": "2025-07", "value": 0.2}]}}},
    })
    schedule = load_scenario(child).levers.visa_odds["US"]["default"]
    base = load_scenario(SCENARIOS / "baseline.yaml").levers.visa_odds["US"]["default"]
    assert value_at(schedule, dt.date(2022, 6, 1)) == value_at(base, dt.date(2022, 6, 1))
    assert value_at(schedule, dt.date(2025, 6, 1)) == value_at(base, dt.date(2025, 6, 1))
    assert value_at(schedule, dt.date(2025, 7, 1)) == 0.2
    assert value_at(schedule, dt.date(2034, 1, 1)) == 0.2


def test_extends_chains_resolve_relative_to_each_file(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "middle.yaml", {"extends": str(SCENARIOS / "baseline.yaml"), "name": "middle",
                                             "run": {"researchers": 1234}})
    top = write(tmp_path / "top.yaml", {"extends": "sub/middle.yaml", "name": "top", "run": {"seed": 5}})
    scenario = load_scenario(top)
    assert (scenario.name, scenario.run.researchers, scenario.run.seed) == ("top", 1234, 5)


def test_value_at_before_during_and_after_a_schedule():
    scenario = load_scenario(SCENARIOS / "baseline.yaml")
    access = scenario.levers.compute_access["China"]
    assert value_at(access, dt.date(2019, 1, 1)) == 1.0
    assert value_at(access, dt.date(2022, 9, 1)) == 1.0
    assert value_at(access, dt.date(2022, 10, 1)) == 0.7
    assert value_at(access, dt.date(2030, 1, 1)) == 0.6
    late = scenario_from_dict({**scenario.to_dict(), "levers": {"compute_access": {"US": [{"from": "2030-01", "value": 0.5}]}}})
    schedule = late.levers.compute_access["US"]
    assert value_at(schedule, dt.date(2029, 12, 1), default=1.0) == 1.0
    assert value_at(schedule, dt.date(2030, 1, 1), default=1.0) == 0.5


def test_resolved_scenario_round_trips_through_plain_data():
    scenario = load_scenario(SCENARIOS / "baseline.yaml")
    data = scenario.to_dict()
    assert data["run"]["start"] == "2019-01"
    assert scenario_from_dict(yaml.safe_load(yaml.safe_dump(data))) == scenario


def test_with_run_changes_run_settings_only():
    scenario = load_scenario(SCENARIOS / "baseline.yaml")
    smaller = scenario.with_run(researchers=500, seed=3)
    assert (smaller.run.researchers, smaller.run.seed) == (500, 3)
    assert smaller.employers == scenario.employers
    assert scenario.with_run() is scenario


def test_reference_lists_every_key_of_every_section():
    text = reference_markdown()
    for key in ("visa_odds", "exit_restriction", "state_funding_usd_m_per_year", "return_programme", "signing_bonus",
                "compute_access", "pipeline", "origin_mix", "entry_rate_per_year", "base_pay_usd", "target_quantile",
                "step_months", "researchers", "represents"):
        assert f"`{key}`" in text, key
    assert "(>= 0, <= 1)" in text  # ranges come from the declarations


def test_committed_reference_is_current():
    """docs/scenario-reference.md is generated; regenerate it with `talentsim schema > docs/scenario-reference.md`."""
    committed = (ROOT / "docs" / "scenario-reference.md").read_text()
    assert committed.strip() == reference_markdown().strip()
