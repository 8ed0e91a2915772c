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

from .ensemble import INTERVAL_KINDS, Ensemble, read_ensemble
from .model import TalentModel
from .resources import check_memory
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
    ensemble: Ensemble | str | Path | None = None,
) -> RunResult:
    """Run a scenario's replicates and return their tables.

    Args:
        scenario: a scenario, or the path of a scenario file.
        seed: root seed; default ``scenario.run.seed``. Replicate seeds are derived from it.
        replicates: number of replicates; default ``scenario.run.replicates``.
        researchers: researchers simulated at the start; default ``scenario.run.researchers``.
        progress: show a progress bar on standard error.
        ensemble: a parameter ensemble (or its file, e.g. ``scenarios/base/calibrated.ensemble.parquet``);
            replicate ``i`` then runs with draw ``i`` of it, recorded in the manifest and as a ``draw`` column.

    Raises:
        NotEnoughMemory: the run would not fit in the memory this machine has free (checked before it starts).
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = str(scenario)
        scenario = load_scenario(scenario)
    scenario = scenario.with_run(seed=seed, replicates=replicates, researchers=researchers)
    check_memory(scenario)
    seeds = replicate_seeds(scenario.run.seed, scenario.run.replicates)
    if ensemble is not None and not isinstance(ensemble, Ensemble):
        ensemble = read_ensemble(ensemble)
    draws = [ensemble.draw_for(i) for i in range(len(seeds))] if ensemble is not None else [None] * len(seeds)

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
        for replicate, (replicate_seed, draw) in enumerate(zip(seeds, draws)):
            drawn = scenario if draw is None else ensemble.scenario(scenario, draw)
            parts.append(run_replicate(drawn, replicate, replicate_seed, bar.update if bar else None, draw=draw))
    finally:
        if bar is not None:
            bar.close()
    return assemble(scenario, seeds, parts, time.perf_counter() - started, source, draws=draws, ensemble=ensemble)


def run_replicate(scenario: Scenario, replicate: int, seed: int, progress=None,
                  draw: int | None = None) -> dict[str, pd.DataFrame]:
    """Return the tables of one replicate of ``scenario`` run with ``seed`` (see :func:`simulate` for ``progress``);
    ``draw``, the ensemble draw the scenario carries, if any, becomes a ``draw`` column.

    :func:`run` calls it for each replicate in turn; other callers may run replicates in parallel and
    :func:`assemble` them.
    """
    model = simulate(scenario, seed, progress)
    tables = tables_from_recorder(scenario, model.recorder, replicate, seed)
    if draw is not None:
        for table in tables.values():
            table.insert(table.columns.get_loc("seed") + 1 if "seed" in table.columns else len(table.columns), "draw", draw)
    return tables


def assemble(scenario: Scenario, seeds: list[int], parts: list[dict[str, pd.DataFrame]], wall_seconds: float,
             source: str | None = None, *, draws: list[int | None] | None = None,
             ensemble: Ensemble | None = None) -> RunResult:
    """Return the run made of the replicates' tables ``parts`` (in replicate order), with its manifest."""
    draws = draws if draws is not None else [None] * len(seeds)
    manifest = {
        "talentsim_version": _version("talentsim"),
        "scenario_name": scenario.name,
        "scenario_file": source,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "root_seed": scenario.run.seed,
        "replicates": [{"replicate": i, "seed": s, **({} if d is None else {"draw": d})} for i, (s, d) in enumerate(zip(seeds, draws))],
        "interval": INTERVAL_KINDS["replicates" if ensemble is None else "ensemble"],
        **({"ensemble": ensemble.describe()} if ensemble is not None else {}),
        "researchers": scenario.run.researchers,
        "steps": scenario.run.steps,
        "wall_time_seconds": round(wall_seconds, 3),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("numpy", "pandas", "mesa", "pydantic")},
        "scenario": scenario.to_dict(),
    }
    if source is not None:
        from .changes import run_changes_record

        manifest["changes"] = run_changes_record(scenario, source)
    tables = {name: pd.concat([part[name] for part in parts], ignore_index=True) for name in parts[0]}
    return RunResult(scenario=scenario, manifest=manifest, **tables)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
