"""Shared fixtures: small, fast versions of the shipped scenarios."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from simulation import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def baseline():
    """The baseline scenario as shipped."""
    return load_scenario(SCENARIOS / "baseline.yaml")


@pytest.fixture(scope="session")
def small(baseline):
    """The baseline with 3,000 researchers, 2019-2024: quick enough to run many times."""
    return small_version(baseline)


def small_version(scenario, researchers: int = 3000, end: str = "2024-01"):
    """Return ``scenario`` shortened and scaled down for tests (validated like any scenario)."""
    return scenario.with_run(researchers=researchers, end=end, replicates=1)


# A small sweep: two lever arms crossed with two Latin-hypercube draws of an uncertainty, with replicates.
SMALL_EXPERIMENT = f"""
name: small_sweep
scenario: {SCENARIOS / "baseline.yaml"}
run: {{researchers: 2000, end: 2022-01}}
seed: 3
replicates: 2
levers:
  us_visa:
    from: 2020-01
    path: levers.visa_odds.US.default
    values: [0.3, 0.9]
uncertainties:
  pay_weight: {{path: preferences.default.pay.mean, range: [1.2, 1.8]}}
sampling: {{method: latin_hypercube, samples: 2}}
outcomes:
  us_share: {{kind: share, region: US, tier: top_tier, year: 2021}}
  china_retention: {{kind: retention, origin: China, year: 2021}}
  net_us_china: {{kind: net_flow, from: US, to: China, between: [2019, 2022]}}
curves:
  location: {{kind: migration, tier: top_tier}}
"""


def write_experiment(tmp_path: Path, text: str = SMALL_EXPERIMENT, name: str = "exp.yaml") -> Path:
    """Write an experiment file into ``tmp_path`` and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_same_results(a, b) -> None:
    """Assert two experiments' outcome and curve tables are identical."""
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    pd.testing.assert_frame_equal(a.curves, b.curves)
