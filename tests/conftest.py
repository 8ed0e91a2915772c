"""Shared fixtures: small, fast versions of the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

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
