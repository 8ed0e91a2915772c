"""Loading an experiment file: reading it, validating it, and checking every lever and uncertainty against the base
scenario before any run starts."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .experiment import (MAX_RUNS, NAME, RESERVED, Experiment, ExperimentError, ExperimentFile, Lever,
                         RenamedMethodWarning, Uncertainty, _month_text, _settings, planned_runs)
from .ensemble import Ensemble, read_ensemble
from .inputs import Problem, check_validation, close_hint, read_mapping
from .keypaths import PathError, _is_schedule, apply_setting
from .scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["experiment_from", "load_experiment"]


EXPERIMENT_FORM = "name:, scenario:, levers:, outcomes:"


def _read(path: Path) -> dict[str, Any]:
    data = read_mapping(path, ExperimentError, "experiments live in experiments/", EXPERIMENT_FORM)
    if "scenario" not in data and any(k in data for k in ("extends", "regions", "employers", "population")):
        raise ExperimentError([Problem(str(path), "", "looks like a scenario, not an experiment; run it with "
                                       "'talentsim run', or write an experiment that names it under scenario:")])
    return data


def _translate(data: dict[str, Any], file: str, path: Path | None = None) -> ExperimentFile:
    """Return the validated content of an experiment file, or raise ExperimentError in the reader's terms.

    A renamed sampling method is accepted with a warning that points at the file and line that names it.
    """
    try:
        with warnings.catch_warnings(record=True) as renamed:
            warnings.simplefilter("always", RenamedMethodWarning)
            definition = check_validation(ExperimentFile, data, file, ExperimentError)
    except ExperimentError as exc:
        problems = []
        for p in exc.problems:
            key = p.path.removeprefix("run.")
            if p.path.startswith("run.") and key in ("seed", "replicates") and p.message.startswith("unknown key"):
                p = Problem(file, p.path, f"the experiment's {key} is set at the top level of the file, not under run:")
            problems.append(p)
        raise ExperimentError(problems, checks_pending=True) from None
    for warning in renamed:  # said again, pointing at the file and line rather than at the validator
        if not issubclass(warning.category, RenamedMethodWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            continue
        lines = path.read_text(encoding="utf-8").splitlines() if path is not None else []
        line = next((i for i, text in enumerate(lines, 1) if re.search(r"\bsobol\b", text, re.IGNORECASE)), 1)
        warnings.warn_explicit(f"sampling.method: {warning.message}", warning.category, file, line)
    return definition


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
    definition = _translate(data, file, path)

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
    definition = _translate(data, PYTHON_SOURCE)
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
                    hint = close_hint(parts[-1], _keys_at(base, parts[:-1]))
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

