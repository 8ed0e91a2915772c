"""The what-if explorer's logic: controls from the schema, the changed scenario and its file, cancelled runs.

The page itself is tested in a real browser in test_explore_browser.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import time

import pandas as pd
import pytest
import yaml

from simulation import explore
from simulation.cli import main
from simulation.compare import compare_table
from simulation.explore import (
    OTHER_GROUP,
    Explorer,
    Request,
    changed_scenario,
    extends_path,
    lever_controls,
    save_scenario,
)
from simulation.results import load_results
from simulation.runner import run
from simulation.scenario import Levers, ScenarioError, load_scenario, value_at

from conftest import SCENARIOS

MONTH = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def controls(baseline):
    return lever_controls(baseline, MONTH)


def by_key(controls, key):
    return next(c for c in controls if c.key == key)


def test_every_lever_of_the_schema_has_controls(controls):
    levers = {c.lever for c in controls}
    assert levers == set(Levers.model_fields), "a lever of the schema has no control in the explorer"
    named = {lever for group in explore.GROUPS.values() for lever in group}
    assert named == set(Levers.model_fields) or OTHER_GROUP in {c.group for c in controls}


def test_a_lever_no_group_names_still_appears(baseline, monkeypatch):
    monkeypatch.setitem(explore.GROUPS, "Compute", ())
    controls = lever_controls(baseline, MONTH)
    compute = [c for c in controls if c.lever == "compute_access"]
    assert compute and {c.group for c in compute} == {OTHER_GROUP}


def test_controls_take_unit_range_and_meaning_from_the_schema(controls, baseline):
    visa = by_key(controls, "levers.visa_odds.US.default")
    assert (visa.minimum, visa.maximum, visa.low, visa.high) == (0.0, 1.0, 0.0, 1.0)
    assert visa.description.startswith(Levers.model_fields["visa_odds"].description.split(" (")[0])
    assert visa.group == "Immigration" and visa.unit.startswith("probability")
    # the value in force at the change month, not the first or last step of the schedule
    assert visa.reference == value_at(baseline.levers.visa_odds["US"]["default"], MONTH)
    assert visa.later == (("2025-04", 0.61),)  # the starting scenario's own later step, which a change replaces

    bonus = by_key(controls, "levers.signing_bonus.openai.standard.bonus_usd")
    assert bonus.unit == "USD" and bonus.group == "Money" and bonus.minimum == 0.0
    assert bonus.reference == 500_000 and bonus.high >= 3 * 5_000_000 / 10  # one span for every employer's bonus
    assert bonus.maximum is None or bonus.high <= bonus.maximum / 100  # a usable slider, not all of a vast range
    assert "threshold" in bonus.description

    funding = by_key(controls, "levers.state_funding_usd_m_per_year.region.China")
    assert funding.unit == "USD million per year" and funding.reference == 3000
    entry = by_key(controls, "levers.pipeline.entry_rate_per_year")
    assert entry.group == "Pipeline" and entry.unit == "per year"
    shift = by_key(controls, "levers.pipeline.quality_shift.China")
    assert (shift.minimum, shift.maximum, shift.low, shift.high) == (-2.0, 2.0, -2.0, 2.0)


def test_unlisted_entries_take_the_value_the_model_uses(controls, baseline):
    china_origin = by_key(controls, "levers.visa_odds.US.China")
    assert not china_origin.listed
    assert china_origin.reference == value_at(baseline.levers.visa_odds["US"]["default"], MONTH)  # its 'default'
    compute_us = by_key(controls, "levers.compute_access.US")
    assert not compute_us.listed and compute_us.reference == 1.0  # the schema: "Unlisted: 1"
    exit_openai = by_key(controls, "levers.exit_restriction.employer.openai")
    assert exit_openai.reference == 0.0 and exit_openai.maximum == 1.0


def test_the_saved_file_extends_the_start_holds_only_the_changes_and_loads_as_shown(controls, baseline, tmp_path):
    changes = {(("visa_odds", "US", "China"), None): 0.2,
               (("signing_bonus", "openai", "standard"), "bonus_usd"): 2_000_000.0,
               (("pipeline", "origin_mix"), "China"): 0.4}
    target = tmp_path / "what_if.yaml"
    built = changed_scenario(baseline, controls, changes, MONTH, name="what_if",
                             extends=extends_path(SCENARIOS / "baseline.yaml", target))
    save_scenario(built, target, command="talentsim run what_if.yaml")
    data = yaml.safe_load(target.read_text())
    mix = value_at(baseline.levers.pipeline.origin_mix, MONTH)
    assert set(data) == {"extends", "name", "description", "levers"}
    assert data["levers"] == {
        "visa_odds": {"US": {"China": [{"from": "2025-01", "value": 0.2}]}},
        "signing_bonus": {"openai": {"standard": [{"from": "2025-01", "value": {
            "budget_usd_m_per_year": 15.0, "bonus_usd": 2_000_000.0, "max_usd": 5_000_000.0,
            "target_quantile": 0.99, "quality_elasticity": 1.0}}]}},
        "pipeline": {"origin_mix": [{"from": "2025-01", "value": {
            k: 0.4 if k == "China" else pytest.approx(v / (1 - mix["China"]) * 0.6, abs=1e-6)
            for k, v in mix.items()}}]},  # the other origins keep their proportions
    }
    assert "2025-01" in data["description"] and "0.2" in data["description"]
    loaded = load_scenario(target)
    assert loaded == built.scenario
    # before the change the scenario is the baseline's; from it on, the new values
    before, after = dt.date(2024, 10, 1), MONTH
    us = loaded.levers.visa_odds["US"]
    assert value_at(us["China"], before, value_at(us["default"], before)) == value_at(us["default"], before)
    assert value_at(us["China"], after) == 0.2
    assert math.isclose(sum(value_at(loaded.levers.pipeline.origin_mix, after).values()), 1.0)


def test_a_change_outside_the_allowed_range_is_refused(controls, baseline):
    visa = by_key(controls, "levers.visa_odds.US.default")
    assert visa.check(1.4) == "must be 0 to 1"
    with pytest.raises(ScenarioError, match="levers.visa_odds.US.default"):
        changed_scenario(baseline, controls, {(visa.path, visa.part): 1.4}, MONTH)
    with pytest.raises(ValueError, match="add up to"):
        changed_scenario(baseline, controls, {(("pipeline", "origin_mix"), "China"): 0.8,
                                              (("pipeline", "origin_mix"), "US"): 0.5}, MONTH)


def test_a_change_to_the_value_in_force_reproduces_the_baseline_exactly(controls, small):
    """The analytic limit: a lever set, from a month on, to the value it has then (and keeps: no later step of
    its schedule falls inside the run) changes nothing."""
    month = dt.date(2023, 7, 1)
    small_controls = lever_controls(small, month)
    visa = by_key(small_controls, "levers.visa_odds.US.default")
    bonus = by_key(small_controls, "levers.signing_bonus.google.standard.bonus_usd")
    assert visa.later == () and visa.reference == 0.55
    built = changed_scenario(small, small_controls, {(visa.path, None): visa.reference,
                                                     (bonus.path, bonus.part): bonus.reference}, month)
    a, b = run(small, seed=5), run(built.scenario, seed=5)
    pd.testing.assert_frame_equal(a.stocks, b.stocks)
    pd.testing.assert_frame_equal(a.flows, b.flows)


@pytest.fixture(scope="module")
def explorer():
    with Explorer() as service:
        yield service


def quick(scenario, researchers=2000):
    """The scenario at a size the tests can run many times."""
    return scenario.with_run(researchers=researchers, end="2027-01")


def test_a_newer_request_cancels_the_running_one(explorer, baseline):
    start = quick(baseline, researchers=20_000)
    controls = lever_controls(start, MONTH)
    first = changed_scenario(start, controls, {(("visa_odds", "US", "default"), None): 0.2}, MONTH)
    second = changed_scenario(start, controls, {(("visa_odds", "US", "default"), None): 0.9}, MONTH)
    cancelled = explorer.status.cancelled
    job = explorer.submit(Request(start.to_dict(), first.scenario.to_dict(), seed=1, replicates=4,
                                  researchers=20_000))
    deadline = time.monotonic() + 60
    while explorer.status.progress == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert explorer.status.job == job and explorer.status.state == "running"
    # two newer requests in quick succession: the first is stopped part-way, the middle one never starts
    explorer.submit(Request(start.to_dict(), first.scenario.to_dict(), seed=2, replicates=2, researchers=20_000))
    newer = explorer.submit(Request(start.to_dict(), second.scenario.to_dict(), seed=1, replicates=1,
                                    researchers=2000))
    status = explorer.wait(newer)
    assert status.state == "done", status.error
    assert status.cancelled == cancelled + 1  # the worker stopped the first between two steps, skipped the second
    assert status.answer["scenarios"] == ["baseline", "baseline_changed"]
    table = pd.DataFrame(status.answer["table"])
    assert table["replicates"].max() == 1  # the answer is the newer request's, not the cancelled one's


def test_the_explorer_shows_what_talentsim_run_of_the_saved_file_gives(explorer, baseline, tmp_path, monkeypatch):
    start_file = tmp_path / "start.yaml"
    start_file.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\nname: start\nrun: {{end: 2027-01}}\n")
    start = load_scenario(start_file)
    controls = lever_controls(start, MONTH)
    target = tmp_path / "saved" / "visa_cut.yaml"
    changes = {(("visa_odds", "US", "default"), None): 0.25, (("compute_access", "China"), None): 0.3}
    built = changed_scenario(start, controls, changes, MONTH, name="visa_cut",
                             extends=extends_path(start_file, target))
    save_scenario(built, target)
    job = explorer.submit(Request(start.to_dict(), built.scenario.to_dict(), seed=11, replicates=2,
                                  researchers=2000, years=(2026.0,)))
    status = explorer.wait(job)
    assert status.state == "done", status.error
    shown = pd.DataFrame(status.answer["table"])
    assert set(status.answer["figures"]) == {"migration", "difference", "retention"}

    monkeypatch.chdir(tmp_path)
    for scenario, out in ((start_file, "base"), (target, "changed")):
        assert main(["run", str(scenario), "--seed", "11", "--replicates", "2", "--researchers", "2000",
                     "--out", out, "--no-figures", "--quiet", "--format", "parquet"]) == 0
    again = compare_table([load_results(tmp_path / "base"), load_results(tmp_path / "changed")], at=[2026.0])
    again = pd.DataFrame(again.to_dict("records"))  # as the page receives it
    numbers = ["median", "low", "high", "diff_median", "diff_low", "diff_high"]
    assert list(shown.columns) == list(again.columns)
    pd.testing.assert_frame_equal(shown, again, check_dtype=False)
    assert len(again) and again[numbers[:3]].notna().all().all()
    changed_rows = again[again.scenario == "visa_cut"]
    assert (changed_rows["diff_median"].abs() > 0).any()  # the change did change something


def test_the_report_is_the_one_talentsim_report_writes(explorer, baseline, tmp_path):
    start = quick(baseline)
    job = explorer.submit(Request(start.to_dict(), None, seed=3, replicates=1, researchers=2000))
    assert explorer.wait(job).state == "done"
    html = explorer.report("run")
    assert html.startswith("<!DOCTYPE html>") and "talentsim scenario report" in html
    from simulation.report import report_html
    from simulation.style import display_name

    title = re.search(r"<h1>.*?</h1>", report_html(run(start, seed=3, replicates=1, researchers=2000))).group(0)
    assert title in html and display_name("baseline") in title  # the heading talentsim report writes
    assert "<img" in html and "http://" not in html.split("</head>")[0]


def test_explore_says_what_to_install_when_the_extra_is_missing(monkeypatch, capsys):
    import importlib.util
    import sys

    real = importlib.util.find_spec
    monkeypatch.delitem(sys.modules, "simulation.explore_server", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "solara" else real(name, *a))
    assert main(["explore", str(SCENARIOS / "baseline.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[explore]"' in err and "solara" in err


def test_explore_checks_the_scenario_before_starting(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\nname: bad\nlevers: {{visa_odds: {{US: {{default: 1.4}}}}}}\n")
    assert main(["explore", str(bad)]) == 2
    assert "levers.visa_odds.US.default" in capsys.readouterr().err


def test_saving_never_overwrites_the_scenario_it_builds_on(controls, tmp_path):
    start_file = tmp_path / "start.yaml"
    start_file.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\nname: start\n")
    start = load_scenario(start_file)
    built = changed_scenario(start, controls, {(("compute_access", "China"), None): 0.3}, MONTH, name="start",
                             extends="start.yaml")
    before = start_file.read_text()
    with pytest.raises(ValueError, match="builds on"):
        save_scenario(built, start_file)
    assert start_file.read_text() == before
    save_scenario(built, tmp_path / "again.yaml")  # any other name is fine, and can be saved over
    save_scenario(built, tmp_path / "again.yaml")
    assert load_scenario(tmp_path / "again.yaml") == built.scenario


def test_another_tier_redraws_without_running_again(explorer, baseline):
    start = quick(baseline)
    built = changed_scenario(start, lever_controls(start, MONTH), {(("compute_access", "China"), None): 0.3}, MONTH)
    request = Request(start.to_dict(), built.scenario.to_dict(), seed=4, replicates=1, researchers=2000)
    first = explorer.wait(explorer.submit(request))
    again = explorer.wait(explorer.submit(dataclasses.replace(request, tier="elite")))
    assert first.answer["timing"]["runs"] >= 1 and again.answer["timing"]["runs"] == 0
    assert again.answer["figures"]["migration"] != first.answer["figures"]["migration"]


def test_explore_says_when_the_port_is_taken(capsys):
    import socket

    pytest.importorskip("solara", reason="the explore extra is not installed")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        assert main(["explore", str(SCENARIOS / "baseline.yaml"), "--port", str(port)]) == 2
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err and "Traceback" not in err


def test_no_process_outlives_a_killed_worker(baseline):
    """The worker and its helpers leave with the process that started them, even when it is killed."""
    import os
    import signal

    with Explorer(helpers=2) as service:
        job = service.submit(Request(quick(baseline).to_dict(), None, seed=1, replicates=2, researchers=2000))
        assert service.wait(job).state == "done"
        worker = service._process.pid
        children = [int(p) for p in open(f"/proc/{worker}/task/{worker}/children").read().split()]
        assert len(children) >= 2
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read().lower()
                  for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in children if os.path.exists(f"/proc/{pid}")
                and "zombie" not in open(f"/proc/{pid}/status").read().lower()]
        assert not left, f"helper processes {left} outlived their worker"
