"""Identification, shown: the recovery check, profiles of the distance, which targets pin which parameter, and
held-out checks (fit without some targets, predict them)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .abc import Posterior, estimate
from .config import Abc, Calibration
from .simulate import Runner, abc_model, distance

__all__ = ["holdout_checks", "profiles", "recovery_check", "sensitivity"]


def _weights(calibration: Calibration, leave_out: tuple[str, ...] = ()) -> dict[str, float]:
    return {n: t.weight for n, t in calibration.targets.items() if t.weight > 0 and n not in leave_out}


def recovery_check(
    calibration: Calibration, point: Mapping[str, float], *, client: Any, workers: int, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], Posterior]:
    """Simulate the targets at known values (other seeds), estimate them back by ABC-SMC, and compare.

    The known values are ``recovery.truth`` where given, else the fit's point estimate: identification is
    checked where the data put the model.
    """
    cfg = calibration.config
    rec = cfg.recovery
    truth = {name: rec.truth.get(name, point[name]) for name in cfg.parameters}
    model = abc_model(calibration)
    model.seed = rec.seed  # the synthetic data are not a draw the fit itself would make
    model.replicates = rec.replicates  # the model's expected targets, as published targets are, not one noisy run
    synthetic = model(truth)
    posterior = estimate(calibration, synthetic, _weights(calibration), rec.abc, seed=rec.seed + 1, client=client,
                         workers=workers, log=log)
    rows = []
    for name, p in cfg.parameters.items():
        low, median, high = posterior.quantiles(name)
        error = abs(median - truth[name]) / p.span
        rows.append({
            "parameter": name, "true": truth[name], "recovered": median, "low": low, "high": high,
            "error_share_of_range": error, "recovered_within": error <= rec.threshold,
            "interval_share_of_range": (high - low) / p.span, "covered": low <= truth[name] <= high,
        })
    worst = max(r["error_share_of_range"] for r in rows)
    log(f"recovery check: worst error {worst:.1%} of a parameter's range")
    return rows, posterior


def profiles(calibration: Calibration, runner: Runner, point: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Return, per parameter, the distance and every target's mean along a grid of its values, others at ``point``.

    Replicates use the same seeds at every value (common random numbers), so the curves change only with the
    parameter.
    """
    from ..runner import replicate_seeds

    cfg = calibration.config
    settings = cfg.profiles
    seeds = replicate_seeds(cfg.seed + 2, settings.replicates)
    targets = {n: t.outcome for n, t in calibration.targets.items()}
    observed = {n: t.value for n, t in calibration.targets.items()}
    tolerances = {n: t.scale for n, t in calibration.targets.items()}
    weights = _weights(calibration)
    grids = {name: np.linspace(p.bounds[0], p.bounds[1], settings.points) for name, p in cfg.parameters.items()}
    points = [{**point, name: float(x)} for name, grid in grids.items() for x in grid]
    simulated = runner.simulate(points, seeds, targets)
    out, at = {}, 0
    for name, grid in grids.items():
        means = []
        for runs in simulated[at : at + len(grid)]:
            means.append({t: float(np.nanmean([values[t] for values, _ in runs])) for t in targets})
        at += len(grid)
        out[name] = {
            "grid": [float(x) for x in grid],
            "distance": [distance(m, observed, tolerances, weights) for m in means],
            "targets": {t: [m[t] for m in means] for t in targets},
        }
    return out


def sensitivity(calibration: Calibration, profile: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return, per parameter and target, how much the target moves across the parameter's bounds.

    The effect is the least-squares slope of the target's replicate mean along the profile, times the width of the
    bounds, in units of the target's tolerance: |effect| >= 1 means the parameter alone can move the target by
    more than its published uncertainty, so the target pins it.
    """
    rows = []
    for name, p in calibration.config.parameters.items():
        grid = np.asarray(profile[name]["grid"])
        for target, t in calibration.targets.items():
            values = np.asarray(profile[name]["targets"][target], dtype=float)
            ok = ~np.isnan(values)
            slope = np.polyfit(grid[ok], values[ok], 1)[0] if ok.sum() >= 2 else math.nan
            rows.append({"parameter": name, "target": target, "effect": float(slope * p.span / t.tolerance),
                         "fitted": t.weight > 0})
    return rows


def holdout_checks(
    calibration: Calibration, settings: Abc, main: Posterior, *, seed: int, client: Any, workers: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Fit without each group of held-out targets and report how well the fit predicts them.

    A group none of whose targets is fitted is predicted by the main fit's population itself (``main``).
    """
    observed = {n: t.value for n, t in calibration.targets.items()}
    rows = []
    for group, holdout in calibration.config.holdouts.items():
        if any(calibration.targets[name].weight > 0 for name in holdout.targets):
            log(f"held-out check '{group}': fitting without {', '.join(holdout.targets)}")
            posterior = estimate(calibration, observed, _weights(calibration, tuple(holdout.targets)), settings,
                                 seed=seed, client=client, workers=workers, log=log)
        else:
            posterior = main
        for name in holdout.targets:
            target = calibration.targets[name]
            low, median, high = posterior.predictive(name)
            rows.append({
                "group": group, "description": holdout.description, "target": name, "label": target.outcome.label,
                "code": target.code, "published": target.value, "predicted": median, "low": low, "high": high,
                "error": median - target.value, "tolerance": target.tolerance,
                "within": abs(median - target.value) <= target.tolerance,
                "covered": low - target.tolerance <= target.value <= high + target.tolerance,
                "final_threshold": posterior.epsilons[-1],
            })
    return rows
