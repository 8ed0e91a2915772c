"""Calibration: parameters set at key paths, an ABC ensemble that recovers a known parameter, the files and report it
writes, the distance, and the evidence arithmetic behind the inputs and targets."""

from __future__ import annotations

import datetime as dt
import math
import runpy
from pathlib import Path

import pytest
import yaml

from simulation.calibrate import load_calibration, scenario_with
from simulation.calibrate.simulate import distance, point_seed
from simulation.cli import main
from simulation.ensemble import read_ensemble
from simulation.scenario import ScenarioError, load_scenario, value_at

from conftest import ROOT, SCENARIOS

WORLD = SCENARIOS / "base" / "world.yaml"
CALIBRATION = ROOT / "experiments" / "calibration"
TINY_ABC = {"population": 10, "generations": 2, "max_simulations": 40, "min_epsilon": 0.5}


def write_config(folder: Path, **changes) -> Path:
    targets = {"targets": {
        "china_2021": {"outcome": {"kind": "share", "region": "China", "tier": "all", "year": 2021},
                       "value": 0.2, "tolerance": 0.02, "source": "test", "code": "T1"},
        "us_2021": {"outcome": {"kind": "share", "region": "US", "tier": "all", "year": 2021},
                    "value": 0.5, "tolerance": 0.02, "source": "test", "code": "T2"},
        "us_origin_in_us": {"outcome": {"kind": "origin_share", "origin": "US", "region": "US", "year": 2019},
                            "value": 0.31, "tolerance": 0.03, "weight": 0, "fitted_by": "initial_state", "source": "test"},
    }}
    (folder / "targets.yaml").write_text(yaml.safe_dump(targets))
    config = {
        "name": "test", "scenario": str(WORLD), "targets": "targets.yaml", "output": "out/calibrated.yaml",
        "report": "out/calibration.md", "figures": "out/figures", "researchers": 800, "replicates": 1,
        "ensemble_draws": 16, "report_draws": 4, "report_replicates": 2, "seed": 3, "end": "2021-01", "report_end": "2023-01", "workers": 1,
        "parameters": {
            "entry_rate": {"path": "levers.pipeline.entry_rate_per_year", "bounds": [0.05, 0.35], "defence": "test"},
            "move_cost": {"path": "preferences.move_cost_region", "bounds": [0.3, 4.0]},
        },
        "abc": TINY_ABC,
        "recovery": None,
        "profiles": {"points": 3, "replicates": 1},
        "holdouts": {"us": {"targets": ["us_2021"], "description": "predict the US share"}},
        "projections": {"us_2022": {"kind": "share", "region": "US", "tier": "top_tier", "year": 2022}},
    }
    config.update(changes)
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_parameter_with_until_changes_only_its_window(tmp_path):
    path = write_config(tmp_path, parameters={"visa": {"path": "levers.visa_odds.US.default", "from": "2019-01",
                                                        "until": "2021-01", "bounds": [0.1, 0.95]}})
    calibration = load_calibration(path)
    scenario = scenario_with(calibration, {"visa": 0.9})
    schedule = scenario.levers.visa_odds["US"]["default"]
    base = calibration.scenario.levers.visa_odds["US"]["default"]
    assert value_at(schedule, dt.date(2019, 6, 1)) == 0.9
    assert value_at(schedule, dt.date(2020, 12, 1)) == 0.9
    for month in (dt.date(2021, 1, 1), dt.date(2022, 6, 1), dt.date(2030, 1, 1)):
        assert value_at(schedule, month) == value_at(base, month)


def test_distance_is_the_weighted_rms_error_in_tolerance_units():
    observed, tolerances = {"a": 0.5, "b": 0.2, "c": 9.0}, {"a": 0.1, "b": 0.05, "c": 1.0}
    simulated = {"a": 0.6, "b": 0.1, "c": math.nan}
    assert distance(simulated, observed, tolerances, {"a": 1, "b": 1}) == pytest.approx(math.sqrt((1 + 4) / 2))
    assert distance(simulated, observed, tolerances, {"a": 3, "b": 1}) == pytest.approx(math.sqrt((3 + 4) / 4))
    assert distance(simulated, observed, tolerances, {"a": 1, "c": 1}) == math.inf  # a missing value is far away
    assert point_seed(1, {"x": 0.1}) == point_seed(1, {"x": 0.1}) != point_seed(2, {"x": 0.1})


def test_a_declared_discrepancy_widens_the_distance_not_the_pass_mark(tmp_path):
    path = write_config(tmp_path)
    targets = yaml.safe_load((tmp_path / "targets.yaml").read_text())
    targets["targets"]["us_2021"]["discrepancy"] = 0.0375  # with tolerance 0.02: one distance unit is 0.0425
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    target = load_calibration(path).targets["us_2021"]
    assert target.scale == pytest.approx(math.hypot(0.02, 0.0375))
    assert target.tolerance == 0.02  # 'within tolerance' keeps the published tolerance
    targets["targets"]["us_2021"]["discrepancy"] = -0.1
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    with pytest.raises(ScenarioError, match="discrepancy"):
        load_calibration(path)


def test_external_checks_are_never_fitted_and_a_role_must_be_known(tmp_path):
    calibration = load_calibration(CALIBRATION / "baseline.yaml")
    external = [n for n, t in calibration.targets.items() if t.fitted_by == "external"]
    assert external and not set(external) & set(calibration.fitted)
    path = write_config(tmp_path)
    targets = yaml.safe_load((tmp_path / "targets.yaml").read_text())
    targets["targets"]["us_2021"]["fitted_by"] = "fitted"
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    with pytest.raises(ScenarioError) as info:
        load_calibration(path)
    assert "fitted_by" in str(info.value) and "external" in str(info.value)
    targets["targets"]["us_2021"]["fitted_by"] = "external"  # weight 1 by default
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    with pytest.raises(ScenarioError, match="never fitted"):
        load_calibration(path)


def test_a_tiny_calibration_writes_an_ensemble_a_loadable_scenario_and_a_report(tmp_path):
    pytest.importorskip("pyabc")
    path = write_config(tmp_path)
    assert main(["calibrate", str(path), "--quiet"]) == 0
    out = tmp_path / "out"
    ensemble = read_ensemble(out / "calibrated.ensemble.parquet")
    assert len(ensemble) == 16 and ensemble.parameters == ["entry_rate", "move_cost"]
    assert ensemble.draws["weight"].sum() == pytest.approx(1.0)
    assert ensemble.draws["entry_rate"].between(0.05, 0.35).all() and ensemble.draws["move_cost"].between(0.3, 4).all()
    written = load_scenario(out / "calibrated.yaml")
    point = yaml.safe_load((out / "calibrated.yaml").read_text())
    entry = point["levers"]["pipeline"]["entry_rate_per_year"]
    assert value_at(written.levers.pipeline.entry_rate_per_year, dt.date(2020, 1, 1)) == entry[0]["value"]
    assert written.employers == load_scenario(WORLD).employers  # everything else comes from what it extends
    report = (out / "calibration.md").read_text()
    for heading in ("## Targets", "## Parameters", "Which targets pin which parameter", "## Held-out checks",
                    "## Projections across the ensemble", "## Estimation and cost"):
        assert heading in report
    assert "2 free parameters, 2 fitted targets (1.0 per parameter)" in report
    assert "initial state" in report and "parameter uncertainty and replicate noise" in report
    for figure in ("targets", "profiles", "ensemble_parameters", "ensemble_migration_curve"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 1000


def test_the_recovery_check_recovers_a_known_parameter(tmp_path):
    pytest.importorskip("pyabc")
    from simulation.calibrate import calibrate

    path = write_config(
        tmp_path, researchers=1500, parameters={"entry_rate": {"path": "levers.pipeline.entry_rate_per_year",
                                                                "bounds": [0.05, 0.35]}},
        recovery={"truth": {"entry_rate": 0.2}, "abc": {"population": 20, "generations": 3, "max_simulations": 120}},
        abc={"population": 10, "generations": 1, "max_simulations": 20}, holdouts={}, profiles=None,
    )
    # graduates are more often Chinese than the stock, so China's share by origin in 2021 moves with the entry rate
    targets = {"targets": {"china_origin": {"outcome": {"kind": "origin_share", "origin": "China", "tier": "all",
                                                        "year": 2021}, "value": 0.33, "tolerance": 0.01, "source": "test"}}}
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    fit = calibrate(load_calibration(path), log=lambda _: None, checks=False)
    (row,) = fit.recovery
    assert row["error_share_of_range"] < 0.15, fit.recovery
    assert row["low"] <= row["recovered"] <= row["high"]


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
    path = write_config(tmp_path, holdouts={"all": {"targets": ["us_2021", "china_2021", "nope"]}})
    with pytest.raises(ScenarioError) as info:
        load_calibration(path)
    text = str(info.value)
    assert "holdouts.all.targets" in text and "nope" in text and "leaves no fitted target" in text


def test_the_shipped_calibration_has_every_evidence_target_and_two_per_parameter():
    calibration = load_calibration(CALIBRATION / "baseline.yaml")
    codes = {code.strip() for t in calibration.targets.values() for code in t.code.split(",")}
    assert codes >= {"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9"}
    assert len(calibration.fitted) >= 2 * len(calibration.config.parameters)
    regions = {t.outcome.region for t in calibration.targets.values() if t.code == "A1"}
    assert regions == {"US", "China", "Europe", "RoW"}
    assert all(p.defence for p in calibration.config.parameters.values())
    assert calibration.ensemble_path == (SCENARIOS / "base" / "calibrated.ensemble.parquet").resolve()


def test_derived_inputs_reproduce_the_origin_mix_of_the_top_tier_and_the_elite():
    script = runpy.run_path(str(CALIBRATION / "derive_inputs.py"))
    targets = script["mapped_targets"]()
    for name in ("B1 top-tier origin", "A1 top-tier work 2019", "A9 elite origin", "A9 elite work"):
        assert sum(targets[name].values()) == pytest.approx(1.0)
    population = targets["B1 top-tier origin"]
    quality = script["quality_by_origin"](population, population, targets["A9 elite origin"])
    mixes = script["check"](population, quality)
    for origin in ("US", "China", "Europe", "RoW"):
        assert mixes["top tier"][origin] == pytest.approx(population[origin], abs=2e-3)
        assert mixes["elite"][origin] == pytest.approx(targets["A9 elite origin"][origin], abs=2e-3)
    assert quality["China"]["sigma"] < quality["US"]["sigma"]  # fewer elite than top-tier Chinese: a thinner tail
    for shares in script["graduate_origin_mix"]().values():
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)


def test_the_ensemble_can_be_estimated_on_a_dask_cluster(tmp_path):
    pytest.importorskip("pyabc")
    distributed = pytest.importorskip("distributed")
    from simulation.calibrate.abc import estimate

    calibration = load_calibration(write_config(tmp_path))
    observed = {n: t.value for n, t in calibration.targets.items()}
    settings = calibration.config.abc.model_copy(update={"population": 4, "generations": 1, "max_simulations": 8})
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        posterior = estimate(calibration, observed, {"us_2021": 1.0}, settings, seed=1, client=client, log=lambda _: None)
    assert len(posterior.particles) == 4 and posterior.simulations >= 4
    assert set(posterior.simulated[0]) == set(calibration.targets)


def test_without_pyabc_calibrate_says_which_extra_to_install(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "pyabc", None)  # import pyabc now raises ImportError
    assert main(["calibrate", str(write_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "talentsim[calibrate]" in err and "Traceback" not in err


def test_the_2022_diagnosis_runs_every_probe_and_each_acts_in_its_direction(capsys):
    script = runpy.run_path(str(CALIBRATION / "diagnose_2022.py"), run_name="diagnosis")
    assert script["main"](["--replicates", "2", "--researchers", "2000"]) == 0
    probes, newcomers = capsys.readouterr().out.split("\n\n")
    rows = {line.split(" | ")[0].strip("| "): [float(c.strip(" %|")) for c in line.split(" | ")[1:]]
            for line in probes.splitlines() if line.startswith("| ") and "%" in line and "published" not in line}
    assert set(rows) == set(script["VARIANTS"])
    base = rows["calibrated baseline"]
    better = rows["China-trained graduates better (+1 ln quality, 2019-2022)"]
    assert better[2] > base[2] and better[3] > base[3]  # China's origin share rises, in the top tier and the elite
    assert rows["all of the above"][0] < base[0]  # and the US's work share falls
    # the arithmetic of the miss: the published tier grew with NeurIPS (2,671 / 1,428 papers), the model's far less
    table = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in newcomers.splitlines()[2:]}
    assert table["tier growth"][0] == "1.87x" and 1.0 < float(table["tier growth"][1].rstrip("x")) < 1.5
    assert table["of Chinese origin"][0] == "62%" and table["working in China"][0] == "42%"


def test_the_newcomers_the_published_shares_imply_add_back_up_to_them():
    script = runpy.run_path(str(CALIBRATION / "diagnose_2022.py"), run_name="diagnosis")
    survival = 0.86
    implied = script["implied_newcomers"](survival)
    g = implied["tier growth"]
    for key, published in script["PUBLISHED_2022"].items():
        mixed = (script["PUBLISHED_2019"][key] * survival + implied[key] * (g - survival)) / g
        assert mixed == pytest.approx(published)
