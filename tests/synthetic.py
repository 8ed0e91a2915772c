"""Sweeps of functions with known answers, stored exactly as 'talentsim sweep' stores a sweep of the model.

A synthetic sweep has a real experiment definition (levers, uncertainties, a sampling design), expanded into
runs by ``simulation.experiment.expand``, and a results folder written through ``ExperimentStore``; only the
outcome of each run comes from a Python function of its parameters and seed instead of the model. So the analysis
reads it through the same path as any sweep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.experiment import Experiment, ExperimentFile, RunSpec, expand
from simulation.outputs import atomic_write
from simulation.scenario import load_scenario
from simulation.outcomes import CURVE_COLUMNS
from simulation.store import ExperimentStore, index_table, plan_row

ROOT = Path(__file__).resolve().parents[1]


def synthetic_sweep(folder: Path, definition: dict[str, Any], model: Callable[[RunSpec], dict[str, float]], *,
                    finished: Callable[[RunSpec], bool] | None = None,
                    curves: Callable[[list[RunSpec]], pd.DataFrame] | None = None) -> Path:
    """Write the results folder of a sweep whose runs are ``model(spec)``; return the folder.

    ``definition`` is an experiment file's content without ``name`` and ``scenario`` (outcomes need a kind, any
    kind: the values come from ``model``). With ``finished``, only the runs it accepts are finished and the folder
    looks like a sweep stopped early (run files, no consolidated tables). ``curves`` returns the curve table of
    all runs (columns as ``simulation.outcomes.CURVE_COLUMNS``); without it the table is empty.
    """
    data = {"name": "synthetic", "scenario": "../scenarios/baseline.yaml", **definition}
    experiment = Experiment(ExperimentFile.model_validate(data), str(folder / "synthetic.yaml"),
                            load_scenario(ROOT / "scenarios" / "baseline.yaml"))
    plan = expand(experiment)
    store = ExperimentStore.prepare(experiment, folder, plan, resume=False)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    records = {}
    for spec in plan:
        if finished is not None and not finished(spec):
            continue
        records[spec.run_id] = {
            "run_id": spec.run_id, "status": "done", "attempts": 1, "arm": spec.arm, "sample": spec.sample,
            "replicate": spec.replicate, "seed": spec.seed, "levers": dict(spec.levers),
            "uncertainties": dict(spec.uncertainties), "outcomes": model(spec), "error": None, "traceback": None,
            "wall_time_s": 0.0, "worker": "synthetic", "finished": now,
        }
    parameters = [*experiment.definition.levers, *experiment.definition.uncertainties]
    rows = [plan_row(s) for s in plan]
    index = index_table(rows, records, parameters)
    if finished is None:
        outcomes = pd.DataFrame([{**plan_row(s), **records[s.run_id]["outcomes"]} for s in
                                 sorted(plan, key=lambda s: (s.arm, s.sample, s.replicate))])
        atomic_write(folder / "outcomes.parquet", lambda tmp: outcomes.to_parquet(tmp, index=False))
        table = curves(plan) if curves is not None else pd.DataFrame(
            {c: pd.Series(dtype="float64" if c in ("year", "value") else ("int64" if c == "step" else object))
             for c in CURVE_COLUMNS})
        atomic_write(folder / "curves.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    else:
        for record in records.values():
            store.save_run(record, None)
    atomic_write(folder / "index.parquet", lambda tmp: index.to_parquet(tmp, index=False))
    store.close()
    return folder


def outcome(label: str = "y") -> dict[str, Any]:
    """Return an outcome definition for a synthetic sweep (its kind is never evaluated)."""
    return {"kind": "share", "region": "US", "year": 2020, "label": label}
