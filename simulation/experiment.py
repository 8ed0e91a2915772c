"""Experiment files: a base scenario, policy levers, uncertainties, sampling, replicates and outcomes.

An experiment is read from YAML with ``yaml.safe_load`` and validated once into frozen pydantic models;
every problem is reported together, each naming the experiment file, the key path, the value and what is
allowed. Levers (the policy arms compared) are kept apart from uncertainties (what we do not know):
every lever arm runs under the same uncertainty draws and the same replicate seeds, so differences between
arms are the policy, not noise (common random numbers).

``expand(experiment)`` turns an experiment into run specs. It is a pure function: the same experiment
always gives the same runs, in the same order, with the same ids and seeds. ``scenario_for`` builds the
validated scenario of one run by changing the base scenario's data at the key paths the levers and
uncertainties name.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import itertools
import json
import math
import re
import typing
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .ensemble import Ensemble, read_ensemble
from .outcomes import Curve, Outcome
from .scenario import Month, Problem, Scenario, ScenarioError, UniqueKeyLoader, load_scenario, scenario_from_dict

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentFile",
    "RunSpec",
    "Setting",
    "apply_setting",
    "expand",
    "experiment_from",
    "load_experiment",
    "run_seed",
]

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED = frozenset(
    {"run_id", "arm", "sample", "replicate", "seed", "status", "attempts", "wall_time_s", "error", "worker",
     "finished", "curve", "step", "year", "region", "origin", "value"}
)
SAMPLER_STREAM = 0x534D504C  # spawn key of the sampler's stream, apart from the run seeds' (sample, replicate) keys
ID_LENGTH = 16  # hex digits of a run id (64 bits)
MAX_RUNS = 1_000_000  # a guard against a grid that would never finish


class ExperimentError(ScenarioError):
    """An experiment file that cannot be used; ``problems`` lists every problem found."""


class PathError(ValueError):
    """A key path that does not lead to a value of the scenario that can be changed."""


# --------------------------------------------------------------------------------------------------------------
# Schema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _key_path(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a dotted key path into the scenario, e.g. preferences.default.pay.mean")
    parts = value.strip().split(".")
    if any(not p.strip() or " " in p.strip() for p in parts):
        raise ValueError("must be keys joined by dots with no spaces or empty keys, e.g. levers.visa_odds.US.default")
    return ".".join(p.strip() for p in parts)


KeyPath = Annotated[str, BeforeValidator(_key_path)]
Paths = Annotated[list[KeyPath], BeforeValidator(_as_list), Field(min_length=1)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class Lever(Strict):
    """A policy lever: the values (arms) compared, set at one or more key paths of the scenario."""

    label: str | None = Field(None, description="Label for tables and figures (default: the lever's name).")
    unit: str = Field("", description="Unit of the values, for tables and figures.")
    path: Paths = Field(description="Dotted key path(s) into the scenario that the value sets, e.g. "
                        "levers.state_funding_usd_m_per_year.region.China.")
    values: list[Any] = Field(min_length=1, description="The arms: values compared, each set at every path.")
    scale: bool = Field(False, description="Values multiply the scenario's own value instead of replacing it.")
    start: Month | None = Field(None, alias="from", description="First month the value holds (YYYY-MM); the "
                                "scenario's schedule before it is kept. Default: the whole run.")

    @model_validator(mode="after")
    def _arms_differ(self) -> Lever:
        seen = set()
        for value in self.values:
            key = _canonical(value)
            if key in seen:
                raise ValueError(f"values must differ; {value!r} is listed twice")
            seen.add(key)
        if self.scale and not all(_is_number(v) for v in self.values):
            raise ValueError("with scale: true every value must be a number (a multiplier)")
        return self


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Dist(Strict):
    def probes(self) -> list[float]:
        """Return values at which a scenario is validated before the sweep: the bounds, or the median."""
        return [float(self.ppf(np.array([0.5]))[0])]

    def ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


class Uniform(_Dist):
    """Uniform between ``low`` and ``high``."""

    kind: Literal["uniform"]
    low: Number
    high: Number

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high:g}) must be above low ({self.low:g})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + u * (self.high - self.low)

    def probes(self) -> list[float]:
        return [self.low, self.high]


class LogUniform(Uniform):
    """Log-uniform between ``low`` and ``high`` (both above 0): every factor of ten equally likely."""

    kind: Literal["loguniform"]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _positive(self) -> LogUniform:
        if self.low <= 0:
            raise ValueError(f"low ({self.low:g}) must be above 0 for a log-uniform distribution")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))


class Normal(_Dist):
    """Normal with ``mean`` and ``sd``, cut to [``low``, ``high``] when given (truncated normal)."""

    kind: Literal["normal"]
    mean: Number
    sd: Annotated[Number, Field(gt=0)]
    low: Number | None = None
    high: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Normal:
        if self.low is not None and self.high is not None and self.high <= self.low:
            raise ValueError(f"high ({self.high:g}) must be above low ({self.low:g})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        from scipy import stats

        if self.low is None and self.high is None:
            return stats.norm.ppf(u, loc=self.mean, scale=self.sd)
        a = -np.inf if self.low is None else (self.low - self.mean) / self.sd
        b = np.inf if self.high is None else (self.high - self.mean) / self.sd
        return stats.truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd)

    def probes(self) -> list[float]:
        return [v for v in (self.low, self.high) if v is not None] or super().probes()


class LogNormal(_Dist):
    """Log-normal with ``median`` (above 0) and ``sigma``, the standard deviation of the log."""

    kind: Literal["lognormal"]
    median: Annotated[Number, Field(gt=0)]
    sigma: Annotated[Number, Field(gt=0)]

    def ppf(self, u: np.ndarray) -> np.ndarray:
        from scipy import stats

        return stats.lognorm.ppf(u, self.sigma, scale=self.median)


class Triangular(_Dist):
    """Triangular from ``low`` to ``high`` with its peak at ``mode``."""

    kind: Literal["triangular"]
    low: Number
    mode: Number
    high: Number

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.high <= self.low:
            raise ValueError(f"needs low <= mode <= high with low < high (got {self.low:g}, {self.mode:g}, {self.high:g})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        from scipy import stats

        width = self.high - self.low
        return stats.triang.ppf(u, (self.mode - self.low) / width, loc=self.low, scale=width)

    def probes(self) -> list[float]:
        return [self.low, self.high]


Distribution = Annotated[Union[Uniform, LogUniform, Normal, LogNormal, Triangular], Field(discriminator="kind")]  # noqa: UP007
DISTRIBUTIONS = {"uniform": Uniform, "loguniform": LogUniform, "normal": Normal, "lognormal": LogNormal,
                 "triangular": Triangular}


class Uncertainty(Strict):
    """A parameter we do not know: a range, a distribution, or a list of equally likely values."""

    label: str | None = Field(None, description="Label for tables and figures (default: the name).")
    unit: str = Field("", description="Unit of the values, for tables and figures.")
    path: Paths = Field(description="Dotted key path(s) into the scenario that the value sets, for the whole run.")
    range: tuple[Number, Number] | None = Field(None, description="[low, high]: uniform between them.")
    distribution: Distribution | None = Field(None, description="A distribution: uniform, loguniform, normal "
                                              "(optionally cut at low/high), lognormal or triangular.")
    values: list[Any] | None = Field(None, min_length=1, description="Equally likely values.")
    scale: bool = Field(False, description="Values multiply the scenario's own value instead of replacing it.")
    integer: bool = Field(False, description="Round drawn values to whole numbers.")

    @model_validator(mode="after")
    def _one_way_to_vary(self) -> Uncertainty:
        given = [k for k in ("range", "distribution", "values") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of range: [low, high], distribution: {kind: ...} or values: [...]"
                + (f"; found {' and '.join(given)}" if given else "")
            )
        if self.range is not None and self.range[1] <= self.range[0]:
            raise ValueError(f"range: the high end ({self.range[1]:g}) must be above the low end ({self.range[0]:g})")
        if self.scale and self.values is not None and not all(_is_number(v) for v in self.values):
            raise ValueError("with scale: true every value must be a number (a multiplier)")
        return self

    @property
    def dist(self) -> _Dist | None:
        """Return the continuous distribution of the values (a range is uniform), or None for a list of values."""
        if self.range is not None:
            return Uniform(kind="uniform", low=self.range[0], high=self.range[1])
        return self.distribution

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Return the values at probabilities ``u`` (each in (0, 1)) of this uncertainty's distribution."""
        if self.values is not None:
            k = len(self.values)
            return [self.values[min(int(x * k), k - 1)] for x in u]
        return self._finish(self.dist.ppf(np.asarray(u, dtype=float)))

    def grid(self, points: int) -> list[Any]:
        """Return the grid values: the listed values, evenly spaced over a range, or quantile midpoints."""
        if self.values is not None:
            return list(self.values)
        if self.range is not None:
            return self._finish(np.linspace(self.range[0], self.range[1], points))
        return self._finish(self.dist.ppf((np.arange(points) + 0.5) / points))

    def describe(self) -> str:
        """Return how the values vary, in words."""
        if self.values is not None:
            return "one of " + ", ".join(map(str, self.values))
        if self.range is not None:
            return f"uniform from {self.range[0]:g} to {self.range[1]:g}"
        fields = {k: v for k, v in self.distribution.model_dump().items() if k != "kind" and v is not None}
        return f"{self.distribution.kind} ({', '.join(f'{k} {v:g}' for k, v in fields.items())})"

    def probes(self) -> list[Any]:
        """Return the values checked against the scenario before a sweep."""
        if self.values is not None:
            return list(self.values)
        return self._finish(np.array(self.dist.probes()))

    def _finish(self, values: np.ndarray) -> list[Any]:
        if self.integer:
            return [int(np.floor(v + 0.5)) for v in values]
        return [float(v) for v in values]


METHODS = ("grid", "latin_hypercube", "quasi_random", "saltelli", "morris")
DESIGNS = ("saltelli", "morris")  # designs made for an analysis of sensitivity, drawn by SALib


class RenamedMethodWarning(FutureWarning):
    """An experiment file names a sampling method by a name that has changed."""


def _method(value: Any) -> Any:
    aliases = {"lhs": "latin_hypercube", "latin hypercube": "latin_hypercube", "full_grid": "grid", "factorial": "grid",
               "quasi-random": "quasi_random", "sobol_sequence": "quasi_random"}
    if isinstance(value, str) and value.strip().lower() == "sobol":
        warnings.warn("sampling method 'sobol' is now called 'quasi_random' (draws of a scrambled Sobol sequence, "
                      "the same draws as before); it gives no Sobol indices. For Sobol sensitivity indices use "
                      "method: saltelli", RenamedMethodWarning, stacklevel=2)
        return "quasi_random"
    return aliases.get(value.strip().lower(), value) if isinstance(value, str) else value


class Sampling(Strict):
    """How the uncertainties are sampled."""

    method: Annotated[Literal["grid", "latin_hypercube", "quasi_random", "saltelli", "morris"],
                      BeforeValidator(_method)] = Field(
        "grid", description="grid (every combination), latin_hypercube, quasi_random (a scrambled Sobol sequence, "
        "scipy.stats.qmc), saltelli (for Sobol indices) or morris (elementary effects; both from SALib)."
    )
    samples: int | None = Field(None, ge=1, le=1_000_000, description="Draws for latin_hypercube and quasi_random "
                                "(a power of 2 for quasi_random); base samples for saltelli (a power of 2; "
                                "N x (uncertainties + 2) draws); trajectories for morris (N x (uncertainties + 1) "
                                "draws).")
    points: int = Field(3, ge=1, le=1000, description="Grid points for each range or distribution (grid only).")
    second_order: bool = Field(False, description="saltelli only: also draw what second-order Sobol indices need "
                               "(N x (2 x uncertainties + 2) draws).")
    levels: int = Field(4, ge=2, le=100, description="morris only: levels of the grid each trajectory moves on "
                        "(an even number is best).")

    @model_validator(mode="after")
    def _samples_fit_method(self) -> Sampling:
        if self.method == "grid" and self.samples is not None:
            raise ValueError("samples applies to latin_hypercube, quasi_random, saltelli and morris; a grid takes "
                             "points: N per uncertainty")
        if self.method != "grid" and self.samples is None:
            what = {"saltelli": "base samples", "morris": "trajectories"}.get(self.method, "draws of the uncertainties")
            raise ValueError(f"{self.method} needs samples: N ({what})")
        if self.method in ("quasi_random", "saltelli") and self.samples is not None and self.samples & (self.samples - 1):
            low = 1 << (self.samples.bit_length() - 1)
            raise ValueError(f"{self.method} needs a power of 2 for samples (the balance of the Sobol sequence "
                             f"needs it), e.g. {low} or {low * 2}")
        if self.second_order and self.method != "saltelli":
            raise ValueError("second_order applies to method: saltelli only")
        if self.levels != 4 and self.method != "morris":
            raise ValueError("levels applies to method: morris only")
        return self

    def draws(self, uncertainties: int) -> int:
        """Return how many uncertainty draws the sampling makes for ``uncertainties`` uncertainties."""
        if self.method == "saltelli":
            return (self.samples or 1) * ((2 if self.second_order else 1) * uncertainties + 2)
        if self.method == "morris":
            return (self.samples or 1) * (uncertainties + 1)
        return self.samples or 1


class AnalysisSettings(Strict):
    """What ``talentsim analyze`` and the sweep report look at unless told otherwise."""

    outcome: str | None = Field(None, description="Outcome of the robustness table and of scenario discovery: a name "
                                "under outcomes:, or an expression of them such as 'china_share - us_share'.")
    label: str | None = Field(None, description="Label of the outcome, for tables and figures.")
    above: Number | None = Field(None, description="Threshold: a run meets it when the outcome is at least this "
                                 "(higher is better for regret).")
    below: Number | None = Field(None, description="Threshold: a run meets it when the outcome is at most this "
                                 "(lower is better for regret).")
    density: float = Field(0.8, gt=0, le=1, description="Scenario discovery: the box chosen is the one of largest "
                           "coverage whose density (share of its runs meeting the condition) is at least this.")

    @model_validator(mode="after")
    def _one_threshold(self) -> AnalysisSettings:
        if self.above is not None and self.below is not None:
            raise ValueError("give above: or below:, not both")
        if (self.above is not None or self.below is not None) and self.outcome is None:
            raise ValueError("a threshold needs outcome: (the outcome it applies to)")
        return self


class RunOverrides(Strict):
    """Run settings of every run, laid over the base scenario's ``run:``."""

    start: Month | None = Field(None, description="First month simulated (YYYY-MM).")
    end: Month | None = Field(None, description="Month the runs end (YYYY-MM), exclusive.")
    step_months: int | None = Field(None, description="Length of one step in months.")
    researchers: int | None = Field(None, description="Researchers simulated at the start of each run.")


class ExperimentFile(Strict):
    """The content of an experiment file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Short name, used for the results folder.")
    description: str = Field("", description="Which question the experiment answers.")
    scenario: str = Field(description="Base scenario file (path relative to this file).")
    run: RunOverrides = Field(default_factory=RunOverrides)
    seed: int = Field(0, ge=0, strict=True, description="Root seed: run seeds and the sampler's draws come from it.")
    replicates: int = Field(1, ge=1, le=100_000, strict=True, description="Replicates of every lever arm and sample.")
    levers: dict[str, Lever] = Field(default_factory=dict, description="Policy levers; their values are crossed.")
    uncertainties: dict[str, Uncertainty] = Field(default_factory=dict, description="Parameters we do not know.")
    sampling: Sampling = Field(default_factory=Sampling)
    outcomes: dict[str, Outcome] = Field(min_length=1, description="Named scalar outcomes kept for every run.")
    curves: dict[str, Curve] = Field(default_factory=dict, description="Named curves kept for every run.")
    ensemble: str | None = Field(
        None,
        description="Parameter ensemble file (path relative to this file, e.g. the calibration's "
        "calibrated.ensemble.parquet): replicate i of every arm and sample uses draw i, so arms pair by seed and "
        "draw and intervals include parameter uncertainty.",
    )
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings, description="Defaults of 'talentsim "
                                       "analyze' and of the sweep report (outcome and threshold).")


# --------------------------------------------------------------------------------------------------------------
# Run specs


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


def run_seed(root: int, sample: int, replicate: int) -> int:
    """Return the seed of a run: from ``root``, the uncertainty sample and the replicate, never the lever arm.

    Every lever arm of a sample and replicate shares the seed (common random numbers); adding samples or
    replicates to an experiment leaves the seeds of existing runs unchanged.
    """
    state = np.random.SeedSequence(root, spawn_key=(sample, replicate)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def run_id(levers: Mapping[str, Any], uncertainties: Mapping[str, Any], seed: int) -> str:
    """Return the stable id of a run: a hash of its parameter values and seed."""
    text = _canonical({"levers": dict(levers), "uncertainties": dict(uncertainties), "seed": seed})
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def planned_runs(definition: ExperimentFile) -> int:
    """Return how many runs the experiment has, without listing them."""
    arms = math.prod(len(lever.values) for lever in definition.levers.values())
    if not definition.uncertainties:
        samples = 1
    elif definition.sampling.method == "grid":
        points = definition.sampling.points
        samples = math.prod(len(u.values) if u.values is not None else points for u in definition.uncertainties.values())
    else:
        samples = definition.sampling.draws(len(definition.uncertainties))
    return arms * samples * definition.replicates


def lever_arms(definition: ExperimentFile) -> list[dict[str, Any]]:
    """Return every combination of lever values (the arms), the first lever varying slowest."""
    names = list(definition.levers)
    return [dict(zip(names, values)) for values in itertools.product(*(definition.levers[n].values for n in names))]


def uncertainty_samples(definition: ExperimentFile) -> list[dict[str, Any]]:
    """Return the uncertainty draws: a grid, or a sampled design (see ``design``), seeded from the root seed."""
    names = list(definition.uncertainties)
    if not names:
        return [{}]
    items = [definition.uncertainties[n] for n in names]
    sampling = definition.sampling
    if sampling.method == "grid":
        return [dict(zip(names, values)) for values in itertools.product(*(u.grid(sampling.points) for u in items))]
    unit = design(definition)
    columns = [u.from_unit(unit[:, j]) for j, u in enumerate(items)]
    return [dict(zip(names, row)) for row in zip(*columns)]


def salib_problem(definition: ExperimentFile) -> dict[str, Any]:
    """Return the SALib problem of an experiment's uncertainties: each a probability in [0, 1] of its distribution.

    Designs are drawn on these probabilities and mapped through each uncertainty's distribution, so Sobol indices
    and Morris effects are about the uncertainties as they are distributed (both are unchanged by such a mapping).
    """
    names = list(definition.uncertainties)
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def _sampler_seed(definition: ExperimentFile) -> np.random.SeedSequence:
    return np.random.SeedSequence(definition.seed, spawn_key=(SAMPLER_STREAM,))


def design(definition: ExperimentFile) -> np.ndarray:
    """Return the sampled design of the uncertainties as probabilities: one row per draw, one column per uncertainty.

    latin_hypercube and quasi_random come from ``scipy.stats.qmc``; saltelli (Sobol indices) and morris
    (elementary effects) from SALib, in the row order its analyses expect. Pure: the same experiment always
    gives the same design. Probabilities of exactly 0 or 1 (the ends of a Morris grid) are moved in by 1e-9
    for distributions without bounds, whose ends are infinite.

    Raises:
        MissingExtra: saltelli or morris without SALib installed.
    """
    sampling = definition.sampling
    problem = salib_problem(definition)
    d = problem["num_vars"]
    if sampling.method in DESIGNS:
        seed = int(_sampler_seed(definition).generate_state(1, np.uint32)[0])
        salib = _import_salib()
        if sampling.method == "saltelli":
            unit = salib.sample.sobol.sample(problem, sampling.samples, calc_second_order=sampling.second_order,
                                             scramble=True, seed=seed)
        else:
            unit = salib.sample.morris.sample(problem, sampling.samples, num_levels=sampling.levels, seed=seed)
    else:
        from scipy.stats import qmc

        rng = np.random.default_rng(_sampler_seed(definition))
        sampler_type = qmc.LatinHypercube if sampling.method == "latin_hypercube" else qmc.Sobol
        options = {} if sampling.method == "latin_hypercube" else {"scramble": True}
        try:
            sampler = sampler_type(d=d, rng=rng, **options)
        except TypeError:  # scipy < 1.15 names the generator 'seed'
            sampler = sampler_type(d=d, seed=rng, **options)
        unit = sampler.random(sampling.samples)
    unit = np.asarray(unit, dtype=float)
    for j, name in enumerate(problem["names"]):
        dist = definition.uncertainties[name].dist
        if dist is not None and not np.all(np.isfinite(dist.ppf(np.array([0.0, 1.0])))):
            unit[:, j] = np.clip(unit[:, j], 1e-9, 1 - 1e-9)
    return unit


def _import_salib():
    from .extras import require

    require("SALib", "sensitivity", "the saltelli and morris designs")
    import SALib.sample.morris
    import SALib.sample.sobol

    return SALib


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
# Setting values in a scenario


@dataclass(frozen=True)
class Setting:
    """A change to a scenario's data: ``value`` at ``path`` (from month ``start`` on, if given)."""

    path: tuple[str, ...]
    value: Any
    scale: bool = False
    start: str | None = None  # YYYY-MM


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _is_schedule(node: Any) -> bool:
    return isinstance(node, list) and bool(node) and all(isinstance(s, dict) and set(s) == {"from", "value"} for s in node)


def _kind_of(node: Any) -> str:
    if isinstance(node, bool):
        return "true/false value"
    if isinstance(node, (int, float)):
        return f"number ({node:g})"
    if isinstance(node, str):
        return f"text ({node!r})"
    if isinstance(node, list):
        return "list"
    return type(node).__name__


def apply_setting(data: dict[str, Any], setting: Setting) -> None:
    """Change a scenario's plain data (``Scenario.to_dict()``) in place as ``setting`` says.

    Under ``levers``, a value given ``from`` a month becomes a schedule step: the scenario's steps before
    that month are kept, and only what the path names changes from then on. Without ``from`` the value
    holds for the whole run.

    Raises:
        PathError: the path does not lead to a value that can be changed.
    """
    node: Any = data
    path = setting.path
    for i, key in enumerate(path):
        here = path[: i + 1]
        if _is_schedule(node):
            _set_in_schedule(node, path[:i], path[i:], setting)
            return
        if not isinstance(node, dict):
            raise PathError(f"'{_dotted(path[:i])}' is a {_kind_of(node)}, not a section with keys; "
                            f"the path should end at '{_dotted(path[:i])}'")
        last = i == len(path) - 1
        if key not in node:
            if last and not setting.scale:
                # a new entry in a mapping (e.g. a bonus policy for an employer that had none); validation
                # afterwards rejects keys the schema does not know
                if setting.start is not None and path[0] == "levers":
                    node[key] = [{"from": setting.start, "value": setting.value}]
                elif setting.start is not None:
                    raise PathError(_from_not_scheduled(here))
                else:
                    node[key] = setting.value
                return
            options = [str(k) for k in node]
            raise PathError(_unknown_key(key, path[:i], options))
        if last:
            if _is_schedule(node[key]):
                _set_in_schedule(node[key], here, (), setting)
                return
            if setting.start is not None:
                raise PathError(_from_not_scheduled(here))
            node[key] = _new_value(node[key], setting, here)
            return
        if node[key] is None:
            raise PathError(f"'{_dotted(here)}' is not set in the base scenario, so there is nothing at "
                            f"'{_dotted(path)}' to change; set '{_dotted(here)}' as a whole instead")
        node = node[key]


def _unknown_key(key: str, parent: tuple[str, ...], options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    where = f"'{_dotted(parent)}'" if parent else "the scenario"
    shown = ", ".join(options[:25]) + (", ..." if len(options) > 25 else "")
    return f"no key '{key}' in {where}{hint} Keys there: {shown}" if options else f"no key '{key}' in {where} (it is empty)"


def _from_not_scheduled(path: tuple[str, ...]) -> str:
    return (f"'from' applies to levers the scenario schedules (under levers:); '{_dotted(path)}' holds one value "
            "for the whole run, so leave out 'from'")


def _new_value(old: Any, setting: Setting, path: tuple[str, ...]) -> Any:
    if setting.scale:
        if not _is_number(old):
            raise PathError(f"scale: true multiplies a number, but '{_dotted(path)}' holds a {_kind_of(old)}")
        return old * setting.value
    if isinstance(setting.value, dict) and isinstance(old, dict):
        return _lay_over(old, setting.value)
    return copy.deepcopy(setting.value)


def _lay_over(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        out[key] = _lay_over(old[key], value) if isinstance(value, dict) and isinstance(old.get(key), dict) else value
    return out


def _set_within(value: Any, rest: tuple[str, ...], setting: Setting, path: tuple[str, ...]) -> Any:
    """Return ``value`` (a schedule step's value) with ``rest`` below it changed."""
    if not rest:
        return _new_value(value, setting, path)
    if not isinstance(value, dict):
        raise PathError(f"'{_dotted(path)}' is a {_kind_of(value)}, not a section with keys")
    key, below = rest[0], rest[1:]
    out = dict(value)
    if key not in out:
        if below or setting.scale:
            raise PathError(_unknown_key(key, path, [str(k) for k in out]))
        out[key] = copy.deepcopy(setting.value)
        return out
    if out[key] is None and below:
        raise PathError(f"'{_dotted((*path, key))}' is not set in the base scenario; set it as a whole instead")
    out[key] = _set_within(out[key], below, setting, (*path, key))
    return out


def _set_in_schedule(steps: list[dict[str, Any]], at: tuple[str, ...], rest: tuple[str, ...], setting: Setting) -> None:
    """Change a lever schedule in place: from ``setting.start`` on (or throughout), set ``rest`` in each step."""
    full = (*at, *rest)
    replaces = not rest and not setting.scale and not isinstance(setting.value, dict)
    if setting.start is None:
        if replaces:
            steps[:] = [{"from": None, "value": copy.deepcopy(setting.value)}]
            return
        for step in steps:
            step["value"] = _set_within(step["value"], rest, setting, full)
        return
    start = setting.start
    kept = [s for s in steps if s["from"] is None or s["from"] < start]
    in_force = [s for s in steps if s["from"] is None or s["from"] <= start]
    later = [s for s in steps if s["from"] is not None and s["from"] > start]
    if in_force:
        new = _set_within(copy.deepcopy(in_force[-1]["value"]), rest, setting, full)
    elif replaces:
        new = copy.deepcopy(setting.value)
    else:
        raise PathError(f"'{_dotted(at)}' has no value in force at {start} for '{_dotted(full)}' to change; "
                        f"its schedule starts {steps[0]['from']}")
    if replaces:
        later = []  # they would all hold the same value
    else:
        later = [{"from": s["from"], "value": _set_within(s["value"], rest, setting, full)} for s in later]
    steps[:] = [*kept, {"from": start, "value": new}, *later]


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
        return hashlib.sha256(_canonical(content).encode()).hexdigest()[:ID_LENGTH]

    def columns(self) -> dict[str, dict[str, str]]:
        """Return the label, unit and role (lever, uncertainty, outcome, curve) of every named column."""
        d = self.definition
        out: dict[str, dict[str, str]] = {}
        for role, items in (("lever", d.levers), ("uncertainty", d.uncertainties)):
            for name, item in items.items():
                out[name] = {"role": role, "label": item.label or name.replace("_", " "), "unit": item.unit}
        if self.ensemble is not None:
            out["draw"] = {"role": "uncertainty", "label": "Parameter draw of the ensemble", "unit": ""}
            for name, place in self.ensemble.places.items():
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


# --------------------------------------------------------------------------------------------------------------
# Loading and validation


def _read(path: Path) -> dict[str, Any]:
    file = str(path)
    if not path.exists():
        raise ExperimentError([Problem(file, "", "file not found; check the path (experiments live in experiments/)")])
    if path.is_dir():
        raise ExperimentError([Problem(file, "", "is a folder, not an experiment file; give the path of a .yaml file")])
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ExperimentError([Problem(file, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    except UnicodeDecodeError:
        raise ExperimentError([Problem(file, "", "not a text file (UTF-8 YAML expected)")]) from None
    if data is None:
        raise ExperimentError([Problem(file, "", "file is empty; an experiment needs name, scenario, outcomes, ...")])
    if not isinstance(data, dict):
        raise ExperimentError([Problem(file, "", "must be a mapping of keys (name:, scenario:, levers:, ...)", data, True)])
    if "scenario" not in data and any(k in data for k in ("extends", "regions", "employers", "population")):
        raise ExperimentError([Problem(file, "", "looks like a scenario, not an experiment; run it with "
                                       "'talentsim run', or write an experiment that names it under scenario:")])
    return data


def load_experiment(path: str | Path) -> Experiment:
    """Return the validated experiment in ``path``, with its base scenario loaded.

    Every lever value and the range of every uncertainty is checked against the base scenario, so a
    path that leads nowhere or a value the scenario does not allow is found before any run starts.

    Raises:
        ExperimentError: listing every problem, each naming the file, key path, value and what is allowed.
        ScenarioError: the base scenario itself has problems (named in its own file).
    """
    path = Path(path)
    file = str(path)
    data = _read(path)
    try:
        with warnings.catch_warnings(record=True) as renamed:
            warnings.simplefilter("always", RenamedMethodWarning)
            definition = ExperimentFile.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(_problems_from_pydantic(exc, data, file)) from None
    for warning in renamed:  # said again, pointing at the file and line rather than at the validator
        lines = path.read_text(encoding="utf-8").splitlines()
        line = next((i for i, text in enumerate(lines, 1) if re.search(r"\bsobol\b", text, re.IGNORECASE)), 1)
        warnings.warn_explicit(f"sampling.method: {warning.message}", warning.category, file, line)

    scenario_path = Path(definition.scenario)
    if not scenario_path.is_absolute():
        scenario_path = path.parent / scenario_path
    if not scenario_path.is_file():
        raise ExperimentError([Problem(file, "scenario", f"no scenario file at {scenario_path} (paths are relative to "
                                       "the experiment file)", definition.scenario, True)])
    base = load_scenario(scenario_path)
    overrides = definition.run.model_dump(exclude_none=True)
    if overrides:
        try:
            base = base.with_run(**overrides)
        except ScenarioError as exc:
            raise ExperimentError([Problem(file, p.path, p.message, p.value, p.has_value) for p in exc.problems]) from None

    ensemble = None
    if definition.ensemble is not None:
        ensemble = _load_ensemble(definition, path.parent, file)
    experiment = Experiment(definition, file, base, ensemble)
    problems = list(_check(experiment))
    if problems:
        raise ExperimentError(problems)
    return experiment


def _load_ensemble(definition: ExperimentFile, folder: Path, file: str) -> Ensemble:
    """Return the experiment's parameter ensemble, checked against its replicates and names."""
    where = Path(definition.ensemble)
    try:
        ensemble = read_ensemble(where if where.is_absolute() else folder / where)
    except ValueError as exc:
        raise ExperimentError([Problem(file, "ensemble", str(exc), definition.ensemble, True)]) from None
    problems = []
    if definition.replicates > len(ensemble):
        problems.append(Problem(file, "replicates", f"more replicates than the ensemble has draws ({len(ensemble)}); "
                                "replicate i uses draw i", definition.replicates, True))
    for name, place in ensemble.places.items():
        if place.until is not None:
            problems.append(Problem(file, "ensemble", f"parameter '{name}' holds only until {place.until}; sweeps set "
                                    "values from a month on, so run this ensemble with `talentsim run --ensemble`"))
        if name in definition.levers or name in definition.uncertainties or name in RESERVED:
            problems.append(Problem(file, "ensemble", f"the ensemble's parameter '{name}' clashes with a name of "
                                    "this experiment; rename that lever or uncertainty"))
    if problems:
        raise ExperimentError(problems)
    return ensemble


PYTHON_SOURCE = "sweep() arguments"


def _axis(key: str, spec: Any, role: str) -> tuple[str, Any]:
    """Return (name, definition) of a lever or uncertainty given in Python: a full definition, or a key path
    mapped to its values (a list) or, for an uncertainty, to its range (a (low, high) tuple)."""
    if isinstance(spec, Mapping):
        return key, dict(spec)
    name = re.sub(r"[^A-Za-z0-9_]+", "_", key.removeprefix("levers.")).strip("_") or key
    if not name[:1].isalpha():
        name = f"p_{name}"
    if role == "uncertainties" and isinstance(spec, tuple) and len(spec) == 2:
        return name, {"path": key, "range": list(spec)}
    return name, {"path": key, "values": list(spec) if not isinstance(spec, (str, bytes)) else spec}


def experiment_from(
    base: Scenario,
    *,
    levers: Mapping[str, Any] | None = None,
    uncertainties: Mapping[str, Any] | None = None,
    outcomes: Mapping[str, Any] | None = None,
    curves: Mapping[str, Any] | None = None,
    replicates: int = 1,
    sampler: str | Mapping[str, Any] = "grid",
    samples: int | None = None,
    seed: int = 0,
    name: str | None = None,
    description: str = "",
    run: Mapping[str, Any] | None = None,
) -> Experiment:
    """Return an experiment on a scenario in memory, checked exactly as an experiment file is.

    ``levers`` and ``uncertainties`` map names to definitions as in a file (``{"path": ..., "values": [...]}``),
    or key paths to values: ``{"levers.visa_odds.US.default": [0.35, 0.9]}`` (a lever named
    ``visa_odds_US_default``), ``{"preferences.default.pay.mean": (1.0, 2.0)}`` (an uncertainty uniform over the
    range). ``sampler`` is a method name (``samples`` draws) or a ``sampling:`` mapping. Without ``outcomes``,
    the share of top-tier researchers working in each region at the last January of the run is kept.

    Raises:
        ExperimentError: every problem, each named by its key path in these arguments.
    """
    data: dict[str, Any] = {
        "name": name or f"{base.name}_sweep", "description": description, "scenario": f"<scenario '{base.name}'>",
        "seed": seed, "replicates": replicates,
        "levers": dict(_axis(k, v, "levers") for k, v in (levers or {}).items()),
        "uncertainties": dict(_axis(k, v, "uncertainties") for k, v in (uncertainties or {}).items()),
        "sampling": dict(sampler) if isinstance(sampler, Mapping) else
        {"method": sampler, **({"samples": samples} if samples is not None else {})},
        "run": dict(run or {}),
    }
    if outcomes is None:
        try:
            settings = base.with_run(**data["run"]).run
        except (ScenarioError, TypeError):
            settings = base.run  # the run settings' own problems are reported below
        year = settings.end.year - (settings.end.month == 1)  # the last January inside the run
        outcomes = {f"{r.lower()}_top_tier_share_{year}": {"kind": "share", "region": r, "year": year}
                    for r in base.region_ids if NAME.match(r)}
    data["outcomes"] = dict(outcomes)
    data["curves"] = dict(curves or {})
    try:
        definition = ExperimentFile.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(_problems_from_pydantic(exc, data, PYTHON_SOURCE)) from None
    if definition.run.model_dump(exclude_none=True):
        try:
            base = base.with_run(**definition.run.model_dump(exclude_none=True))
        except ScenarioError as exc:
            raise ExperimentError([Problem(PYTHON_SOURCE, p.path, p.message, p.value, p.has_value)
                                   for p in exc.problems]) from None
    experiment = Experiment(definition, PYTHON_SOURCE, base)
    problems = list(_check(experiment))
    if problems:
        raise ExperimentError(problems)
    return experiment


def _check(experiment: Experiment) -> Iterator[Problem]:
    """Yield every problem of a well-formed experiment: names, outcomes, and lever and uncertainty paths."""
    d, file, base = experiment.definition, experiment.file, experiment.base
    seen: dict[str, str] = {}
    for section in ("levers", "uncertainties", "outcomes", "curves"):
        for name in getattr(d, section):
            if not NAME.match(name):
                yield Problem(file, f"{section}.{name}", "names start with a letter and use only letters, digits "
                              "and _ (they become column names)", name, True)
            elif name in RESERVED:
                yield Problem(file, f"{section}.{name}", f"'{name}' is a column every table already has; choose "
                              "another name")
            elif name in seen and not {section, seen[name]} == {"outcomes", "curves"}:
                yield Problem(file, f"{section}.{name}", f"the name is also used under {seen[name]}; names of levers, "
                              "uncertainties and outcomes become columns of one table, so they must differ")
            seen.setdefault(name, section)
    for section in ("outcomes", "curves"):
        for name, item in getattr(d, section).items():
            for key, message, value in item.check(base):
                yield Problem(file, f"{section}.{name}.{key}", message, value, True)
    if d.analysis.outcome is not None:
        from .derived import DerivedError, names_in

        try:
            names_in(d.analysis.outcome, list(d.outcomes))
        except DerivedError as exc:
            yield Problem(file, "analysis.outcome", str(exc))

    if not d.uncertainties and d.sampling.method != "grid":
        yield Problem(file, "sampling", f"{d.sampling.method} draws uncertainties, and there are none; add "
                      "uncertainties: or remove sampling:")
    count = planned_runs(d)
    if count > MAX_RUNS:
        yield Problem(file, "", f"the experiment has {count:,} runs (lever arms x uncertainty samples x replicates), "
                      f"more than {MAX_RUNS:,}; use fewer values, points or replicates, or latin_hypercube sampling")
        return

    run = base.run
    for name, lever in d.levers.items():
        if lever.start is not None and lever.start >= run.end:
            yield Problem(file, f"levers.{name}.from", f"comes after the run ends ({run.end:%Y-%m}), so the lever would "
                          "never act", _month_text(lever.start), True)
            continue
        yield from _check_values(experiment, f"levers.{name}", lever, lever.values, "values")
    for name, uncertainty in d.uncertainties.items():
        what = "values" if uncertainty.values is not None else ("range" if uncertainty.range is not None else "distribution")
        yield from _check_values(experiment, f"uncertainties.{name}", uncertainty, uncertainty.probes(), what)


def _check_values(experiment: Experiment, where: str, item: Lever | Uncertainty, values: list[Any], key: str) -> Iterator[Problem]:
    file, base = experiment.file, experiment.base_data
    new = {j: path for j, path in enumerate(item.path) if not _exists(base, tuple(path.split(".")))}

    def path_key(j: int) -> str:
        return f"{where}.path" + (f"[{j}]" if len(item.path) > 1 else "")

    for i, value in enumerate(values):
        data = copy.deepcopy(base)
        for j, setting in enumerate(_settings(item, value)):
            try:
                apply_setting(data, setting)
            except PathError as exc:
                yield Problem(file, path_key(j), str(exc), item.path[j], True)
                return
        try:
            scenario_from_dict(data, source=f"{file}: {where}")
        except ScenarioError as exc:
            # a key the path added that the scenario does not take is a problem of the path, not of the value
            for j, path in new.items():
                added = [p for p in exc.problems if _plain(p.path) == path or _plain(p.path).startswith(path + ".")]
                if added:
                    parts = tuple(path.split("."))
                    hint = _close_key(parts[-1], _keys_at(base, parts[:-1]))
                    yield Problem(file, path_key(j), f"the base scenario has no '{path}', and it cannot be added: "
                                  f"{added[0].message}{hint}", item.path[j], True)
                    return
            at = f"{where}.{key}" + (f"[{i}]" if key == "values" else "")
            for p in exc.problems:
                got = f" (becomes {p.value!r})" if p.has_value and p.value != value else ""
                yield Problem(file, at, f"gives a scenario that is not allowed: {_plain(p.path)}: {p.message}{got}", value, True)
            if key != "values":
                return


def _plain(path: str) -> str:
    """Return a scenario key path without schedule steps: levers.a.b[1].value.c -> levers.a.b.c."""
    return re.sub(r"\[\d+\](\.value)?", "", path)


def _exists(data: Any, path: tuple[str, ...]) -> bool:
    node = data
    for key in path:
        if _is_schedule(node):
            node = node[0]["value"]
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _keys_at(data: Any, path: tuple[str, ...]) -> list[str]:
    node = data
    for key in path:
        if _is_schedule(node):
            node = node[0]["value"]
        node = node.get(key) if isinstance(node, dict) else None
    if _is_schedule(node):
        node = node[0]["value"]
    return [str(k) for k in node] if isinstance(node, dict) else []


def _close_key(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


# --------------------------------------------------------------------------------------------------------------
# Messages from pydantic, in the reader's terms


def _problems_from_pydantic(exc: ValidationError, data: dict[str, Any], file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        path, value, found = _user_path(tuple(error["loc"]), data)
        kind = error["type"]
        text = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
        if kind == "extra_forbidden" and path[:-1] == ("run",) and path[-1] in ("seed", "replicates"):
            problem = Problem(file, text, f"the experiment's {path[-1]} is set at the top level of the file, not under run:")
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(path[:-1], data)
            close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problem = Problem(file, text, f"unknown key '{path[-1]}'{hint}" + (f" Allowed here: {', '.join(allowed)}"
                                                                                 if allowed else ""))
        elif kind == "missing":
            problem = Problem(file, text, "required key is missing")
        else:  # a whole section's value says nothing the message does not
            problem = Problem(file, text, _message(error), value, found and not isinstance(value, (dict, list)))
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            problems.append(problem)
    return problems


def _user_path(loc: tuple[Any, ...], data: Any) -> tuple[tuple[Any, ...], Any, bool]:
    """Map a pydantic location to the key path written in the file, with the value found there."""
    path: list[Any] = []
    node, found = data, True
    for key in loc:
        if isinstance(key, str) and ("[" in key or key.startswith("function-")):
            continue
        if found and isinstance(node, dict) and key not in node and node.get("kind") == key:
            continue  # the branch of a union chosen by 'kind'
        path.append(key)
        if found and isinstance(node, dict) and key in node:
            node = node[key]
        elif found and isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            found = False
    return tuple(path), node, found


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("greater than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ctx.get("expected_tags") or ""
        return f"needs kind: one of {expected}" if kind == "union_tag_not_found" else f"unknown kind; choose one of {expected}"
    if kind.startswith(("float", "int")) or kind == "finite_number":
        return "must be a whole number" if kind.startswith("int") else "must be a number"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys"
    if kind in ("list_type", "tuple_type"):
        return "must be a list, e.g. [1, 2]"
    if kind == "string_pattern_mismatch":
        return "must be a short name of letters, digits, '_', '-' or '.' (it names the results folder)"
    if kind == "too_short":
        return "must not be empty"
    if kind == "string_type":
        return "must be text"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _unwrap(tp: Any, node: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, getattr(__import__("types"), "UnionType", None)):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(options) == 1:
                tp = options[0]
                continue
            kind = node.get("kind") if isinstance(node, dict) else None
            chosen = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)
                      and "kind" in o.model_fields and kind in typing.get_args(o.model_fields["kind"].annotation)]
            return chosen[0] if chosen else None
        else:
            return tp


def _allowed_keys(parent: tuple[Any, ...], data: Any) -> list[str]:
    """Return the keys accepted at ``parent`` in an experiment file, following the schema along the path."""
    tp: Any = ExperimentFile
    node = data
    for key in parent:
        tp = _unwrap(tp, node)
        node = node.get(key) if isinstance(node, dict) else None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if key in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp, node)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []
