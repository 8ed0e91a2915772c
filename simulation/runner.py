"""The one entry point for running a scenario: ``run(scenario, ...) -> RunResult``."""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .model import TalentModel
from .results import RunResult, tables_from_recorder
from .scenario import Scenario, load_scenario

__all__ = ["replicate_seeds", "run", "simulate"]


def replicate_seeds(root: int, replicates: int) -> list[int]:
    """Return one seed per replicate, derived from ``root`` with ``numpy.random.SeedSequence.spawn``."""
    children = np.random.SeedSequence(root).spawn(replicates)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]


def simulate(scenario: Scenario, seed: int, progress=None) -> TalentModel:
    """Return the model after running ``scenario`` to its end with ``seed``.

    ``progress`` is called with no argument after each step (e.g. a progress bar's ``update``).
    """
    model = TalentModel(scenario, seed=seed)
    while model.running:
        model.step()
        if progress is not None:
            progress()
    return model


def run(
    scenario: Scenario | str | Path,
    *,
    seed: int | None = None,
    replicates: int | None = None,
    researchers: int | None = None,
    progress: bool | Callable[[], None] = False,
) -> RunResult:
    """Run a scenario's replicates and return their tables.

    Args:
        scenario: a scenario, or the path of a scenario file.
        seed: root seed; default ``scenario.run.seed``. Replicate seeds are derived from it.
        replicates: number of replicates; default ``scenario.run.replicates``.
        researchers: researchers simulated at the start; default ``scenario.run.researchers``.
        progress: show a progress bar on standard error; or a function called after every step of every
            replicate (an exception it raises stops the run, e.g. to cancel a run that is no longer wanted).
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = str(scenario)
        scenario = load_scenario(scenario)
    scenario = scenario.with_run(seed=seed, replicates=replicates, researchers=researchers)
    seeds = replicate_seeds(scenario.run.seed, scenario.run.replicates)

    started = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {}
    bar = None
    on_step = progress if callable(progress) else None
    if progress and on_step is None:
        from tqdm import tqdm

        bar = tqdm(
            total=scenario.run.steps * len(seeds),
            desc=f"{scenario.name}: {len(seeds)} replicate(s) x {scenario.run.researchers:,} researchers",
            unit="step",
            file=sys.stderr,
            leave=False,
        )
    try:
        for replicate, replicate_seed in enumerate(seeds):
            model = simulate(scenario, replicate_seed, bar.update if bar else on_step)
            for name, table in tables_from_recorder(scenario, model.recorder, replicate, replicate_seed).items():
                parts.setdefault(name, []).append(table)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - started

    manifest = {
        "talentsim_version": _version("talentsim"),
        "scenario_name": scenario.name,
        "scenario_file": source,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "root_seed": scenario.run.seed,
        "replicates": [{"replicate": i, "seed": s} for i, s in enumerate(seeds)],
        "researchers": scenario.run.researchers,
        "steps": scenario.run.steps,
        "wall_time_seconds": round(wall, 3),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("numpy", "pandas", "mesa", "pydantic")},
        "scenario": scenario.to_dict(),
    }
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    return RunResult(scenario=scenario, manifest=manifest, **tables)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
