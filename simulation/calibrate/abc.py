"""Estimation with uncertainty: approximate Bayesian computation by sequential Monte Carlo (pyabc's ABC-SMC).

The prior is uniform within each parameter's bounds. A simulation is accepted when its distance to the targets
(the weighted root-mean-square error in tolerance units, ``simulate.distance``) is below the generation's
threshold; thresholds fall generation by generation (a quantile of the last generation's distances) until they
reach ``abc.min_epsilon``, the simulation budget is spent, or acceptance becomes too rare. The final weighted
population approximates the posterior of the parameters given the targets *at that threshold*: every parameter
set in it reproduces the targets about as well as their stated uncertainty allows. Replicate noise is inside each
simulation, so the population carries it too.

pyabc is an optional extra (``pip install -e ".[calibrate]"``); its samplers run on local processes (forked) or
on a Dask cluster (``--scheduler ADDRESS``).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Abc, Calibration
from .simulate import abc_model, distance

__all__ = ["Posterior", "estimate", "require_pyabc"]


def require_pyabc() -> Any:
    """Return the pyabc module, or raise MissingExtra saying how to install it."""
    from ..extras import require

    return require("pyabc", "calibrate", "calibration (ABC-SMC)")


@dataclass
class Posterior:
    """An ABC-SMC result: the final weighted population and what it took."""

    particles: Any  # DataFrame: one column per parameter
    weights: np.ndarray
    distances: np.ndarray
    simulated: list[dict[str, float]]  # the accepted particles' target values (posterior predictive)
    epsilons: list[float]
    acceptance: list[float]
    simulations: int
    generations: int
    wall_seconds: float
    stop: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def quantiles(self, name: str, qs: tuple[float, ...] = (0.05, 0.5, 0.95)) -> list[float]:
        """Return weighted quantiles of parameter ``name``."""
        return weighted_quantiles(np.asarray(self.particles[name], dtype=float), self.weights, qs)

    def predictive(self, target: str, qs: tuple[float, ...] = (0.05, 0.5, 0.95)) -> list[float]:
        """Return weighted quantiles of a target's simulated value across the population."""
        values = np.array([s.get(target, math.nan) for s in self.simulated], dtype=float)
        ok = ~np.isnan(values)
        if not ok.any():
            return [math.nan] * len(qs)
        return weighted_quantiles(values[ok], self.weights[ok], qs)

    def median(self) -> dict[str, float]:
        """Return the weighted marginal medians (the point estimate)."""
        return {name: self.quantiles(name, (0.5,))[0] for name in self.particles.columns}

    def resample(self, draws: int, seed: int) -> Any:
        """Return ``draws`` equally weighted draws (systematic resampling), in random order."""
        import pandas as pd

        rng = np.random.default_rng(seed)
        w = self.weights / self.weights.sum()
        positions = (rng.random() + np.arange(draws)) / draws
        index = np.minimum(np.searchsorted(np.cumsum(w), positions), len(w) - 1)
        index = rng.permutation(index)
        table = self.particles.iloc[index].reset_index(drop=True)
        table.insert(0, "weight", 1.0 / draws)
        table.insert(0, "distance", self.distances[index])
        table.insert(0, "particle", index)
        table.insert(0, "draw", np.arange(draws))
        return pd.DataFrame(table)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Return quantiles ``qs`` of ``values`` under ``weights`` (interpolated on the weighted CDF)."""
    order = np.argsort(values)
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - w / 2
    return [float(np.interp(q, cdf, v)) for q in qs]


def estimate(
    calibration: Calibration,
    observed: Mapping[str, float],
    weights: Mapping[str, float],
    settings: Abc,
    *,
    seed: int,
    client: Any = None,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> Posterior:
    """Run ABC-SMC for the calibration's parameters against ``observed`` values of the targets in ``weights``."""
    import time

    pyabc = require_pyabc()
    import logging

    for name in ("ABC", "Sampler", "Epsilon", "Distance", "Acceptor", "pyabc", "History", "ABC.History", "ABC.Sampler"):
        logging.getLogger(name).setLevel(logging.WARNING)

    cfg = calibration.config
    prior = pyabc.Distribution(
        **{name: pyabc.RV("uniform", p.bounds[0], p.span) for name, p in cfg.parameters.items()}
    )
    tolerances = {name: t.scale for name, t in calibration.targets.items()}

    def measure(x: Mapping[str, float], x0: Mapping[str, float]) -> float:
        return distance(x, x0, tolerances, weights)

    if client is not None:
        sampler = pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
    elif workers > 1:
        sampler = pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    else:
        sampler = pyabc.sampler.SingleCoreSampler()
    np.random.seed(seed % (2**32))  # pyabc draws from numpy's global generator
    abc = pyabc.ABCSMC(
        abc_model(calibration), prior, measure, population_size=settings.population, sampler=sampler,
        eps=pyabc.QuantileEpsilon(alpha=settings.quantile),
    )  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="talentsim-abc-") as folder:
        abc.new("sqlite:///" + str(Path(folder) / "abc.db"), dict(observed))
        history = abc.run(
            minimum_epsilon=settings.min_epsilon, max_nr_populations=settings.generations,
            max_total_nr_simulations=settings.max_simulations, min_acceptance_rate=settings.min_acceptance,
        )  # fmt: skip
        wall = time.perf_counter() - started
        import pandas as pd

        population = history.get_population(history.max_t).get_for_keys(["weight", "distance", "parameter", "sum_stat"])
        particles = pd.DataFrame([{n: float(p[n]) for n in cfg.parameters} for p in population["parameter"]])
        w = np.asarray(population["weight"], dtype=float)
        sumstats = population["sum_stat"]
        populations = history.get_all_populations()
        rows = []
        for _, row in populations.iterrows():
            if row["t"] < 0:
                continue
            rows.append({"generation": int(row["t"]), "epsilon": float(row["epsilon"]), "samples": int(row["samples"])})
        total = int(history.total_nr_simulations)
    posterior = Posterior(
        particles=particles,
        weights=w,
        distances=np.asarray(population["distance"], dtype=float),
        simulated=[dict(s) for s in sumstats],
        epsilons=[r["epsilon"] for r in rows],
        acceptance=[settings.population / r["samples"] for r in rows],
        simulations=total,
        generations=len(rows),
        wall_seconds=wall,
        stop=_stop_reason(rows, settings, total),
        history=rows,
    )
    log(f"ABC-SMC: {posterior.generations} generations, {total} simulations in {wall / 60:.1f} min; "
        f"final threshold {posterior.epsilons[-1]:.3f} ({posterior.stop})")
    return posterior


def _stop_reason(rows: list[dict[str, Any]], settings: Abc, total: int) -> str:
    last = rows[-1]
    if last["epsilon"] <= settings.min_epsilon:
        return f"threshold reached {settings.min_epsilon:g}"
    if total >= settings.max_simulations:
        return "simulation budget spent"
    if settings.population / last["samples"] < settings.min_acceptance:
        return "acceptance fell below its floor"
    if len(rows) >= settings.generations:
        return "generation limit reached"
    return "stopped"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
