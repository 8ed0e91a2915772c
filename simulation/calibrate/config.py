"""A calibration config: the scenario, the targets, the free parameters with their bounds, and how to estimate.

A calibration config names a starting scenario, a targets file (each target an outcome of a run with its
published value, tolerance from the stated uncertainty, weight and source), the free parameters with their bounds
and the defence of each bound, and the settings of the estimation (ABC-SMC), the recovery check, the profiles,
the held-out checks and the projections the report shows. Paths are relative to the config file.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ..ensemble import ParameterPlace, month_text, set_parameter, value_at_path
from ..outcomes import Outcome
from ..inputs import Month, Problem, Strict, check_validation, read_mapping
from ..scenario import SEED_MAX, Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["Calibration", "CalibrationConfig", "Parameter", "Target", "changed_values", "load_calibration", "scenario_with"]


class Parameter(Strict):
    """A free parameter: a key path in the scenario, the bounds it is searched within (a uniform prior) and why."""

    path: str = Field(description="Dotted key path in the scenario, e.g. preferences.default.pay.mean.")
    bounds: tuple[float, float] = Field(description="Lower and upper bound (the uniform prior's support).")
    start: Month | None = Field(
        None, alias="from", description="For a lever: the value holds from this month (earlier steps are kept)."
    )
    until: Month | None = Field(None, description="For a lever: the scenario's own schedule resumes at this month.")
    also: list[str] = Field(
        default_factory=list, description="Further key paths set to the same value: one parameter shared by several "
        "keys (e.g. one home preference for several origins)."
    )
    label: str | None = Field(None, description="Name in the fit report.")
    unit: str = Field("", description="Unit in the fit report.")
    defence: str = Field("", description="Why the bounds are where they are (evidence or stated assumption).")

    @model_validator(mode="after")
    def _ordered(self) -> Parameter:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"bounds must be [low, high] with low < high, got [{low:g}, {high:g}]")
        if self.until is not None and (self.start is None or self.until <= self.start):
            raise ValueError("'until' needs a 'from' month before it")
        return self

    @property
    def place(self) -> ParameterPlace:
        """Return where the parameter lives in a scenario."""
        return ParameterPlace(self.path, month_text(self.start), month_text(self.until), tuple(self.also))

    @property
    def span(self) -> float:
        """Return the width of the bounds."""
        return self.bounds[1] - self.bounds[0]


class Target(Strict):
    """A published figure the scenario should reproduce."""

    outcome: Outcome = Field(description="How the figure is computed from a run (an outcome, as in experiments).")
    value: float = Field(description="Published value, mapped onto the model's regions.")
    tolerance: float = Field(gt=0, description="The published figure's uncertainty: one unit of the distance.")
    discrepancy: float = Field(
        0.0, ge=0, description="Known structural discrepancy of the model for this target (same unit as the value): "
        "a miss the model cannot close, shown by a documented diagnosis. Added to the tolerance in quadrature in the "
        "distance only, so an unreachable target does not decide the other parameters; 'within tolerance' still "
        "uses the published tolerance."
    )
    weight: float = Field(1.0, ge=0, description="Weight in the distance (0: reported, not fitted).")
    source: str = Field(description="Where the value is published.")
    code: str = Field("", description="Code in the evidence table (EVIDENCE.md, docs/model.md).")
    mapping: str = Field("", description="How the published categories were mapped onto the model's.")
    fitted_by: Literal["fit", "initial_state", "input", "external"] = Field(
        "fit", description="fit: informs the parameters; initial_state: holds by construction of the 2019 state "
        "(reported as a check); input: an input series, reported as a check; external: a published figure outside "
        "the evidence the inputs come from, never fitted (an out-of-sample test)."
    )

    @model_validator(mode="after")
    def _external_unfitted(self) -> Target:
        if self.fitted_by == "external" and self.weight > 0:
            raise ValueError("an external check is never fitted: its weight must be 0")
        return self

    @property
    def scale(self) -> float:
        """Return one unit of the distance: the tolerance and the structural discrepancy in quadrature."""
        return math.hypot(self.tolerance, self.discrepancy)


class TargetsFile(Strict):
    """Calibration targets."""

    targets: dict[str, Target]


class Abc(Strict):
    """ABC-SMC settings (pyabc): population per generation and when to stop."""

    population: int = Field(200, ge=10, description="Particles per generation.")
    generations: int = Field(8, ge=1, description="Most generations.")
    min_epsilon: float = Field(
        1.0, gt=0, description="Stop when the acceptance threshold falls to this weighted RMS error (tolerance units)."
    )
    max_simulations: int = Field(6000, ge=10, description="Stop after this many simulations in all.")
    min_acceptance: float = Field(0.02, ge=0, le=1, description="Stop when a generation accepts fewer than this share.")
    quantile: float = Field(0.5, gt=0, lt=1, description="Each generation's threshold: this quantile of the last's distances.")


class Recovery(Strict):
    """The recovery check: fit targets simulated at known parameter values."""

    truth: dict[str, float] = Field(default_factory=dict, description="Known values (default: the fit's point estimate).")
    seed: int = Field(99, ge=0, description="Seed of the simulated targets (differs from the fit's seeds).")
    replicates: int = Field(10, ge=1, le=100, description="Replicates averaged into the simulated targets: published "
                            "targets are not one small run's sampling noise, so the synthetic ones are not either.")
    abc: Abc = Field(default_factory=lambda: Abc(population=100, generations=6, max_simulations=2500))
    threshold: float = Field(0.15, gt=0, description="Largest error, as a share of the range, that counts as recovered.")


class Profiles(Strict):
    """Profiles: the distance along each parameter, others at the point estimate (also the sensitivity table)."""

    points: int = Field(9, ge=3, description="Values per parameter, evenly across its bounds.")
    replicates: int = Field(4, ge=1, description="Replicates per value, with common seeds.")


class Holdout(Strict):
    """A held-out check: the fit without some targets, and how well it predicts them."""

    targets: list[str] = Field(min_length=1, description="Targets left out of the fit.")
    description: str = Field("", description="What the check asks.")


class CalibrationConfig(Strict):
    """A calibration: what is fitted, to what, how, and where results go (paths relative to this file)."""

    name: str
    scenario: str = Field(description="Scenario the parameters are fitted in.")
    targets: str = Field(description="Targets file.")
    output: str = Field(description="Scenario file written with the point estimate; it extends `scenario`.")
    ensemble: str | None = Field(None, description="Ensemble file (default: beside `output`, .ensemble.parquet).")
    report: str = Field(description="Markdown fit report.")
    figures: str = Field(description="Folder of the report's figures.")
    parameters: dict[str, Parameter] = Field(min_length=1)
    researchers: int = Field(10_000, ge=100, le=50_000_000)
    replicates: int = Field(1, ge=1, le=100_000, description="Replicates averaged per ABC simulation.")
    ensemble_draws: int = Field(200, ge=1, description="Draws saved in the ensemble (a resample of the ABC population).")
    report_draws: int = Field(40, ge=2, description="Ensemble draws run (one replicate each) for the report.")
    report_replicates: int = Field(10, ge=2, description="Replicates at the point estimate (replicate noise alone).")
    seed: int = Field(1, ge=0, le=SEED_MAX)
    end: Month | None = Field(None, description="Month the fit runs end (default: the scenario's end).")
    report_end: Month | None = Field(None, description="Month the report's ensemble runs end (default: the scenario's end).")
    workers: int | None = Field(None, ge=1, description="Processes (default: all cores).")
    abc: Abc = Field(default_factory=Abc)
    recovery: Recovery | None = Field(default_factory=Recovery)
    profiles: Profiles | None = Field(default_factory=Profiles)
    holdouts: dict[str, Holdout] = Field(default_factory=dict)
    projections: dict[str, Outcome] = Field(default_factory=dict, description="Outcomes shown across the ensemble.")


@dataclass
class Calibration:
    """A loaded calibration config with its scenario and targets."""

    config: CalibrationConfig
    file: Path
    scenario: Scenario
    targets: dict[str, Target]

    def path(self, relative: str) -> Path:
        """Return a path of the config, resolved relative to its file."""
        return (self.file.parent / relative).resolve()

    @property
    def ensemble_path(self) -> Path:
        """Return where the ensemble is written."""
        if self.config.ensemble is not None:
            return self.path(self.config.ensemble)
        out = self.path(self.config.output)
        return out.with_name(out.stem + ".ensemble.parquet")

    @property
    def fitted(self) -> list[str]:
        """Return the names of the targets in the distance (weight > 0)."""
        return [name for name, t in self.targets.items() if t.weight > 0]


# --------------------------------------------------------------------------------------------------------------
# Loading


class CalibrationError(ScenarioError):
    """A calibration config or targets file that cannot be used; ``problems`` lists every problem found."""

    what = "calibration"


CONFIG_FORM = "name:, scenario:, targets:, parameters:"


def _read(path: Path, form: str) -> dict[str, Any]:
    return read_mapping(path, CalibrationError, "calibrations live in experiments/calibration/", form)


def load_calibration(path: str | Path) -> Calibration:
    """Return the calibration described in ``path``, with its scenario and targets validated.

    Raises:
        ScenarioError: naming the file and key of every problem.
    """
    path = Path(path)
    config = check_validation(CalibrationConfig, _read(path, CONFIG_FORM), str(path), CalibrationError)
    scenario = load_scenario((path.parent / config.scenario).resolve())
    targets_path = (path.parent / config.targets).resolve()
    targets = check_validation(TargetsFile, _read(targets_path, "targets:"), str(targets_path),
                               CalibrationError).targets
    calibration = Calibration(config, path, scenario, targets)
    problems = []
    for name, target in targets.items():
        for key, message, value in target.outcome.check(scenario):
            problems.append(Problem(str(targets_path), f"targets.{name}.outcome.{key}", message, value, True))
    report_scenario = scenario if config.report_end is None else scenario.with_run(end=f"{config.report_end:%Y-%m}")
    for name, outcome in config.projections.items():
        for key, message, value in outcome.check(report_scenario):
            problems.append(Problem(str(path), f"projections.{name}.{key}", message, value, True))
    if not calibration.fitted:
        problems.append(Problem(str(targets_path), "targets", "no target has a weight above 0: nothing to fit"))
    for name, parameter in config.parameters.items():
        try:
            scenario_with(calibration, {name: _mid(parameter)})
        except (ScenarioError, ValueError) as exc:
            problems.append(Problem(str(path), f"parameters.{name}.path", str(exc)))
    truth = config.recovery.truth if config.recovery is not None else {}
    for name, value in truth.items():
        parameter = config.parameters.get(name)
        if parameter is None:
            allowed = ", ".join(config.parameters)
            problems.append(Problem(str(path), f"recovery.truth.{name}", f"not one of the parameters ({allowed})"))
            continue
        low, high = parameter.bounds
        if not low <= value <= high:
            problems.append(Problem(str(path), f"recovery.truth.{name}", f"must lie within its bounds [{low}, {high}]", value, True))
    for group, holdout in config.holdouts.items():
        for name in holdout.targets:
            if name not in targets:
                problems.append(Problem(str(path), f"holdouts.{group}.targets", f"no target '{name}' in {targets_path.name}", name, True))
        if not set(calibration.fitted) - set(holdout.targets):
            problems.append(Problem(str(path), f"holdouts.{group}.targets", "leaves no fitted target"))
    if problems:
        raise CalibrationError(problems)
    return calibration


def _mid(parameter: Parameter) -> float:
    low, high = parameter.bounds
    return (low + high) / 2


# --------------------------------------------------------------------------------------------------------------
# Scenarios at given parameter values


def scenario_with(calibration: Calibration, values: Mapping[str, float], end: dt.date | None = None) -> Scenario:
    """Return the calibration's scenario with parameter ``values`` set (validated)."""
    return scenario_from_dict(scenario_data(calibration, values, end), source=f"{calibration.file} (parameters {dict(values)})")


def scenario_data(calibration: Calibration, values: Mapping[str, float], end: dt.date | None = None) -> dict[str, Any]:
    """Return the plain data of the calibration's scenario with parameter ``values`` set (not validated)."""
    data = calibration.scenario.to_dict()
    for name, value in values.items():
        set_parameter(data, calibration.config.parameters[name].place, value)
    if end is not None:
        data["run"]["end"] = f"{end:%Y-%m}"
    return data


def changed_values(calibration: Calibration, values: Mapping[str, float]) -> dict[str, Any]:
    """Return the nested mapping of what ``values`` change in the scenario, for the calibrated file."""
    data = scenario_data(calibration, values)
    out: dict[str, Any] = {}
    for name in values:
        for dotted in calibration.config.parameters[name].place.paths:
            path = tuple(dotted.split("."))
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value_at_path(data, path)
    return out
