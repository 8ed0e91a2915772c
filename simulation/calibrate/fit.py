"""The whole calibration: estimate the ensemble, check identification and held-out targets, run the ensemble
for the report, and write the calibrated scenario, the ensemble and the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .abc import Posterior, estimate
from .config import Calibration, load_calibration
from .identify import holdout_checks, profiles, recovery_check, sensitivity
from .simulate import Runner

__all__ = ["Fit", "calibrate", "run_calibration"]


@dataclass
class Fit:
    """What a calibration found."""

    posterior: Posterior
    point: dict[str, float]
    draws: Any  # DataFrame: the saved ensemble
    table: list[dict[str, Any]]  # per target: published, ensemble median and 90% interval, replicate-only interval
    projections: list[dict[str, Any]]
    curves: Any  # DataFrame: year, region, value, draw (top-tier shares of the ensemble runs)
    workers: int
    timings: dict[str, float] = field(default_factory=dict)
    recovery: list[dict[str, Any]] | None = None
    recovery_posterior: Posterior | None = None
    profile: dict[str, dict[str, Any]] | None = None
    sensitivity: list[dict[str, Any]] | None = None
    holdouts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wall_seconds(self) -> float:
        """Return the calibration's wall time."""
        return sum(self.timings.values())


def _round(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def calibrate(
    calibration: Calibration,
    *,
    client: Any = None,
    recovery: bool = True,
    checks: bool = True,
    log: Callable[[str], None] = print,
) -> Fit:
    """Estimate the ensemble and run every check the config asks for; return what was found.

    ``client``: a Dask client (its workers run the simulations); default local processes.
    """
    cfg = calibration.config
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    with Runner(calibration, client) as runner:
        workers = runner.workers
        observed = {n: t.value for n, t in calibration.targets.items()}
        weights = {n: t.weight for n, t in calibration.targets.items() if t.weight > 0}
        log(f"fitting {len(cfg.parameters)} parameters to {len(weights)} targets by ABC-SMC on {workers} worker(s)")
        posterior = estimate(calibration, observed, weights, cfg.abc, seed=cfg.seed, client=client, workers=workers, log=log)
        point = {name: _round(v) for name, v in posterior.median().items()}
        draws = posterior.resample(cfg.ensemble_draws, cfg.seed)
        lap("estimation")
        table, projections, curves = ensemble_runs(calibration, runner, draws, point)
        lap("ensemble runs")
        fit = Fit(posterior, point, draws, table, projections, curves, workers, timings)
        if checks and cfg.profiles is not None:
            log("profiles of the distance along each parameter")
            fit.profile = profiles(calibration, runner, point)
            fit.sensitivity = sensitivity(calibration, fit.profile)
            lap("profiles")
        if recovery and cfg.recovery is not None:
            fit.recovery, fit.recovery_posterior = recovery_check(calibration, point, client=client, workers=workers, log=log)
            lap("recovery check")
        if checks and cfg.holdouts:
            settings = cfg.recovery.abc if cfg.recovery is not None else cfg.abc
            fit.holdouts = holdout_checks(calibration, settings, posterior, seed=cfg.seed + 3, client=client,
                                          workers=workers, log=log)
            lap("held-out checks")
    return fit


def ensemble_runs(
    calibration: Calibration, runner: Runner, draws: Any, point: Mapping[str, float]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """Run the first ``report_draws`` draws (one fresh replicate each) to the scenario's end, and the point estimate
    (``report_replicates`` replicates); return the target table, the projections and the top-tier curves."""
    import pandas as pd

    from ..runner import replicate_seeds

    cfg = calibration.config
    n = min(cfg.report_draws, len(draws))
    names = list(cfg.parameters)
    points = [{p: float(draws[p].iloc[i]) for p in names} for i in range(n)]
    outcomes = {**{k: t.outcome for k, t in calibration.targets.items()}, **cfg.projections}
    seeds = replicate_seeds(cfg.seed + 1, max(n, cfg.report_replicates))  # fresh seeds: not used in the fit
    across = runner.simulate(points, seeds, outcomes, full_run=True, curves=True, paired=True)
    at_point = runner.simulate([dict(point)], seeds[: cfg.report_replicates], outcomes, full_run=True)[0]

    def spread(runs: list[tuple[dict[str, float], Any]], name: str) -> tuple[float, float, float]:
        values = np.array([r[0][name] for r in runs], dtype=float)
        values = values[~np.isnan(values)]
        if values.size == 0:
            return (np.nan, np.nan, np.nan)
        return tuple(float(v) for v in np.quantile(values, [0.05, 0.5, 0.95]))

    flat = [runs[0] for runs in across]
    table = []
    for name, target in calibration.targets.items():
        low, median, high = spread(flat, name)
        p_low, p_median, p_high = spread(at_point, name)
        table.append({
            "target": name, "label": target.outcome.label, "code": target.code, "source": target.source,
            "mapping": target.mapping, "fitted_by": target.fitted_by, "published": target.value,
            "simulated": median, "low": low, "high": high, "point": p_median, "point_low": p_low, "point_high": p_high,
            "error": median - target.value, "tolerance": target.tolerance, "discrepancy": target.discrepancy,
            "weight": target.weight, "within": abs(median - target.value) <= target.tolerance,
        })
    projections = []
    for name, outcome in cfg.projections.items():
        low, median, high = spread(flat, name)
        p_low, p_median, p_high = spread(at_point, name)
        projections.append({"name": name, "label": outcome.label, "median": median, "low": low, "high": high,
                            "point_low": p_low, "point_high": p_high})
    parts = [runs[0][1].assign(draw=i) for i, runs in enumerate(across)]
    curves = pd.concat(parts, ignore_index=True)
    return table, projections, curves


def run_calibration(
    path: str | Path, *, client: Any = None, recovery: bool = True, checks: bool = True, command: str = "",
    log: Callable[[str], None] = print,
) -> Fit:
    """Load, fit, and write the calibrated scenario, the ensemble, the figures and the report; return the fit."""
    from .report import write_outputs

    calibration = load_calibration(path)
    command = command or f"talentsim calibrate {path}"
    fit = calibrate(calibration, client=client, recovery=recovery, checks=checks, log=log)
    write_outputs(calibration, fit, command)
    return fit
