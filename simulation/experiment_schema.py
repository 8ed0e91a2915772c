"""The schema of experiment files: levers, uncertainties and their distributions, sampling, analysis defaults.

An experiment file is validated once into these frozen pydantic models (see :mod:`.experiment_load` for reading
and checking one against its base scenario). Levers (the policy arms compared) are kept apart from
uncertainties (what we do not know), so every lever arm runs under the same uncertainty draws.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from .inputs import Month, Strict
from .outcomes import Curve, Outcome
from .scenario import SEED_MAX, ScenarioError

__all__ = [
    "DISTRIBUTIONS", "METHODS", "MAX_RUNS", "NAME", "RESERVED", "AnalysisSettings", "ExperimentError",
    "ExperimentFile", "Lever", "RenamedMethodWarning", "RunOverrides", "Sampling", "Uncertainty", "canonical",
    "is_number",
]

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED = frozenset(
    {"run_id", "arm", "sample", "replicate", "seed", "status", "attempts", "wall_time_s", "error", "worker",
     "finished", "curve", "step", "year", "region", "origin", "value"}
)
MAX_RUNS = 1_000_000  # a guard against a grid that would never finish


class ExperimentError(ScenarioError):
    """An experiment file that cannot be used; ``problems`` lists every problem found."""

    what = "experiment"


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


def canonical(value: Any) -> str:
    """Return ``value`` as canonical JSON text: equal values give equal text (for hashes and comparisons)."""
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
            key = canonical(value)
            if key in seen:
                raise ValueError(f"values must differ; {value!r} is listed twice")
            seen.add(key)
        if self.scale and not all(is_number(v) for v in self.values):
            raise ValueError("with scale: true every value must be a number (a multiplier)")
        return self


def is_number(value: Any) -> bool:
    """Return whether ``value`` is a finite number (not a bool)."""
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
        if self.scale and self.values is not None and not all(is_number(v) for v in self.values):
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
    step_months: int | None = Field(None, ge=1, le=12, description="Length of one step in months.")
    researchers: int | None = Field(None, ge=100, le=50_000_000, description="Researchers simulated at the start of "
                                    "each run.")


class ExperimentFile(Strict):
    """The content of an experiment file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Short name, used for the results folder.")
    description: str = Field("", description="Which question the experiment answers.")
    scenario: str = Field(description="Base scenario file (path relative to this file).")
    run: RunOverrides = Field(default_factory=RunOverrides)
    seed: int = Field(0, ge=0, le=SEED_MAX, strict=True, description="Root seed: run seeds and the sampler's draws come from it.")
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

