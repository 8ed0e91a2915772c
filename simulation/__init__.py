"""talentsim: an agent-based simulation of the global market for AI research talent.

The public surface is small: load a scenario, run it, read the tables; sweep an experiment, read its results.

>>> from simulation import load_scenario, run
>>> result = run(load_scenario("scenarios/baseline.yaml"), researchers=2000)  # doctest: +SKIP
>>> result.migration_curve("top_tier")  # doctest: +SKIP

Names are imported on first use, so ``import simulation`` (and ``talentsim --help``) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "RunResult", "Scenario", "ScenarioError", "TalentModel", "load_results", "load_scenario", "read_experiment", "run",
    "sweep",
]

_HOME = {
    "RunResult": "results", "Scenario": "scenario", "ScenarioError": "scenario", "TalentModel": "model",
    "load_results": "results", "load_scenario": "scenario", "read_experiment": "sweep_results", "run": "runner",
    "sweep": "executors",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from .executors import sweep
    from .model import TalentModel
    from .results import RunResult, load_results
    from .runner import run
    from .scenario import Scenario, ScenarioError, load_scenario
    from .sweep_results import read_experiment


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simulation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
