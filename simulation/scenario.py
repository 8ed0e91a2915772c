"""Scenario files: the scenario as a whole, and loading it with ``extends:`` inheritance.

A scenario is read by the project's one bounded YAML reader (:mod:`simulation.inputs`), merged with the file it
``extends:``, and validated once into frozen pydantic models. Every problem found is reported together, each
naming the file that wrote the value, the key path, the value and what is allowed; the model then trusts what
it is given.

The schema's parts are declared in :mod:`.scenario_world` (run settings, regions, population, preferences,
search, market, employers) and :mod:`.scenario_levers` (the policy levers); this module holds ``Scenario``, which
joins them, and is where every name of the schema is imported from. The checks that need a well-formed scenario
(names, shares, schedule order) are in :mod:`.scenario_checks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from .inputs import (FieldProblem, InputError, Month, Problem, Step, Strict, check_validation, format_path, merge,
                     read_mapping, read_with_extends, value_at)
from .inputs.reader import Provenance, locate
from .scenario_levers import Levers
from .scenario_world import (Employer, MarketSettings, Population, PreferenceSettings, Region, RunSettings,
                             SearchSettings)

# The schema's parts, importable from here (the redundant aliases mark them as re-exported).
from .scenario_levers import BonusPolicy as BonusPolicy, ExitRestriction as ExitRestriction
from .scenario_levers import Pipeline as Pipeline, ReturnProgramme as ReturnProgramme, StateFunding as StateFunding
from .scenario_world import DEFAULT_KEY as DEFAULT_KEY, MAX_BONUS_USD as MAX_BONUS_USD
from .scenario_world import MAX_PAY_USD as MAX_PAY_USD, MAX_USD_M as MAX_USD_M, MAX_UTILITY as MAX_UTILITY
from .scenario_world import MAX_YEARS as MAX_YEARS
from .scenario_world import SEED_MAX as SEED_MAX, SHARE_TOLERANCE as SHARE_TOLERANCE
from .scenario_world import STATE_BACKED_KINDS as STATE_BACKED_KINDS, Distribution as Distribution
from .scenario_world import ExitSettings as ExitSettings, ImpactWeights as ImpactWeights, Kind as Kind
from .scenario_world import Preferences as Preferences, PreferencesOverride as PreferencesOverride
from .scenario_world import QualityDistribution as QualityDistribution, Strategy as Strategy
from .scenario_world import TailSampling as TailSampling, UsdMillions as UsdMillions

__all__ = [
    "FieldProblem",
    "Month",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Step",
    "load_scenario",
    "merge",
    "scenario_from_dict",
    "value_at",
]


class ScenarioError(InputError):
    """A scenario file that cannot be used; ``problems`` lists every problem found."""

    what = "scenario"


class Scenario(Strict):
    """A complete, validated scenario."""

    name: str = Field(description="Short name, used in file names and figure titles.")
    description: str = Field("", description="Which question the scenario answers.")
    extends: str | None = Field(None, description="Scenario file this one builds on (path relative to this file).")
    run: RunSettings
    regions: dict[str, Region] = Field(description="Regions by id (also the origins).")
    population: Population
    preferences: PreferenceSettings
    search: SearchSettings = Field(default_factory=SearchSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    employers: dict[str, Employer] = Field(description="Employers by id.")
    levers: Levers = Field(default_factory=Levers)

    @property
    def region_ids(self) -> list[str]:
        """Return region ids in declaration order."""
        return list(self.regions)

    @property
    def employer_ids(self) -> list[str]:
        """Return employer ids in declaration order."""
        return list(self.employers)

    def with_run(self, **changes: Any) -> Scenario:
        """Return a copy with run settings changed (validated), e.g. ``with_run(seed=3, researchers=5000)``."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        data = self.model_dump(by_alias=True)
        data["run"].update(changes)
        return scenario_from_dict(data, source=f"run options given for scenario '{self.name}'")

    def with_levers(self, changes: Mapping[str, Any] | None = None, /, **levers: Any) -> Scenario:
        """Return a copy with levers changed, merged and validated exactly as a file that ``extends:`` this one.

        Give levers as keywords in the shape of the file's ``levers:`` section, or as a mapping whose keys may be
        dotted key paths below ``levers``; a schedule whose first step has a ``from`` month keeps this scenario's
        steps before it::

            scenario.with_levers(visa_odds={"US": {"default": [{"from": "2025-04", "value": 0.9}]}})
            scenario.with_levers({"state_funding_usd_m_per_year.region.China": 12000})

        Raises:
            ScenarioError: a lever or value the scenario does not allow, named by its key path under ``levers``.
        """
        layer: dict[str, Any] = {}
        for key, value in [*(changes or {}).items(), *levers.items()]:
            parts = [p for p in str(key).split(".") if p]
            if parts[:1] == ["levers"]:
                parts = parts[1:]
            if not parts:
                raise ScenarioError([Problem(f"levers given for scenario '{self.name}'", str(key),
                                             "name a lever, e.g. visa_odds.US.default")])
            node = layer
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ScenarioError([Problem(f"levers given for scenario '{self.name}'", str(key),
                                                 f"'{part}' is given a value and also keys below it")])
            node[parts[-1]] = merge(node[parts[-1]], value) if parts[-1] in node else value
        if not layer:
            return self
        data = merge(self.to_dict(), {"levers": layer})
        return scenario_from_dict(data, source=f"levers given for scenario '{self.name}'")

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved scenario as plain data (dates as YYYY-MM), loadable by ``scenario_from_dict``."""
        return _months_to_text(self.model_dump(mode="json", by_alias=True))


def _months_to_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _months_to_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_months_to_text(v) for v in node]
    if isinstance(node, str) and len(node) == 10 and node[4] == "-" and node[7] == "-" and node.endswith("-01"):
        try:
            dt.date.fromisoformat(node)
        except ValueError:
            return node
        return node[:7]
    return node


# --------------------------------------------------------------------------------------------------------------
# Loading


SCENARIO_FORM = "name:, run:, regions:, population:, preferences:, employers:"


def _read(path: Path) -> dict[str, Any]:
    return read_mapping(path, ScenarioError, "scenarios live in scenarios/", SCENARIO_FORM)


_read_yaml = _read  # the name other modules know the scenario reader by


def load_scenario(path: str | Path) -> Scenario:
    """Return the validated scenario in ``path``, with what it ``extends:`` merged in.

    Raises:
        ScenarioError: listing every problem, each naming the file, key path, value and what is allowed.
    """
    data, provenance = read_with_extends(Path(path), ScenarioError, _read)
    data.pop("extends", None)  # resolved: the result stands on its own
    return _validate(data, provenance, str(path))


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Return the validated scenario described by ``data`` (no ``extends:`` resolution)."""
    data = dict(data)
    data.pop("extends", None)
    return _validate(data, {(): (source, ())}, source)


def _validate(data: dict[str, Any], provenance: Provenance, fallback_file: str) -> Scenario:
    where = locate(provenance, fallback_file)
    scenario = check_validation(Scenario, data, fallback_file, ScenarioError, where)
    from .scenario_checks import check_references

    problems = []
    for path, message, value, has_value in check_references(scenario):
        file, written = where(_written_path(path, data))
        problems.append(Problem(file, format_path(written), message, value, has_value))
    if problems:
        raise ScenarioError(problems)
    return scenario


def _written_path(path: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Return a validated scenario's key path as written: a plain lever value has no step index in the file."""
    out: list[Any] = []
    node = data
    skip_value = False
    for key in path:
        if skip_value and key == "value":
            skip_value = False
            continue
        if isinstance(key, int) and not isinstance(node, list):
            skip_value = True
            continue
        out.append(key)
        node = node.get(key) if isinstance(node, dict) else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None)
    return tuple(out)
