"""Calibration: parameters set at key paths, a recovery check that recovers, and the files it writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from simulation.calibrate import Evaluator, calibrate, changed_values, load_calibration, scenario_with, write_calibrated_scenario
from simulation.cli import main
from simulation.scenario import ScenarioError, load_scenario, value_at

from conftest import ROOT, SCENARIOS

WORLD = SCENARIOS / "base" / "world.yaml"


def write_config(folder: Path, **changes) -> Path:
    targets = {"targets": {
        "china_2022": {"outcome": {"kind": "share", "region": "China", "tier": "all", "year": 2022},
                       "value": 0.2, "tolerance": 0.02, "source": "test"},
        "us_2022": {"outcome": {"kind": "share", "region": "US", "tier": "all", "year": 2022},
                    "value": 0.5, "tolerance": 0.02, "source": "test"},
    }}
    (folder / "targets.yaml").write_text(yaml.safe_dump(targets))
    config = {
        "name": "test", "scenario": str(WORLD), "targets": "targets.yaml", "output": "out/calibrated.yaml",
        "report": "out/calibration.md", "figures": "out/figures", "researchers": 1500, "replicates": 2,
        "report_replicates": 2, "seed": 3, "end": "2023-01", "workers": 2,
        "parameters": {
            "entry_rate": {"path": "levers.pipeline.entry_rate_per_year", "bounds": [0.05, 0.35]},
            "china_growth": {"path": "levers.research_funding_index.China", "from": "2019-01",
                             "until": "2021-01", "bounds": [0.5, 2.0]},
        },
        "search": {"initial_points": 8, "starts": 1, "max_evaluations": 16},
        "recovery": {"truth": {"entry_rate": 0.2, "china_growth": 1.3}, "initial_points": 8, "max_evaluations": 24},
    }
    config.update(changes)
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_parameter_with_until_changes_only_its_window(tmp_path):
    calibration = load_calibration(write_config(tmp_path))
    scenario = scenario_with(calibration, {"china_growth": 1.42})
    schedule = scenario.levers.research_funding_index["China"]
    base = calibration.scenario.levers.research_funding_index["China"]
    assert value_at(schedule, dt.date(2019, 6, 1)) == 1.42
    assert value_at(schedule, dt.date(2020, 12, 1)) == 1.42
    for month in (dt.date(2021, 1, 1), dt.date(2022, 6, 1), dt.date(2030, 1, 1)):
        assert value_at(schedule, month) == value_at(base, month)


def test_recovery_check_recovers_a_known_parameter_and_writes_a_loadable_scenario(tmp_path):
    config = write_config(
        tmp_path, researchers=2000,
        parameters={"entry_rate": {"path": "levers.pipeline.entry_rate_per_year", "bounds": [0.05, 0.35]}},
        recovery={"truth": {"entry_rate": 0.2}, "initial_points": 8, "max_evaluations": 24},
    )
    calibration = load_calibration(config)
    fit = calibrate(calibration, log=lambda _: None)
    (row,) = fit.recovery
    assert row["error_share_of_range"] < 0.1, fit.recovery
    assert fit.recovery_objective < 1.0
    assert len(fit.table) == 2 and all(r["low"] <= r["simulated"] <= r["high"] for r in fit.table)

    out = write_calibrated_scenario(calibration, fit, "talentsim calibrate test")
    written = load_scenario(out)
    assert value_at(written.levers.pipeline.entry_rate_per_year, dt.date(2020, 1, 1)) == fit.values["entry_rate"]
    assert written.employers == calibration.scenario.employers  # everything else comes from what it extends
    assert "do not edit by hand" in out.read_text()


def test_changed_values_hold_only_the_parameters():
    calibration = load_calibration(ROOT / "experiments" / "calibration" / "baseline.yaml")
    changed = changed_values(calibration, {"move_cost": 2.5, "home_china": 1.7})
    assert changed == {"preferences": {"move_cost_region": 2.5, "by_origin": {"China": {"home": {"mean": 1.7}}}}}


def test_bad_calibration_files_name_the_file_and_key(tmp_path, capsys):
    path = write_config(tmp_path, parameters={"oops": {"path": "levers.visa_odd.US", "bounds": [0, 1]}})
    with pytest.raises(ScenarioError) as info:
        load_calibration(path)
    text = str(info.value)
    assert str(path) in text and "parameters.oops.path" in text and "visa_odds" in text
    path = write_config(tmp_path, researchers=-5)
    assert main(["calibrate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "researchers" in err and "Traceback" not in err


def test_a_start_point_must_name_parameters_within_their_bounds(tmp_path):
    search = {"initial_points": 8, "starts": 1, "max_evaluations": 16}
    path = write_config(tmp_path, search={**search, "start": {"entry_rat": 0.2, "china_growth": 2.9}})
    with pytest.raises(ScenarioError) as info:
        load_calibration(path)
    lines = str(info.value).splitlines()
    assert any("search.start.entry_rat" in line and "entry_rate, china_growth" in line for line in lines)
    assert any("search.start.china_growth" in line and "[0.5, 2.0]" in line and "2.9" in line for line in lines)


def test_the_first_run_starts_from_the_start_point(tmp_path, monkeypatch):
    search = {"initial_points": 4, "starts": 1, "max_evaluations": 8, "start": {"entry_rate": 0.123}}
    path = write_config(tmp_path, search=search, recovery=None)
    seen = []
    original = Evaluator.evaluate

    def spy(self, points, targets):
        seen.extend(points)
        return original(self, points, targets)

    monkeypatch.setattr(Evaluator, "evaluate", spy)
    fit = calibrate(load_calibration(path), log=lambda _: None)
    assert seen[0] == pytest.approx({"entry_rate": 0.123, "china_growth": 1.25})  # china_growth mid-bounds
    design = 1 + 1 + 4  # the start, the mid-point and the Sobol points
    assert seen[design] == pytest.approx(seen[0])  # Nelder-Mead's first point
    assert fit.evaluations == len(seen)


def test_the_shipped_calibration_config_loads():
    calibration = load_calibration(ROOT / "experiments" / "calibration" / "baseline.yaml")
    assert {t.code for t in calibration.targets.values()} >= {"A1", "A2", "A4", "A5", "A6", "A8"}
    assert calibration.path(calibration.config.output) == (SCENARIOS / "base" / "calibrated.yaml").resolve()
