"""A small real experiment from sweep to analysis and report; sweeps from Python; levers changed in code."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from simulation import load_scenario, read_experiment, sweep
from simulation.cli import main
from simulation.experiment import ExperimentError
from simulation.scenario import ScenarioError, value_at

from conftest import SCENARIOS, write_experiment

pytest.importorskip("SALib")
pytest.importorskip("prim")

# Two lever arms under a Saltelli design of two preference weights (2 base samples: 8 draws), one replicate.
SALTELLI_EXPERIMENT = f"""
name: tiny_saltelli
description: Does opening US visas keep the US ahead of China, whatever researchers value?
scenario: {SCENARIOS / "baseline.yaml"}
run: {{researchers: 600, end: 2021-01}}
seed: 5
levers:
  us_visa:
    label: US visa odds
    from: 2019-07
    path: levers.visa_odds.US.default
    values: [0.3, 0.95]
uncertainties:
  pay_weight: {{label: Weight on pay, path: preferences.default.pay.mean, range: [1.0, 2.0]}}
  impact_weight: {{label: Weight on impact, path: preferences.default.impact.mean, range: [0.5, 1.5]}}
sampling: {{method: saltelli, samples: 2}}
outcomes:
  us_share: {{kind: share, region: US, year: 2020}}
  china_share: {{kind: share, region: China, year: 2020}}
curves:
  location: {{kind: migration, tier: top_tier}}
analysis:
  outcome: us_share - china_share
  label: US lead over China in top-tier share, 2020
  above: 0.3
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    path = write_experiment(folder, SALTELLI_EXPERIMENT)
    out = folder / "results"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    return out


def test_analyze_command_writes_tables_and_figures_from_the_file_s_analysis_section(swept, capsys):
    assert main(["analyze", str(swept), "--format", "png", "--dpi", "80"]) == 0
    text = capsys.readouterr().out
    assert "Sobol total index" in text and "Robustness of each lever arm: US lead over China" in text
    out = swept / "analysis"
    results = read_experiment(swept)
    sobol = pd.read_parquet(out / "sobol.parquet")
    assert len(sobol) == 2 * 2 * 2  # arms x outcomes x uncertainties
    assert set(sobol["parameter"]) == {"pay_weight", "impact_weight"} and (sobol["base_samples"] == 2).all()
    robustness = pd.read_parquet(out / "robustness.parquet")
    assert sorted(robustness["us_visa"]) == [0.3, 0.95] and (robustness["runs"] == 8).all()
    lead = results.outcomes["us_share"] - results.outcomes["china_share"]
    for row in robustness.itertuples():
        mine = lead[results.outcomes["us_visa"] == row.us_visa]
        assert row.share_meeting == pytest.approx((mine >= 0.3).mean())
        assert row.median == pytest.approx(mine.median())
    regret = pd.read_parquet(out / "regret.parquet")
    assert len(regret) == 16 and (regret.groupby(["sample", "replicate"])["regret"].min() == 0).all()
    for name in ("robustness", "parallel_coordinates", "arm_envelopes_location", "sobol_us_share"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name


def test_analyze_command_explains_what_it_cannot_do(swept, tmp_path, capsys):
    assert main(["analyze", str(swept), "--sensitivity", "morris"]) == 2
    assert "Morris screening needs a morris design, and this sweep's design is saltelli" in capsys.readouterr().err
    assert main(["analyze", str(swept), "--outcome", "us_shar", "--above", "0.3"]) == 2
    assert "did you mean 'us_share'?" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "no such folder; give the --out folder of 'talentsim sweep'" in capsys.readouterr().err
    assert main(["analyze", str(swept), "--above", "0.3", "--below", "0.4"]) == 2  # argparse: one or the other


def test_sweep_report_holds_the_question_design_tables_figures_and_provenance(swept, tmp_path):
    path = tmp_path / "sweep.html"
    assert main(["report", str(swept), "-o", str(path), "--above", "0.25", "--outcome", "us_share"]) == 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', text):
        assert value.startswith(("data:", "#")), value[:60]
    for expected in ("Does opening US visas keep the US ahead of China", "Design", "Robustness of each policy",
                     "What drives the outcomes", "Scenario discovery", "Provenance", "levers.visa_odds.US.default",
                     "a Saltelli design of 2 base samples", "at least 25.0%", "Weight on pay", "SHA-256"):
        assert expected in text, expected
    assert main(["report", str(swept), "--at", "2020"]) == 2  # a run report's option


def test_sweep_report_loads_in_chromium_without_errors(swept, tmp_path):
    from test_report import Chromium, _browser, problems_on_load

    executable = _browser()
    if executable is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium)")
    path = tmp_path / "sweep.html"
    assert main(["report", str(swept), "-o", str(path)]) == 0
    browser = Chromium(executable)
    try:
        found = problems_on_load(browser, path)
    finally:
        browser.close()
    assert found["errors"] == [] and found["exceptions"] == [] and found["failed"] == [] and found["remote"] == []
    assert len(found["images"]) == found["captions"] >= 5
    for image in found["images"]:
        assert image["complete"] and image["width"] > 0 and image["shown"] > 0, image["alt"]


# --------------------------------------------------------------------------------------------------------------
# Sweeps from Python, levers from code


def test_a_sweep_from_python_is_the_sweep_of_the_same_experiment_file(baseline, tmp_path):
    text = f"""
    name: from_file
    scenario: {SCENARIOS / "baseline.yaml"}
    run: {{researchers: 500, end: 2020-07}}
    seed: 9
    levers:
      visa_odds_US_default: {{path: levers.visa_odds.US.default, values: [0.3, 0.9]}}
    uncertainties:
      preferences_default_pay_mean: {{path: preferences.default.pay.mean, range: [1.0, 2.0]}}
    sampling: {{method: latin_hypercube, samples: 2}}
    outcomes:
      us_top_tier_share_2020: {{kind: share, region: US, year: 2020}}
    """
    main(["sweep", str(write_experiment(tmp_path, text)), "--out", str(tmp_path / "file"), "--workers", "0",
          "--quiet"])
    summary = sweep(baseline, tmp_path / "python", levers={"levers.visa_odds.US.default": [0.3, 0.9]},
                    uncertainties={"preferences.default.pay.mean": (1.0, 2.0)}, sampler="latin_hypercube", samples=2,
                    seed=9, run={"researchers": 500, "end": "2020-07"},
                    outcomes={"us_top_tier_share_2020": {"kind": "share", "region": "US", "year": 2020}},
                    workers=0, progress=False)
    assert summary.ok and summary.planned == 4
    a, b = read_experiment(tmp_path / "file").outcomes, read_experiment(tmp_path / "python").outcomes
    pd.testing.assert_frame_equal(a, b)  # same runs, ids, seeds and outcomes


def test_sweep_arguments_are_checked_as_a_file_is(baseline, tmp_path):
    with pytest.raises(ExperimentError) as caught:
        sweep(baseline, tmp_path / "bad", levers={"levers.visa_odds.US.default": [0.3, 1.5]},
              sampler="saltelli", samples=3, uncertainties={"preferences.default.pay.mean": (1.0, 2.0)})
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("sweep() arguments: sampling: saltelli needs a power of 2") for p in problems), problems
    with pytest.raises(ExperimentError) as caught:
        sweep(baseline, tmp_path / "bad", levers={"levers.visa_odds.US.default": [0.3, 1.5]})
    [problem] = caught.value.problems
    assert str(problem).startswith("sweep() arguments: levers.visa_odds_US_default.values[1]: gives a scenario that "
                                   "is not allowed: levers.visa_odds.US.default")
    with pytest.raises(TypeError, match="levers: give these with a base scenario"):
        sweep(write_experiment(tmp_path), levers={"a": [1]})


def test_with_levers_is_validated_like_a_file_that_extends_the_scenario(baseline, tmp_path):
    changed = baseline.with_levers(visa_odds={"US": {"default": [{"from": "2025-04", "value": 0.9}]}})
    file = tmp_path / "open.yaml"
    file.write_text(f"name: baseline\nextends: {SCENARIOS / 'baseline.yaml'}\nlevers:\n  visa_odds:\n    US:\n"
                    "      default:\n        - {from: 2025-04, value: 0.9}\n")
    assert changed == load_scenario(file).model_copy(update={"description": baseline.description})
    schedule = changed.levers.visa_odds["US"]["default"]
    before, after = dt.date(2024, 6, 1), dt.date(2026, 1, 1)
    assert value_at(schedule, before) == value_at(baseline.levers.visa_odds["US"]["default"], before) == 0.57
    assert value_at(schedule, after) == 0.9
    dotted = baseline.with_levers({"state_funding_usd_m_per_year.region.China": 12000})
    assert value_at(dotted.levers.state_funding_usd_m_per_year.region["China"], after) == 12000
    assert baseline.with_levers() is baseline
    with pytest.raises(ScenarioError) as caught:
        baseline.with_levers({"visa_odds.US.default": 1.5, "visa_odd.US.default": 0.5})
    text = str(caught.value)
    assert "levers given for scenario 'baseline': levers.visa_odd: unknown key; did you mean 'visa_odds'?" in text
