"""What a scenario changes: exactly the levers it sets, month by month, against the scenario it extends."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulation import load_scenario
from simulation.changes import change_lines, changes_between, describe_changes, extended_scenario, run_changes_record
from simulation.cli import main

from conftest import SCENARIOS

BASELINE = (SCENARIOS / "baseline.yaml").as_posix()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture()
def chain(tmp_path):
    """baseline <- policy (two levers, one a schedule) <- child (one more lever, and one step of a parent's)."""
    policy = write(tmp_path, "policy.yaml", f"""
        name: policy
        extends: {BASELINE}
        levers:
          visa_odds:
            US:
              China:
                - {{from: 2025-01, value: 0.3}}
                - {{from: 2027-01, value: 0.2}}
          compute_access:
            China:
              - {{from: 2025-07, value: 0.4}}
        """)
    child = write(tmp_path, "child.yaml", """
        name: child
        extends: policy.yaml
        levers:
          state_funding_usd_m_per_year:
            region:
              China:
                - {from: 2026-01, value: 5000}
          visa_odds:
            US:
              China:
                - {from: 2029-01, value: 0.1}
        """)
    return policy, child


def paths(changes) -> set[str]:
    return {c.path for c in changes if c.lever}


def test_changes_list_exactly_the_levers_a_scenario_sets(chain):
    policy, _ = chain
    changes = changes_between(load_scenario(SCENARIOS / "baseline.yaml"), load_scenario(policy))
    assert paths(changes) == {"levers.visa_odds.US.China", "levers.compute_access.China"}
    assert [c for c in changes if not c.lever] == []
    lines = change_lines(changes)
    # before April 2025 the baseline's US rate for every origin is 0.57; from April 0.61 (the H-1B series)
    assert ("United States visa odds for China-origin researchers: 0.57 → 0.30 from January 2025; "
            "0.61 → 0.30 from April 2025; 0.61 → 0.20 from January 2027") in lines
    assert "Compute access in China (multiplier on compute per researcher): ×0.60 → ×0.40 from July 2025" in lines


def test_schedules_inherited_through_extends_are_not_changes_of_the_child(chain):
    policy, child = chain
    parent = extended_scenario(child)
    assert parent.name == "policy"
    changes = changes_between(parent, load_scenario(child))
    assert paths(changes) == {"levers.state_funding_usd_m_per_year.region.China", "levers.visa_odds.US.China"}
    visa = [c for c in changes if c.path == "levers.visa_odds.US.China"]
    # the child keeps the parent's steps before 2029 (inherited): only its own step differs, from the parent's 0.2
    assert [(c.old, c.new, c.start, c.end) for c in visa] == [("0.20", "0.10", "2029-01", None)]
    funding = [c for c in changes if c.path.endswith("region.China")]
    assert [(c.old, c.new, c.start) for c in funding] == [("$3,000M a year", "$5,000M a year", "2026-01")]
    # against the baseline (a named reference), the inherited schedules are changes again
    record = run_changes_record(load_scenario(child), child, against=SCENARIOS / "baseline.yaml")
    assert record["reference"] == "baseline"
    assert {c["path"] for c in record["changes"] if c["lever"]} == {
        "levers.visa_odds.US.China", "levers.compute_access.China", "levers.state_funding_usd_m_per_year.region.China"}


def test_a_lever_restated_at_its_reference_value_is_no_change(tmp_path):
    same = write(tmp_path, "same.yaml", f"""
        name: same
        extends: {BASELINE}
        levers:
          climate: {{US: {{China: 0}}}}          # unlisted climate is 0: the same world
          compute_access: {{US: 1.0}}            # unlisted compute access is 1
          permanent_residence_years: {{US: 6}}   # the baseline's value
        """)
    changes = changes_between(load_scenario(SCENARIOS / "baseline.yaml"), load_scenario(same))
    assert changes == []
    assert describe_changes(changes, "baseline") == "Changes from 'baseline': none (the same levers and settings)."


def test_a_lever_that_reverts_is_reported_for_its_span_only(tmp_path):
    pulse = write(tmp_path, "pulse.yaml", f"""
        name: pulse
        extends: {BASELINE}
        levers:
          exit_restriction:
            employer:
              deepseek:
                - {{from: 2025-03, value: 0.8}}
                - {{from: 2026-03, value: 0.0}}
        """)
    (change,) = changes_between(load_scenario(SCENARIOS / "baseline.yaml"), load_scenario(pulse))
    assert change.text == "Share of DeepSeek staff barred from leaving: 0% → 80% from March 2025 until February 2026"


def test_other_settings_are_listed_apart_and_run_options_are_not_changes(tmp_path):
    other = write(tmp_path, "other.yaml", f"""
        name: other
        extends: {BASELINE}
        run: {{end: 2030-01, researchers: 5000, seed: 3}}
        preferences: {{move_cost_region: 2.0}}
        """)
    changes = changes_between(load_scenario(SCENARIOS / "baseline.yaml"), load_scenario(other))
    assert paths(changes) == set()
    assert {c.path for c in changes} == {"run.end", "preferences.move_cost_region"}  # not researchers or seed
    text = describe_changes(changes, "baseline")
    before = load_scenario(SCENARIOS / "baseline.yaml").preferences.move_cost_region
    assert "(no lever differs)" in text and "Other settings:" in text and f"{before:g} → 2 throughout" in text


def test_validate_prints_what_each_scenario_changes(chain, capsys):
    policy, child = chain
    assert main(["validate", str(policy), str(child)]) == 0
    out = capsys.readouterr().out
    assert "Changes from 'baseline':" in out and "Changes from 'policy':" in out
    assert "State funding in China: $3,000M a year → $5,000M a year from January 2026" in out
    assert main(["validate", str(child), "--against", str(SCENARIOS / "baseline.yaml")]) == 0
    assert "Compute access in China" in capsys.readouterr().out  # inherited from policy, a change from baseline


def test_every_shipped_scenario_changes_what_its_description_says_it_changes():
    """Each shipped policy scenario changes at least one lever from the baseline, from 2025 on."""
    for path in sorted(SCENARIOS.glob("*.yaml")):
        if path.name == "baseline.yaml":
            continue
        changes = changes_between(extended_scenario(path), load_scenario(path))
        assert changes and all(c.lever for c in changes), path.name
        assert all(c.start and c.start >= "2025-01" for c in changes), path.name


def test_the_readme_shows_what_validate_prints(capsys):
    readme = (SCENARIOS.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ talentsim validate scenarios/decoupling.yaml\n", 1)[1].split("\n```", 1)[0]
    import os

    here = os.getcwd()
    os.chdir(SCENARIOS.parent)  # the README's paths are relative to the repository root
    try:
        assert main(["validate", "scenarios/decoupling.yaml"]) == 0
    finally:
        os.chdir(here)
    assert capsys.readouterr().out.strip() == shown.strip()
