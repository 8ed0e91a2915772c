"""The design of an experiment: lever arms, uncertainty samples, and each run's seed and id.

All of it is pure: the same experiment file always gives the same arms, the same draws (seeded from the root
seed, on a stream of their own), the same run seeds and ids. Every lever arm of a sample and replicate shares the
seed (common random numbers), so differences between arms are the policy, not noise.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .experiment_schema import DESIGNS, ExperimentFile, canonical

__all__ = ["ID_LENGTH", "SAMPLER_STREAM", "design", "lever_arms", "planned_runs", "run_id", "run_seed",
           "salib_problem", "uncertainty_samples"]

SAMPLER_STREAM = 0x534D504C  # spawn key of the sampler's stream, apart from the run seeds' (sample, replicate) keys
ID_LENGTH = 16  # hex digits of a run id (64 bits)


def run_seed(root: int, sample: int, replicate: int) -> int:
    """Return the seed of a run: from ``root``, the uncertainty sample and the replicate, never the lever arm.

    Every lever arm of a sample and replicate shares the seed (common random numbers); adding samples or
    replicates to an experiment leaves the seeds of existing runs unchanged.
    """
    state = np.random.SeedSequence(root, spawn_key=(sample, replicate)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def run_id(levers: Mapping[str, Any], uncertainties: Mapping[str, Any], seed: int) -> str:
    """Return the stable id of a run: a hash of its parameter values and seed."""
    text = canonical({"levers": dict(levers), "uncertainties": dict(uncertainties), "seed": seed})
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

