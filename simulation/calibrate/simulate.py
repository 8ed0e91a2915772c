"""Simulating target outcomes at parameter values: one run per task, in worker processes or on Dask.

Everything here passes plain data (scenario dictionaries, outcome declarations as JSON), so tasks pickle cheaply
and run the same on local processes and on a Dask cluster.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Calibration, scenario_data

__all__ = ["AbcModel", "Runner", "distance", "point_seed"]


def _outcome_specs(outcomes: Mapping[str, Any]) -> dict[str, Any]:
    return {name: o.model_dump(mode="json", by_alias=True) for name, o in outcomes.items()}


def simulate_task(task: tuple[dict[str, Any], int, dict[str, Any], bool]) -> tuple[dict[str, float], Any]:
    """Run one replicate of a scenario (plain data); return every outcome's value, and its top-tier curve if asked."""
    from pydantic import TypeAdapter

    from ..outcomes import MigrationCurve, Outcome
    from ..runner import run
    from ..scenario import scenario_from_dict

    data, seed, outcomes, curve = task
    result = run(scenario_from_dict(data, source="calibration"), seed=seed, replicates=1)
    adapter = TypeAdapter(Outcome)
    values = {name: adapter.validate_python(spec).compute(result) for name, spec in outcomes.items()}
    table = None
    if curve:
        table = MigrationCurve(kind="migration", tier="top_tier").compute(result)[["year", "region", "value"]]
    return values, table


def point_seed(root: int, values: Mapping[str, float]) -> int:
    """Return a seed derived from ``root`` and the parameter values: the same point always simulates alike."""
    text = repr((root, sorted((k, round(float(v), 12)) for k, v in values.items())))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def distance(
    simulated: Mapping[str, float], observed: Mapping[str, float], tolerances: Mapping[str, float], weights: Mapping[str, float]
) -> float:
    """Return the weighted root-mean-square error in tolerance units over the targets in ``weights``.

    1.0 means the targets are missed by one tolerance each on average; a missing value (NaN) is infinitely far.
    """
    total = sum(weights.values())
    squares = 0.0
    for name, weight in weights.items():
        value = simulated[name]
        if value is None or math.isnan(value):
            return math.inf
        squares += weight * ((value - observed[name]) / tolerances[name]) ** 2
    return math.sqrt(squares / total)


@dataclass
class AbcModel:
    """The model as ABC sees it: parameter values in, target values (replicate means) out. Picklable."""

    base: dict[str, Any]
    places: dict[str, Any]  # name -> ParameterPlace
    outcomes: dict[str, Any]  # name -> outcome declaration (JSON)
    end: str | None
    replicates: int
    seed: int

    def __call__(self, parameters: Mapping[str, float]) -> dict[str, float]:
        import copy

        from ..ensemble import set_parameter
        from ..runner import replicate_seeds

        data = copy.deepcopy(self.base)
        values = {name: float(parameters[name]) for name in self.places}
        for name, value in values.items():
            set_parameter(data, self.places[name], value)
        if self.end is not None:
            data["run"]["end"] = self.end
        seeds = replicate_seeds(point_seed(self.seed, values), self.replicates)
        runs = [simulate_task((data, seed, self.outcomes, False))[0] for seed in seeds]
        return {name: float(np.nanmean([r[name] for r in runs])) if any(not math.isnan(r[name]) for r in runs) else math.nan
                for name in self.outcomes}


def abc_model(calibration: Calibration) -> AbcModel:
    """Return the ABC model of a calibration (every target computed, fitted or not)."""
    cfg = calibration.config
    base = calibration.scenario.with_run(researchers=cfg.researchers).to_dict()
    places = {name: p.place for name, p in cfg.parameters.items()}
    outcomes = _outcome_specs({n: t.outcome for n, t in calibration.targets.items()})
    end = f"{cfg.end:%Y-%m}" if cfg.end is not None else None
    return AbcModel(base, places, outcomes, end, cfg.replicates, cfg.seed)


class Runner:
    """Runs batches of (parameter values, seed) on local processes or a Dask cluster."""

    def __init__(self, calibration: Calibration, client: Any = None):
        self.calibration = calibration
        self.client = client
        self.pool: ProcessPoolExecutor | None = None
        self.runs = 0

    @property
    def workers(self) -> int:
        if self.client is not None:
            return sum(self.client.nthreads().values())
        return self.calibration.config.workers or os.cpu_count() or 1

    def __enter__(self) -> Runner:
        if self.client is None and self.workers > 1:
            # Spawned workers: forking a process that already runs threads can deadlock.
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def map(self, tasks: list[Any]) -> list[Any]:
        """Return ``simulate_task`` of every task, in order."""
        self.runs += len(tasks)
        if self.client is not None:
            return self.client.gather(self.client.map(simulate_task, tasks, pure=False))
        if self.pool is not None:
            return list(self.pool.map(simulate_task, tasks))
        return [simulate_task(t) for t in tasks]

    def simulate(
        self,
        points: Sequence[Mapping[str, float]],
        seeds: Sequence[int],
        outcomes: Mapping[str, Any],
        *,
        full_run: bool = False,
        curves: bool = False,
        paired: bool = False,
    ) -> list[list[tuple[dict[str, float], Any]]]:
        """Return, per point, each seed's outcome values (and top-tier curve if ``curves``).

        With ``paired``, point ``i`` runs only seed ``i`` (one replicate per ensemble draw).
        """
        cfg = self.calibration.config
        end = cfg.report_end if full_run else cfg.end
        specs = _outcome_specs(outcomes)
        tasks, sizes = [], []
        for i, values in enumerate(points):
            data = scenario_data(self.calibration, values, end)
            data["run"]["researchers"] = cfg.researchers
            mine = [seeds[i]] if paired else list(seeds)
            tasks += [(data, seed, specs, curves) for seed in mine]
            sizes.append(len(mine))
        results = self.map(tasks)
        out, at = [], 0
        for size in sizes:
            out.append(results[at : at + size])
            at += size
        return out
