"""The one entry point for running a scenario: ``run(scenario, ...) -> RunResult``."""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .model import TalentModel
from .results import RunResult, tables_from_recorder
from .scenario import Scenario, load_scenario

__all__ = ["assemble", "replicate_seeds", "run", "run_replicate", "simulate"]


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
    progress: bool = False,
) -> RunResult:
    """Run a scenario's replicates and return their tables.

    Args:
        scenario: a scenario, or the path of a scenario file.
        seed: root seed; default ``scenario.run.seed``. Replicate seeds are derived from it.
        replicates: number of replicates; default ``scenario.run.replicates``.
        researchers: researchers simulated at the start; default ``scenario.run.researchers``.
        progress: show a progress bar on standard error.
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = str(scenario)
        scenario = load_scenario(scenario)
    scenario = scenario.with_run(seed=seed, replicates=replicates, researchers=researchers)
    seeds = replicate_seeds(scenario.run.seed, scenario.run.replicates)

    started = time.perf_counter()
    parts: list[dict[str, pd.DataFrame]] = []
    bar = None
    if progress:
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
            parts.append(run_replicate(scenario, replicate, replicate_seed, bar.update if bar else None))
    finally:
        if bar is not None:
            bar.close()
    return assemble(scenario, seeds, parts, time.perf_counter() - started, source)


def run_replicate(scenario: Scenario, replicate: int, seed: int, progress=None) -> dict[str, pd.DataFrame]:
    """Return the tables of one replicate of ``scenario`` run with ``seed`` (see :func:`simulate` for ``progress``).

    :func:`run` calls it for each replicate in turn; other callers may run replicates in parallel and
    :func:`assemble` them.
    """
    model = simulate(scenario, seed, progress)
    return tables_from_recorder(scenario, model.recorder, replicate, seed)


def assemble(scenario: Scenario, seeds: list[int], parts: list[dict[str, pd.DataFrame]], wall_seconds: float,
             source: str | None = None) -> RunResult:
    """Return the run made of the replicates' tables ``parts`` (in replicate order), with its manifest."""
    manifest = {
        "talentsim_version": _version("talentsim"),
        "scenario_name": scenario.name,
        "scenario_file": source,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "root_seed": scenario.run.seed,
        "replicates": [{"replicate": i, "seed": s} for i, s in enumerate(seeds)],
        "researchers": scenario.run.researchers,
        "steps": scenario.run.steps,
        "wall_time_seconds": round(wall_seconds, 3),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("numpy", "pandas", "mesa", "pydantic")},
        "scenario": scenario.to_dict(),
    }
    tables = {name: pd.concat([part[name] for part in parts], ignore_index=True) for name in parts[0]}
    return RunResult(scenario=scenario, manifest=manifest, **tables)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
