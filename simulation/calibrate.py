"""Calibration: fit chosen parameters of a scenario to published targets.

A calibration config names a starting scenario, a targets file (each target an outcome of a run with its
published value, tolerance and source), the free parameters with their bounds, and how to run: researchers,
replicates and a seed. The objective is the weighted sum of squared errors in units of each target's
tolerance, averaged over replicates that use the same seeds at every evaluation (common random numbers), so
it changes only with the parameters. It is minimised by a space-filling Sobol design followed by bounded
Nelder-Mead from the best points (scipy). Before fitting real data, a recovery check simulates the targets at
known parameter values and fits them back.

Results: the calibrated values written into a scenario file that ``extends:`` the starting one (so
``scenarios/baseline.yaml`` can build on it), and a fit report in Markdown with figures.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, TypeAdapter, model_validator

from .keypaths import Setting, apply_setting
from .outcomes import Outcome
from .outputs import write_text
from .inputs import Month, Problem, Strict, check_validation, read_mapping
from .scenario import SEED_MAX, Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["Calibration", "CalibrationConfig", "Fit", "calibrate", "load_calibration", "report_markdown", "write_calibrated_scenario"]


class Parameter(Strict):
    """A free parameter: a key path in the scenario and the bounds it is searched within."""

    path: str = Field(description="Dotted key path in the scenario, e.g. preferences.default.pay.mean.")
    bounds: tuple[float, float] = Field(description="Lower and upper bound.")
    start: Month | None = Field(
        None, alias="from", description="For a lever: the value holds from this month (earlier steps are kept)."
    )
    until: Month | None = Field(None, description="For a lever: the scenario's own schedule resumes at this month.")
    label: str | None = Field(None, description="Name in the fit report.")
    unit: str = Field("", description="Unit in the fit report.")

    @model_validator(mode="after")
    def _ordered(self) -> Parameter:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"bounds must be [low, high] with low < high, got [{low:g}, {high:g}]")
        if self.until is not None and (self.start is None or self.until <= self.start):
            raise ValueError("'until' needs a 'from' month before it")
        return self


class Target(Strict):
    """A published figure the scenario should reproduce."""

    outcome: Outcome = Field(description="How the figure is computed from a run (an outcome, as in experiments).")
    value: float = Field(description="Published value.")
    tolerance: float = Field(gt=0, description="Error counted as one unit in the objective (and the pass mark).")
    weight: float = Field(1.0, ge=0, description="Weight in the objective (0: reported, not fitted).")
    source: str = Field(description="Where the value is published.")
    code: str = Field("", description="Code in the evidence table of docs/model.md.")


class TargetsFile(Strict):
    """Calibration targets."""

    targets: dict[str, Target]


class Search(Strict):
    """How the objective is minimised."""

    initial_points: int = Field(32, ge=1, le=4096, description="Points of the space-filling Sobol design.")
    starts: int = Field(2, ge=1, le=16, description="Nelder-Mead runs, from the best design points.")
    max_evaluations: int = Field(150, ge=1, description="Objective evaluations per Nelder-Mead run.")
    start: dict[str, float] = Field(
        default_factory=dict,
        description="Parameter values (e.g. an earlier calibration's) evaluated with the design; the first "
        "Nelder-Mead run starts from them. Parameters not named start mid-bounds.",
    )


class Recovery(Strict):
    """The recovery check: fit targets simulated at known parameter values."""

    truth: dict[str, float] = Field(default_factory=dict, description="Known values (default: mid-bounds).")
    seed: int = Field(99, ge=0, le=SEED_MAX, description="Seed of the simulated targets (differs from the fit's seeds).")
    initial_points: int = Field(16, ge=1)
    starts: int = Field(1, ge=1)
    max_evaluations: int = Field(100, ge=1)


CONFIG_FORM = "name:, scenario:, targets:, parameters:"


class CalibrationConfig(Strict):
    """A calibration: what is fitted, to what, how, and where results go (paths relative to this file)."""

    name: str
    scenario: str = Field(description="Scenario the parameters are fitted in.")
    targets: str = Field(description="Targets file.")
    output: str = Field(description="Scenario file written with the calibrated values; it extends `scenario`.")
    report: str = Field(description="Markdown fit report.")
    figures: str = Field(description="Folder of the report's figures.")
    parameters: dict[str, Parameter]
    researchers: int = Field(10_000, ge=100, le=50_000_000)
    replicates: int = Field(4, ge=1, le=100_000)
    report_replicates: int = Field(10, ge=1, le=100_000, description="Replicates of the calibrated scenario in the report.")
    seed: int = Field(1, ge=0, le=SEED_MAX)
    end: Month | None = Field(None, description="Month the fit runs end (default: the scenario's end).")
    workers: int | None = Field(None, ge=1, description="Processes (default: all cores).")
    search: Search = Field(default_factory=Search)
    recovery: Recovery | None = Field(default_factory=Recovery)


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


# --------------------------------------------------------------------------------------------------------------
# Loading


class CalibrationError(ScenarioError):
    """A calibration config or targets file that cannot be used; ``problems`` lists every problem found."""

    what = "calibration"


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
    for name in config.parameters:
        try:
            scenario_with(calibration, {name: _mid(config.parameters[name])})
        except (ScenarioError, ValueError) as exc:
            problems.append(Problem(str(path), f"parameters.{name}.path", str(exc)))
    truth = config.recovery.truth if config.recovery is not None else {}
    for where, values in (("recovery.truth", truth), ("search.start", config.search.start)):
        for name, value in values.items():
            parameter = config.parameters.get(name)
            if parameter is None:
                allowed = ", ".join(config.parameters)
                problems.append(Problem(str(path), f"{where}.{name}", f"not one of the parameters ({allowed})"))
                continue
            low, high = parameter.bounds
            if not low <= value <= high:
                message = f"must lie within its bounds [{low}, {high}]"
                problems.append(Problem(str(path), f"{where}.{name}", message, value, True))
    if problems:
        raise CalibrationError(problems)
    return calibration


def _mid(parameter: Parameter) -> float:
    low, high = parameter.bounds
    return (low + high) / 2


# --------------------------------------------------------------------------------------------------------------
# Scenarios at given parameter values


def _month(value: dt.date | None) -> str | None:
    return None if value is None else f"{value:%Y-%m}"


def _set(data: dict[str, Any], parameter: Parameter, value: float) -> None:
    path = tuple(parameter.path.split("."))
    try:
        original = copy.deepcopy(_get(data, path))
    except (KeyError, TypeError):
        original = None  # apply_setting explains what is wrong with the path
    apply_setting(data, Setting(path, float(value), False, _month(parameter.start)))
    if parameter.until is not None:
        steps = _get(data, path)
        until = _month(parameter.until)
        resumed = _resume(original, until)
        steps[:] = [s for s in steps if s["from"] is None or s["from"] < until] + resumed


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        node = node[key]
    return node


def _resume(original: Any, until: str) -> list[dict[str, Any]]:
    """Return the steps of ``original`` (a plain value or schedule) from month ``until`` on."""
    steps = original if isinstance(original, list) else [{"from": None, "value": original}]
    in_force = [s for s in steps if s["from"] is None or s["from"] <= until]
    later = [s for s in steps if s["from"] is not None and s["from"] > until]
    head = [{"from": until, "value": in_force[-1]["value"]}] if in_force else []
    return head + later


def scenario_with(calibration: Calibration, values: Mapping[str, float], end: dt.date | None = None) -> Scenario:
    """Return the calibration's scenario with parameter ``values`` set (validated)."""
    data = calibration.scenario.to_dict()
    for name, value in values.items():
        _set(data, calibration.config.parameters[name], value)
    if end is not None:
        data["run"]["end"] = f"{end:%Y-%m}"
    return scenario_from_dict(data, source=f"{calibration.file} (parameters {dict(values)})")


def changed_values(calibration: Calibration, values: Mapping[str, float]) -> dict[str, Any]:
    """Return the nested mapping of what ``values`` change in the scenario, for the calibrated file."""
    data = calibration.scenario.to_dict()
    for name, value in values.items():
        _set(data, calibration.config.parameters[name], value)
    out: dict[str, Any] = {}
    for name in values:
        path = calibration.config.parameters[name].path.split(".")
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _get(data, tuple(path))
    return out


# --------------------------------------------------------------------------------------------------------------
# Evaluation


def _simulate_targets(task: tuple[dict[str, Any], int, dict[str, Any]]) -> dict[str, float]:
    """Run one replicate of a scenario (plain data) and return the value of every target outcome."""
    from .runner import run

    data, seed, outcomes = task
    scenario = scenario_from_dict(data, source="calibration")
    result = run(scenario, seed=seed, replicates=1)
    adapter = TypeAdapter(Outcome)
    return {name: adapter.validate_python(spec).compute(result) for name, spec in outcomes.items()}


@dataclass
class Evaluator:
    """Evaluates target outcomes at parameter values, replicates in parallel with fixed seeds."""

    calibration: Calibration
    seeds: list[int]
    pool: ProcessPoolExecutor | None
    evaluations: int = 0
    on_evaluation: Callable[[], None] | None = None

    def simulate(self, points: list[dict[str, float]]) -> list[dict[str, list[float]]]:
        """Return, for each point, every target's value in each replicate."""
        cfg = self.calibration.config
        outcomes = {n: t.outcome.model_dump(mode="json", by_alias=True) for n, t in self.calibration.targets.items()}
        tasks = []
        for values in points:
            scenario = scenario_with(self.calibration, values, cfg.end).with_run(researchers=cfg.researchers)
            data = scenario.to_dict()
            tasks += [(data, seed, outcomes) for seed in self.seeds]
        results = list(self.pool.map(_simulate_targets, tasks) if self.pool else map(_simulate_targets, tasks))
        out = []
        for i in range(len(points)):
            reps = results[i * len(self.seeds) : (i + 1) * len(self.seeds)]
            out.append({name: [r[name] for r in reps] for name in outcomes})
        return out

    def objective(self, values_by_target: Mapping[str, list[float]], targets: Mapping[str, float]) -> float:
        """Return the weighted sum of squared errors, in tolerance units, of the replicate means."""
        total = 0.0
        for name, target in self.calibration.targets.items():
            mean = float(np.nanmean(values_by_target[name]))
            if math.isnan(mean):
                return math.inf
            total += target.weight * ((mean - targets[name]) / target.tolerance) ** 2
        return total

    def evaluate(self, points: list[dict[str, float]], targets: Mapping[str, float]) -> list[float]:
        """Return the objective at each point (and count the evaluations)."""
        scores = [self.objective(v, targets) for v in self.simulate(points)]
        self.evaluations += len(points)
        if self.on_evaluation:
            for _ in points:
                self.on_evaluation()
        return scores


# --------------------------------------------------------------------------------------------------------------
# Search


def _to_values(calibration: Calibration, x: np.ndarray) -> dict[str, float]:
    params = calibration.config.parameters
    return {
        name: float(p.bounds[0] + min(max(xi, 0.0), 1.0) * (p.bounds[1] - p.bounds[0]))
        for xi, (name, p) in zip(x, params.items())
    }


def _to_unit(calibration: Calibration, values: Mapping[str, float]) -> np.ndarray:
    params = calibration.config.parameters
    return np.array([(values[n] - p.bounds[0]) / (p.bounds[1] - p.bounds[0]) for n, p in params.items()])


def minimise(
    evaluator: Evaluator,
    targets: Mapping[str, float],
    initial_points: int,
    starts: int,
    max_evaluations: int,
    seed: int,
    start: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], float]:
    """Return the best parameter values found and their objective.

    A scrambled Sobol design over the bounds, with the mid-point and ``start`` (parameters not named there
    mid-bounds), is evaluated in parallel; bounded Nelder-Mead then runs from ``start``, when given, and from
    the best other design points, ``starts`` runs in all.
    """
    from scipy.optimize import minimize
    from scipy.stats import qmc

    calibration = evaluator.calibration
    d = len(calibration.config.parameters)
    with warnings.catch_warnings():
        # Any number of points is a usable start design; only its balance is best at powers of two.
        warnings.filterwarnings("ignore", message="The balance properties of Sobol", category=UserWarning)
        design = qmc.Sobol(d, scramble=True, seed=seed).random(initial_points)
    design = np.vstack([np.full(d, 0.5), design])
    first = []
    if start:
        mid = {name: _mid(p) for name, p in calibration.config.parameters.items()}
        design = np.vstack([_to_unit(calibration, {**mid, **start}), design])
        first = [0]
    points = [_to_values(calibration, x) for x in design]
    scores = evaluator.evaluate(points, targets)
    order = np.argsort(scores)
    best_x, best = design[order[0]], scores[order[0]]
    runs = first + [int(k) for k in order if k not in first]
    for k in runs[:starts]:
        result = minimize(
            lambda x: evaluator.evaluate([_to_values(calibration, x)], targets)[0],
            design[k],
            method="Nelder-Mead",
            bounds=[(0.0, 1.0)] * d,
            options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-3, "initial_simplex": _simplex(design[k])},
        )
        if result.fun < best:
            best_x, best = result.x, float(result.fun)
    return _to_values(calibration, best_x), float(best)


def _simplex(x0: np.ndarray, size: float = 0.15) -> np.ndarray:
    """Return a Nelder-Mead start simplex around ``x0`` that stays in the unit cube."""
    points = [x0]
    for i in range(len(x0)):
        x = x0.copy()
        x[i] = x[i] + size if x[i] + size <= 1.0 else x[i] - size
        points.append(x)
    return np.array(points)


# --------------------------------------------------------------------------------------------------------------
# The whole calibration


@dataclass
class Fit:
    """What a calibration found."""

    values: dict[str, float]
    objective: float
    evaluations: int
    wall_seconds: float
    table: list[dict[str, Any]]  # one row per target: published, simulated mean and interval, error
    recovery: list[dict[str, Any]] | None = None
    recovery_objective: float | None = None


def _workers(calibration: Calibration) -> int:
    return calibration.config.workers or os.cpu_count() or 1


def calibrate(
    calibration: Calibration, *, progress: bool = False, recovery: bool = True, log: Callable[[str], None] = print
) -> Fit:
    """Run the recovery check (when configured) and the fit; return what was found."""
    from tqdm import tqdm

    cfg = calibration.config
    from .runner import replicate_seeds

    seeds = replicate_seeds(cfg.seed, cfg.replicates)
    started = time.perf_counter()
    # Spawned workers: forking a process that already runs threads can deadlock.
    with ProcessPoolExecutor(max_workers=_workers(calibration), mp_context=multiprocessing.get_context("spawn")) as pool:
        bar = tqdm(desc="calibration", unit="evaluation", disable=not progress, leave=False)
        evaluator = Evaluator(calibration, seeds, pool, on_evaluation=lambda: bar.update())
        recovery_rows = recovery_objective = None
        if recovery and cfg.recovery is not None:
            recovery_rows, recovery_objective = _recovery_check(evaluator, log)
        published = {name: t.value for name, t in calibration.targets.items()}
        bar.set_description("fit to published targets")
        values, best = minimise(
            evaluator, published, cfg.search.initial_points, cfg.search.starts, cfg.search.max_evaluations, cfg.seed,
            start=cfg.search.start,
        )  # fmt: skip
        bar.close()
        values = {name: _round(v) for name, v in values.items()}
        log(f"fit: objective {best:.3f} after {evaluator.evaluations} evaluations")
        table = fit_table(calibration, values, pool)
    return Fit(
        values=values,
        objective=best,
        evaluations=evaluator.evaluations,
        wall_seconds=time.perf_counter() - started,
        table=table,
        recovery=recovery_rows,
        recovery_objective=recovery_objective,
    )


def _recovery_check(evaluator: Evaluator, log: Callable[[str], None]) -> tuple[list[dict[str, Any]], float]:
    """Simulate the targets at known values (other seeds), fit them back, and compare."""
    from .runner import replicate_seeds

    calibration = evaluator.calibration
    rec = calibration.config.recovery
    params = calibration.config.parameters
    truth = {name: rec.truth.get(name, _mid(p)) for name, p in params.items()}
    truth_seeds = replicate_seeds(rec.seed, len(evaluator.seeds))
    simulated = Evaluator(calibration, truth_seeds, evaluator.pool).simulate([truth])[0]
    synthetic = {name: float(np.nanmean(v)) for name, v in simulated.items()}
    found, best = minimise(evaluator, synthetic, rec.initial_points, rec.starts, rec.max_evaluations, rec.seed)
    rows = []
    for name, p in params.items():
        span = p.bounds[1] - p.bounds[0]
        rows.append({
            "parameter": name, "true": truth[name], "recovered": found[name],
            "error_share_of_range": abs(found[name] - truth[name]) / span,
        })
    log(f"recovery check: objective {best:.3f}; worst error {max(r['error_share_of_range'] for r in rows):.1%} of range")
    return rows, best


def fit_table(calibration: Calibration, values: Mapping[str, float], pool: ProcessPoolExecutor | None) -> list[dict[str, Any]]:
    """Return, per target, the published value, the simulated replicate mean and 90% interval, and the error."""
    from .runner import replicate_seeds

    cfg = calibration.config
    seeds = replicate_seeds(cfg.seed + 1, cfg.report_replicates)  # fresh seeds: the fit is judged out of its own draws
    simulated = Evaluator(calibration, seeds, pool).simulate([dict(values)])[0]
    rows = []
    for name, target in calibration.targets.items():
        reps = np.asarray(simulated[name], dtype=float)
        mean = float(np.nanmean(reps))
        rows.append({
            "target": name, "label": target.outcome.label, "code": target.code, "source": target.source,
            "published": target.value, "simulated": mean,
            "low": float(np.nanquantile(reps, 0.05)), "high": float(np.nanquantile(reps, 0.95)),
            "error": mean - target.value, "tolerance": target.tolerance, "weight": target.weight,
            "within": abs(mean - target.value) <= target.tolerance,
        })
    return rows


# --------------------------------------------------------------------------------------------------------------
# Writing results


def write_calibrated_scenario(calibration: Calibration, fit: Fit, command: str) -> Path:
    """Write the calibrated values into the output scenario file (it extends the starting scenario)."""
    out = calibration.path(calibration.config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    parent = os.path.relpath(calibration.path(calibration.config.scenario), out.parent)
    body = {"extends": parent, "name": f"{calibration.scenario.name}_calibrated"}
    body.update(changed_values(calibration, fit.values))
    header = (
        f"# Written by `{command}` on {dt.date.today():%Y-%m-%d}: do not edit by hand.\n"
        f"# Calibrated values of the parameters in {os.path.relpath(calibration.file, out.parent)};\n"
        f"# objective {fit.objective:.3f} after {fit.evaluations} evaluations. Fit report: "
        f"{os.path.relpath(calibration.path(calibration.config.report), out.parent)}\n"
    )
    text = header + yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=110)
    return write_text(out, text)


def _round(value: float, digits: int = 4) -> float:
    """Return ``value`` to ``digits`` significant digits (what the calibrated file and the report show)."""
    return float(f"{value:.{digits}g}")


def _fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3g}"


def report_markdown(calibration: Calibration, fit: Fit, command: str, figures: list[Path]) -> str:
    """Return the fit report as Markdown."""
    cfg = calibration.config
    report_dir = calibration.path(cfg.report).parent
    passed = sum(r["within"] for r in fit.table if r["weight"] > 0)
    fitted = sum(1 for r in fit.table if r["weight"] > 0)
    lines = [
        f"# Calibration: {cfg.name}",
        "",
        f"Written by `{command}` on {dt.date.today():%Y-%m-%d}. "
        f"{len(cfg.parameters)} parameters fitted to {fitted} targets ({len(fit.table) - fitted} more reported only), "
        f"{cfg.replicates} replicates × {cfg.researchers:,} researchers per evaluation with common random numbers; "
        f"{fit.evaluations} evaluations in {fit.wall_seconds / 60:.1f} minutes on {_workers(calibration)} processes. "
        f"Objective (sum of weighted squared errors in tolerance units): **{fit.objective:.3f}**. "
        f"**{passed} of {fitted}** fitted targets are within their tolerance.",
        *(
            ["", "The first Nelder–Mead run started from `search.start`: "
             + ", ".join(f"{name} {_fmt(value)}" for name, value in cfg.search.start.items()) + "."]
            if cfg.search.start else []
        ),  # fmt: skip
        "",
        "## Targets",
        "",
        f"Simulated: mean and 90% interval of {cfg.report_replicates} fresh replicates of the calibrated scenario "
        "(seeds not used in the fit).",
        "",
        "| target | code | published | simulated | 90% interval | error | tolerance | weight | within | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fit.table:
        lines.append(
            f"| {r['label']} | {r['code']} | {_fmt(r['published'])} | {_fmt(r['simulated'])} | "
            f"[{_fmt(r['low'])}, {_fmt(r['high'])}] | {r['error']:+.3f} | ±{_fmt(r['tolerance'])} | {r['weight']:g} | "
            f"{'yes' if r['within'] else 'no'} | {r['source']} |"
        )
    lines += ["", "## Parameters", "", "| parameter | key | value | bounds | unit |", "|---|---|---|---|---|"]
    for name, p in cfg.parameters.items():
        key = p.path + (f" (from {_month(p.start)}" + (f" until {_month(p.until)})" if p.until else ")") if p.start else "")
        lines.append(
            f"| {p.label or name} | `{key}` | {_fmt(fit.values[name])} | [{_fmt(p.bounds[0])}, {_fmt(p.bounds[1])}] | {p.unit} |"
        )
    if fit.recovery is not None:
        worst = max(r["error_share_of_range"] for r in fit.recovery)
        lines += [
            "",
            "## Recovery check",
            "",
            "Targets simulated at known parameter values (with seeds not used in the fit), then fitted back with "
            f"the same method and a smaller budget. Objective at the recovered values: {fit.recovery_objective:.3f}; "
            f"worst error {worst:.1%} of a parameter's range.",
            "",
            "| parameter | true | recovered | error (share of range) |",
            "|---|---|---|---|",
        ]
        for r in fit.recovery:
            lines.append(f"| {r['parameter']} | {_fmt(r['true'])} | {_fmt(r['recovered'])} | {r['error_share_of_range']:.1%} |")
    if figures:
        lines += ["", "## Figures", ""]
        for path in figures:
            lines += [f"![{path.stem.replace('_', ' ')}]({os.path.relpath(path, report_dir)})", ""]
    return "\n".join(lines) + "\n"



def calibration_figures(calibration: Calibration, fit: Fit) -> list[Path]:
    """Run the calibrated scenario (report replicates) and save its migration and cohort-stay figures."""
    from .plots import plot_cohort_stay, plot_migration_curves, save_figure
    from .runner import run

    cfg = calibration.config
    scenario = scenario_with(calibration, fit.values)
    scenario = scenario.model_copy(update={"name": f"{calibration.scenario.name}, calibrated"})
    result = run(scenario, seed=cfg.seed + 1, replicates=cfg.report_replicates, researchers=cfg.researchers)
    folder = calibration.path(cfg.figures)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    written += save_figure(plot_migration_curves(result), folder / "calibrated_migration_curve", formats=("png",))
    written += save_figure(plot_cohort_stay(result), folder / "calibrated_cohort_stay", formats=("png",))
    return written


def run_calibration(path: str | Path, *, progress: bool = True, recovery: bool = True, command: str = "") -> Fit:
    """Load, fit, and write the calibrated scenario, the figures and the fit report; return the fit."""
    calibration = load_calibration(path)
    command = command or f"talentsim calibrate {path}"
    fit = calibrate(calibration, progress=progress, recovery=recovery)
    write_calibrated_scenario(calibration, fit, command)
    figures = calibration_figures(calibration, fit)
    report = calibration.path(calibration.config.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    write_text(report, report_markdown(calibration, fit, command, figures))
    return fit
