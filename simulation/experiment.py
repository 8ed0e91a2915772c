"""Experiments: a base scenario, policy levers, uncertainties, sampling, replicates and outcomes.

An experiment file is validated into the models of :mod:`.experiment_schema` and checked against its base
scenario by :mod:`.experiment_load`; every problem is reported together, each naming the experiment file, the key
path, the value and what is allowed. Its arms, draws, seeds and run ids are :mod:`.experiment_design`.

This module holds what joins them: ``expand(experiment)`` turns an experiment into run specs, a pure function
(the same experiment always gives the same runs, in the same order, with the same ids and seeds), and
``Experiment.scenario_for`` builds the validated scenario of one run by changing the base scenario's data at the
key paths the levers and uncertainties name (:mod:`.keypaths`). The names of those modules are importable from
here too.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .ensemble import Ensemble
from .experiment_design import ID_LENGTH, lever_arms, run_id, run_seed, uncertainty_samples
from .experiment_schema import ExperimentError, ExperimentFile, Lever, Uncertainty, canonical
from .inputs import Problem
from .keypaths import PathError, Setting, apply_setting
from .scenario import Scenario, scenario_from_dict

# Importable from here, where they were first defined (the redundant aliases mark them as re-exported).
from .experiment_design import SAMPLER_STREAM as SAMPLER_STREAM
from .experiment_design import design as design, planned_runs as planned_runs, salib_problem as salib_problem
from .experiment_schema import DISTRIBUTIONS as DISTRIBUTIONS, MAX_RUNS as MAX_RUNS, METHODS as METHODS
from .experiment_schema import NAME as NAME, RESERVED as RESERVED, AnalysisSettings as AnalysisSettings
from .experiment_schema import RenamedMethodWarning as RenamedMethodWarning, RunOverrides as RunOverrides
from .experiment_schema import Sampling as Sampling

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentFile",
    "PathError",
    "RunSpec",
    "Setting",
    "apply_setting",
    "expand",
    "experiment_from",
    "load_experiment",
    "run_seed",
]


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: its lever arm, uncertainty sample, replicate and seed."""

    run_id: str
    arm: int
    sample: int
    replicate: int
    seed: int
    levers: Mapping[str, Any]
    uncertainties: Mapping[str, Any]  # with an ensemble: also ``draw`` and the draw's parameter values

    @property
    def parameters(self) -> dict[str, Any]:
        """Return the lever and uncertainty values by name."""
        return {**self.levers, **self.uncertainties}


def expand(experiment: Experiment | ExperimentFile) -> list[RunSpec]:
    """Return the runs of an experiment: every lever arm x uncertainty sample x replicate.

    Runs are ordered replicate by replicate, and within one sample all arms follow each other, so a sweep
    that stops early has compared every arm on the same draws. Pure: no files, clocks or global state.
    """
    definition = experiment.definition if isinstance(experiment, Experiment) else experiment
    ensemble = experiment.ensemble if isinstance(experiment, Experiment) else None
    arms = lever_arms(definition)
    samples = uncertainty_samples(definition)
    runs = []
    for replicate in range(definition.replicates):
        # replicate i uses ensemble draw i in every arm and sample: arms pair by seed and by draw
        drawn = {} if ensemble is None else {"draw": ensemble.draw_for(replicate), **ensemble.values(replicate)}
        for s, sampled in enumerate(samples):
            seed = run_seed(definition.seed, s, replicate)
            uncertain = {**sampled, **drawn}
            for a, levers in enumerate(arms):
                runs.append(RunSpec(run_id(levers, uncertain, seed), a, s, replicate, seed, levers, uncertain))
    ids = {spec.run_id for spec in runs}
    if len(ids) != len(runs):  # only identical parameters and seed can collide
        raise ExperimentError([Problem(_file_of(experiment), "", "two runs have the same parameters and seed")])
    return runs


def _file_of(experiment: Experiment | ExperimentFile) -> str:
    return experiment.file if isinstance(experiment, Experiment) else "<experiment>"


# --------------------------------------------------------------------------------------------------------------
# The loaded experiment


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its file's content, where it was read from, and its base scenario."""

    definition: ExperimentFile
    file: str
    base: Scenario
    ensemble: Ensemble | None = None

    @property
    def uncertainty_names(self) -> list[str]:
        """Return the uncertainty columns: the sampled uncertainties, then ``draw`` and the ensemble's parameters."""
        drawn = ["draw", *self.ensemble.parameters] if self.ensemble is not None else []
        return [*self.definition.uncertainties, *drawn]

    @property
    def name(self) -> str:
        """Return the experiment's name."""
        return self.definition.name

    def runs(self) -> list[RunSpec]:
        """Return the run specs (see ``expand``)."""
        return expand(self)

    @cached_property
    def base_data(self) -> dict[str, Any]:
        """Return the base scenario's plain data."""
        return self.base.to_dict()

    def settings_for(self, spec: RunSpec) -> tuple[Setting, ...]:
        """Return the changes to the base scenario that make the scenario of run ``spec``."""
        out = []
        for name, value in spec.levers.items():
            out += _settings(self.definition.levers[name], value)
        for name, value in spec.uncertainties.items():
            if name in self.definition.uncertainties:
                out += _settings(self.definition.uncertainties[name], value)
            elif self.ensemble is not None and name in self.ensemble.places:
                place = self.ensemble.places[name]
                out.append(Setting(tuple(place.path.split(".")), value, False, place.start))
        return tuple(out)

    def scenario_for(self, spec: RunSpec) -> Scenario:
        """Return the validated scenario of run ``spec`` (run it with ``run(scenario, seed=spec.seed)``)."""
        return build_scenario(self.base_data, self.settings_for(spec), f"{self.file}, run {spec.run_id}")

    @cached_property
    def fingerprint(self) -> str:
        """Return a hash of what decides a run's results besides its parameter values and seed.

        A sweep may be resumed, or extended with more values, samples or replicates, only while it is unchanged.
        """
        d = self.definition
        content = {
            "base": self.base_data,
            "levers": {n: {"path": x.path, "scale": x.scale, "from": _month_text(x.start)} for n, x in d.levers.items()},
            "uncertainties": {n: {"path": x.path, "scale": x.scale, "integer": x.integer}
                              for n, x in d.uncertainties.items()},
            "outcomes": {n: o.model_dump(mode="json", by_alias=True) for n, o in d.outcomes.items()},
            "curves": {n: c.model_dump(mode="json", by_alias=True) for n, c in d.curves.items()},
        }
        if self.ensemble is not None:  # the draws decide the runs' parameter values
            content["ensemble"] = {"places": self.ensemble.describe()["parameters"],
                                   "draws": self.ensemble.draws.to_dict("list")}
        return hashlib.sha256(canonical(content).encode()).hexdigest()[:ID_LENGTH]

    def columns(self) -> dict[str, dict[str, str]]:
        """Return the label, unit and role (lever, uncertainty, outcome, curve) of every named column."""
        d = self.definition
        out: dict[str, dict[str, str]] = {}
        for role, items in (("lever", d.levers), ("uncertainty", d.uncertainties)):
            for name, item in items.items():
                out[name] = {"role": role, "label": item.label or name.replace("_", " "), "unit": item.unit}
        if self.ensemble is not None:
            out["draw"] = {"role": "uncertainty", "label": "Parameter draw of the ensemble", "unit": ""}
            for name, _place in self.ensemble.places.items():
                out[name] = {"role": "uncertainty", "label": f"{name.replace('_', ' ')} (ensemble draw)", "unit": ""}
        for role, items in (("outcome", d.outcomes), ("curve", d.curves)):
            for name, item in items.items():
                out[name] = {"role": role, "label": item.label, "unit": item.unit}
        return out


def _month_text(month: dt.date | None) -> str | None:
    return None if month is None else f"{month:%Y-%m}"


def _settings(item: Lever | Uncertainty, value: Any) -> list[Setting]:
    start = _month_text(getattr(item, "start", None))
    return [Setting(tuple(p.split(".")), value, item.scale, start) for p in item.path]


def build_scenario(base: dict[str, Any], settings: tuple[Setting, ...], source: str) -> Scenario:
    """Return the scenario made by applying ``settings`` to a copy of ``base`` (plain data), validated."""
    data = copy.deepcopy(base)
    for setting in settings:
        apply_setting(data, setting)
    return scenario_from_dict(data, source=source)



def load_experiment(path: str | Path) -> Experiment:
    """Return the validated experiment in ``path``, with its base scenario loaded (see :mod:`.experiment_load`).

    Raises:
        ExperimentError: listing every problem, each naming the file, key path, value and what is allowed.
        ScenarioError: the base scenario itself has problems (named in its own file).
    """
    from .experiment_load import load_experiment as load

    return load(path)


def experiment_from(base: Scenario, **parts: Any) -> Experiment:
    """Return an experiment on a scenario in memory, checked exactly as an experiment file is (see
    :func:`simulation.experiment_load.experiment_from`)."""
    from .experiment_load import experiment_from as build

    return build(base, **parts)
