"""talentsim: an agent-based simulation of the global market for AI research talent.

The public surface is small: load a scenario, run it, read the tables.

>>> from simulation import load_scenario, run
>>> result = run(load_scenario("scenarios/baseline.yaml"), researchers=2000)  # doctest: +SKIP
>>> result.migration_curve("top_tier")  # doctest: +SKIP
"""

from .executors import sweep
from .model import TalentModel
from .results import RunResult, load_results
from .runner import run
from .scenario import Scenario, ScenarioError, load_scenario
from .store import read_experiment

__all__ = [
    "RunResult", "Scenario", "ScenarioError", "TalentModel", "load_results", "load_scenario", "read_experiment", "run",
    "sweep",
]
