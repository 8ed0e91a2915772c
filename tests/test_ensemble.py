"""Parameter ensembles in answers: replicate i of a run or sweep uses draw i, recorded beside its seed."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from simulation import run
from simulation.cli import main
from simulation.ensemble import INTERVAL_KINDS, ParameterPlace, read_ensemble, write_ensemble
from simulation.experiment import ExperimentError, expand, load_experiment

from conftest import SCENARIOS, small_version


@pytest.fixture()
def ensemble_file(tmp_path):
    draws = pd.DataFrame({"draw": [0, 1, 2], "weight": [1 / 3] * 3, "move_cost": [0.5, 2.0, 3.5],
                          "pay": [1.2, 1.5, 1.8]})
    places = {"move_cost": ParameterPlace("preferences.move_cost_region"),
              "pay": ParameterPlace("preferences.default.pay.mean")}
    return write_ensemble(tmp_path / "test.ensemble.parquet", draws, places, {"method": "test"})


def test_an_ensemble_file_reads_back_with_where_each_parameter_lives(ensemble_file):
    ensemble = read_ensemble(ensemble_file)
    assert ensemble.parameters == ["move_cost", "pay"] and len(ensemble) == 3
    assert ensemble.values(1) == {"move_cost": 2.0, "pay": 1.5}
    assert ensemble.draw_for(4) == 1  # replicate i uses draw i, modulo the draws
    assert ensemble.places["pay"].path == "preferences.default.pay.mean"


def test_replicate_i_runs_with_draw_i_and_says_so(ensemble_file, baseline):
    small = small_version(baseline, researchers=1000, end="2021-01")
    ensemble = read_ensemble(ensemble_file)
    result = run(small, seed=5, replicates=3, ensemble=ensemble)
    assert [r["draw"] for r in result.manifest["replicates"]] == [0, 1, 2]
    assert result.manifest["interval"] == INTERVAL_KINDS["ensemble"]
    assert result.manifest["ensemble"]["parameters"]["move_cost"]["path"] == "preferences.move_cost_region"
    stocks = result.stocks
    assert list(stocks.columns).index("draw") == list(stocks.columns).index("seed") + 1
    assert (stocks.groupby("replicate")["draw"].first() == [0, 1, 2]).all()
    # replicate 1 is exactly a plain run of draw 1's scenario with replicate 1's seed
    plain = run(ensemble.scenario(small, 1), seed=5, replicates=3)
    mine = stocks[stocks.replicate == 1].drop(columns="draw").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, plain.stocks[plain.stocks.replicate == 1].reset_index(drop=True))
    alone = run(small, seed=5, replicates=1)
    assert "draw" not in alone.stocks.columns and alone.manifest["interval"] == INTERVAL_KINDS["replicates"]


def test_sweep_arms_pair_by_seed_and_draw(tmp_path, ensemble_file):
    text = f"""
    name: paired
    scenario: {SCENARIOS / "baseline.yaml"}
    run: {{researchers: 800, end: 2021-01}}
    seed: 2
    replicates: 3
    ensemble: {ensemble_file.name}
    levers:
      us_visa: {{from: 2020-01, path: levers.visa_odds.US.default, values: [0.3, 0.9]}}
    outcomes:
      us_share: {{kind: share, region: US, tier: top_tier, year: 2021}}
    """
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text))
    experiment = load_experiment(path)
    runs = expand(experiment)
    assert len(runs) == 6
    for replicate in range(3):
        arms = [spec for spec in runs if spec.replicate == replicate]
        assert {spec.seed for spec in arms} == {arms[0].seed} and {spec.uncertainties["draw"] for spec in arms} == {replicate}
        assert arms[0].uncertainties["move_cost"] == read_ensemble(ensemble_file).values(replicate)["move_cost"]
    scenario = experiment.scenario_for(runs[2])
    assert scenario.preferences.move_cost_region == read_ensemble(ensemble_file).values(1)["move_cost"]
    assert experiment.uncertainty_names == ["draw", "move_cost", "pay"]
    from simulation import read_experiment, sweep

    sweep(experiment, tmp_path / "out", workers=1, progress=False)
    outcomes = read_experiment(tmp_path / "out").outcomes
    assert list(outcomes["draw"]) == list(outcomes["replicate"]) == [0, 1, 2, 0, 1, 2]  # arm by arm
    assert list(outcomes["move_cost"]) == [0.5, 2.0, 3.5, 0.5, 2.0, 3.5]
    path.write_text(textwrap.dedent(text).replace("replicates: 3", "replicates: 4"))
    with pytest.raises(ExperimentError, match="more replicates than the ensemble has draws"):
        load_experiment(path)


def test_a_missing_ensemble_is_bad_input(tmp_path, capsys):
    code = main(["run", str(SCENARIOS / "baseline.yaml"), "--ensemble", str(tmp_path / "none.parquet"),
                 "--researchers", "500", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert "ensemble file not found" in capsys.readouterr().err


def test_a_parameter_shared_by_several_keys_sets_each_of_them(tmp_path):
    from simulation.ensemble import set_parameter

    data = {"preferences": {"default": {"home": {"mean": 1.0}}, "by_origin": {"China": {"home": {"mean": 1.2}}}}}
    place = ParameterPlace("preferences.default.home.mean", also=("preferences.by_origin.China.home.mean",))
    set_parameter(data, place, 2.5)
    assert data["preferences"]["default"]["home"]["mean"] == 2.5
    assert data["preferences"]["by_origin"]["China"]["home"]["mean"] == 2.5
    draws = pd.DataFrame({"draw": [0], "weight": [1.0], "home": [2.5]})
    written = write_ensemble(tmp_path / "shared.ensemble.parquet", draws, {"home": place}, {"method": "test"})
    assert read_ensemble(written).places["home"].paths == place.paths  # kept in the ensemble's metadata
