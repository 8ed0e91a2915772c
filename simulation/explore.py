"""The what-if explorer's logic: lever controls read from the scenario schema, the changed scenario, runs that a
newer change cancels, and what the page shows. The web page itself is :mod:`simulation.explore_app`.

Everything here works without the ``explore`` extra, so it is tested on its own:

* :func:`lever_controls` walks the ``levers`` section of the schema and the starting scenario and returns one
  :class:`Control` per number an analyst can change, with its unit, range and meaning taken from the schema's own
  declarations, so a lever added to the schema appears in the explorer without new code;
* :func:`changed_scenario` turns changed values and a start month into the scenario file an analyst would write
  (``extends:`` the starting file, only the changed levers, each as a ``{from: YYYY-MM, value}`` step) and validates
  it by merging it over the starting scenario with the same rule ``extends:`` follows;
* :class:`Explorer` runs the baseline and the changed scenario in a worker process, so the page stays responsive;
  the worker hands each replicate (:func:`simulation.runner.run_replicate`) and each figure to a pool of helper
  processes, one per core, and a newer request cancels a running one between two model steps.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import io
import json
import math
import multiprocessing
import os
import queue
import re
import threading
import time
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .inputs.fields import as_schedule as _as_schedule
from .inputs.fields import unwrap as _unwrap
from .scenario import Levers, Scenario, load_scenario, merge, scenario_from_dict, value_at

__all__ = [
    "DEFAULT_REPLICATES",
    "DEFAULT_RESEARCHERS",
    "Change",
    "Control",
    "Explorer",
    "Request",
    "changed_scenario",
    "lever_controls",
    "scenario_yaml",
    "save_scenario",
]

DEFAULT_REPLICATES = 5
DEFAULT_RESEARCHERS = 10_000
RESEARCHER_CHOICES = (2_000, 5_000, 10_000, 20_000, 50_000)
DEFAULT_CHANGE_MONTH = dt.date(2025, 1, 1)  # the scenario library changes its levers from 2025 on
OTHER_GROUP = "Other levers"

# How an analyst thinks of the levers. A lever the schema gains and this table does not name yet is shown under
# OTHER_GROUP, so it is never missing from the page.
GROUPS: dict[str, tuple[str, ...]] = {
    "Immigration": ("visa_odds", "talent_visa_odds", "permanent_residence_years", "climate"),
    "Money": ("signing_bonus", "return_programme", "state_funding_usd_m_per_year", "research_funding_index",
              "investment_index"),
    "Restrictions": ("exit_restriction",),
    "Compute": ("compute_access",),
    "Pipeline": ("pipeline",),
}

# Units read from the schema's key names (the project names keys by unit: pay_usd, rate_per_year, ...).
UNIT_SUFFIXES = (
    ("_usd_m_per_year", "USD million per year"),
    ("_usd", "USD"),
    ("_per_year", "per year"),
    ("_years", "years"),
    ("_quantile", "quality quantile, 0-1"),
    ("_odds", "probability, 0-1"),
    ("_index", "index, 1 = as at the start"),
)


# --------------------------------------------------------------------------------------------------------------
# Controls from the schema


@dataclass(frozen=True)
class Control:
    """One number of the levers an analyst can change.

    ``path`` is the key path under ``levers`` to a schedule (``("visa_odds", "US", "China")``); ``part`` names a
    key inside each step's value when the value is a section or a mapping (``"bonus_usd"`` of a signing-bonus
    policy, ``"China"`` of a graduate origin mix), else None.
    """

    path: tuple[str, ...]
    part: str | None
    group: str
    lever: str
    lever_title: str
    lever_description: str
    label: str
    description: str
    unit: str
    minimum: float | None
    maximum: float | None
    low: float
    high: float
    step: float
    integer: bool
    reference: float
    listed: bool
    mix: bool = False  # a share of a mapping that sums to 1: the other shares are rescaled
    later: tuple[tuple[str, float], ...] = ()  # the starting scenario's steps after the change month (replaced)

    @property
    def key(self) -> str:
        """Return the key path as written in a scenario file, e.g. ``levers.signing_bonus.openai.bonus_usd``."""
        return ".".join(("levers", *self.path, *([self.part] if self.part else [])))

    @property
    def range_text(self) -> str:
        """Return the allowed range in words."""
        def num(x: float) -> str:
            return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"
        if self.minimum is not None and self.maximum is not None:
            return f"{num(self.minimum)} to {num(self.maximum)}"
        if self.minimum is not None:
            return f"{num(self.minimum)} or more"
        if self.maximum is not None:
            return f"at most {num(self.maximum)}"
        return "any number"

    def check(self, value: float) -> str | None:
        """Return what is wrong with ``value`` for this control, or None."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return "must be a number"
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            return f"must be {self.range_text}"
        if self.integer and not float(value).is_integer():
            return "must be a whole number"
        return None


def _first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    match = re.search(r"(?<![A-Z])\.(\s|$)", text)
    return (text[: match.start() + 1] if match else text).strip()


def _title(name: str) -> str:
    """Return a key name as a label, without the unit its suffix names (the unit is shown beside it)."""
    for suffix, _ in UNIT_SUFFIXES[:-3]:
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name = name[: -len(suffix)]
            break
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _unit(names: Sequence[str], minimum: float | None, maximum: float | None, description: str) -> str:
    """Return the unit of a number from the key names that lead to it (innermost first), its range and meaning."""
    for name in names:
        for suffix, unit in UNIT_SUFFIXES:
            if name.endswith(suffix):
                return unit
        if "_years_" in name:
            return "years"
    text = description.lower()
    if text.startswith("multiplier"):
        return "multiplier, 1 = unchanged"
    if "utility" in text:
        return "utility units"
    if "ln(quality)" in text or "of ln" in text:
        return "log points of quality"
    if minimum == 0 and maximum == 1:
        return "share, 0-1"
    return ""


def _bounds(meta: list[Any]) -> tuple[float | None, float | None]:
    import annotated_types

    low = high = None
    for m in meta:
        if isinstance(m, annotated_types.Ge):
            low = float(m.ge)
        elif isinstance(m, annotated_types.Gt):
            low = float(m.gt)
        elif isinstance(m, annotated_types.Le):
            high = float(m.le)
        elif isinstance(m, annotated_types.Lt):
            high = float(m.lt)
    return low, high


def _nice_ceiling(x: float) -> float:
    if x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= x - 1e-12:
            return m * power
    return 10 * power


def _slider(minimum: float | None, maximum: float | None, values: Sequence[float], integer: bool) -> tuple[float, float, float]:
    """Return (low, high, step) of a slider covering the allowed range, or a generous span around ``values``."""
    low = minimum if minimum is not None else min(0.0, *(3 * v for v in values)) if values else 0.0
    top = max([abs(v) for v in values] + [0.0])
    if maximum is not None and minimum is not None and (top == 0 or maximum - minimum <= 100 * top):
        high = maximum  # a range as narrow as the values (a probability, a shift of -2 to 2): all of it
    else:  # a wide or open range: a span around the values (the exact input takes any allowed value)
        high = _nice_ceiling(3 * top) if top > 0 else 1.0
        if maximum is not None:
            high = min(high, maximum)
    span = high - low
    step = 1.0 if integer and span >= 100 else (10 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01)
    if integer:
        step = max(1.0, step)
    return low, high, step


def _is_schedule(tp: Any, meta: Sequence[Any] = ()) -> tuple[Any, list[Any]] | None:
    """Return the value type and its constraints of a lever schedule (``Scheduled(T)``, possibly optional), or
    None. Pydantic moves the schedule marker of a section's own field into the field's ``metadata``."""
    extra = list(meta)
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp, *more = typing.get_args(tp)
            extra += more
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return None
            tp = args[0]
        else:
            break
    if not any(getattr(m, "func", None) is _as_schedule for m in extra) or typing.get_origin(tp) is not list:
        return None
    value = typing.get_args(tp)[0].model_fields["value"]
    return value.annotation, list(value.metadata)


def _takes_unlisted(tp: Any) -> bool:
    """Return whether a mapping whose values are ``tp`` can gain keys the scenario does not list: values that are
    schedules of plain numbers, or mappings of them (a whole section, such as a bonus policy, cannot be made up)."""
    scheduled = _is_schedule(tp)
    if scheduled is not None:
        base = _unwrap(scheduled[0])[0]
        return base in (int, float)
    base = _unwrap(tp)[0]
    return typing.get_origin(base) is dict and _takes_unlisted(typing.get_args(base)[1])


def _model_class(tp: Any) -> type[BaseModel] | None:
    base, _ = _unwrap(tp)
    return base if isinstance(base, type) and issubclass(base, BaseModel) else None


def _unlisted_value(description: str, siblings: Mapping[str, Any], minimum: float | None, month: dt.date) -> float:
    """Return the value a lever has where the scenario does not list it: its mapping's 'default', the
    "Unlisted: X" of the schema's description, else 0 (or the lowest allowed value)."""
    if "default" in siblings:
        value = value_at(siblings["default"], month)
        if isinstance(value, (int, float)):
            return float(value)
    found = re.search(r"Unlisted:\s*(-?[0-9.]+)", description)
    if found:
        return float(found.group(1).rstrip("."))
    return 0.0 if minimum is None or minimum <= 0 else minimum


def lever_controls(scenario: Scenario, month: dt.date, *, unlisted: bool = True) -> list[Control]:
    """Return a control for every number of the scenario's levers, valued as in force at ``month``.

    The walk follows the schema of ``levers``: sections give their fields, mappings their keys (regions, employers,
    origins or 'default', as the scenario has them; with ``unlisted``, also the region or employer keys the scenario
    does not list, at the value the model uses for them), schedules their value at ``month``; a schedule whose value
    is a section (a signing-bonus policy) or a mapping (an origin mix) gives one control per number in it.
    """
    regions = {k: r.name for k, r in scenario.regions.items()}
    employers = {k: e.name for k, e in scenario.employers.items()}
    controls: list[Control] = []

    def group_of(lever: str) -> str:
        return next((g for g, levers in GROUPS.items() if lever in levers), OTHER_GROUP)

    def key_name(key: str) -> str:
        return regions.get(key) or employers.get(key) or ("every other origin" if key == "default" else key)

    def walk(tp: Any, meta: list[Any], node: Any, path: tuple[str, ...], names: tuple[str, ...], description: str,
             lever: dict[str, str], labels: tuple[str, ...], siblings: Mapping[str, Any]) -> None:
        scheduled = _is_schedule(tp, meta)
        if scheduled is not None:
            value_tp, value_meta = scheduled
            leaf(value_tp, value_meta, node, path, names, description, lever, labels, siblings)
            return
        model = _model_class(tp)
        if model is not None:
            for name, f in model.model_fields.items():
                child = getattr(node, name) if node is not None else None
                label = () if name in ("region", "employer") else (_title(name),)  # the key names the place
                walk(f.annotation, list(f.metadata), child, (*path, name), (name, *names),
                     f.description or _first_sentence(model.__doc__), lever, (*labels, *label), {})
            return
        base, _ = _unwrap(tp)
        if typing.get_origin(base) is dict:
            value_tp = typing.get_args(base)[1]
            present = dict(node or {})
            keys = list(present)
            if unlisted and _takes_unlisted(value_tp):
                by_employer = names[0] == "employer" or "by employer" in description.lower()
                candidates = list(employers) if by_employer else list(regions)
                if "'default'" in description and len(path) > 1:
                    candidates = ["default", *candidates]
                keys += [k for k in candidates if k not in present]
            for key in keys:
                walk(value_tp, [], present.get(key), (*path, key), names, description, lever,
                     (*labels, key_name(key)), present)

    def leaf(value_tp: Any, value_meta: list[Any], schedule: Any, path, names, description, lever, labels, siblings):
        listed = schedule is not None
        later_steps = [s for s in schedule or [] if s.start is not None and month < s.start < scenario.run.end]
        current = value_at(schedule, month) if listed else None
        if listed and current is None:  # the schedule starts after ``month``: show its first value
            current = schedule[0].value
        model = _model_class(value_tp)
        base, inner_meta = _unwrap(value_tp)
        if model is not None:
            if current is None:
                return  # a whole section cannot be made up; it has to exist in the scenario
            for name, f in model.model_fields.items():
                number = getattr(current, name)
                ftype, fmeta = _unwrap(f.annotation)
                if ftype not in (int, float) or isinstance(number, bool) or number is None:
                    continue
                add(path, name, ftype, [*f.metadata, *fmeta], float(number), True, f.description or "",
                    (name, *names), lever, (*labels, _title(name)), mix=False,
                    later=[(s.start, getattr(s.value, name)) for s in later_steps])
            return
        if typing.get_origin(base) is dict:
            if not isinstance(current, Mapping):
                return
            item_tp, item_meta = _unwrap(typing.get_args(base)[1])
            mix = bool(re.search(r"sums? to 1", description))
            for key, number in current.items():
                add(path, key, item_tp, item_meta, float(number), True, description, names, lever,
                    (*labels, key_name(key)), mix=mix, later=[(s.start, s.value.get(key)) for s in later_steps])
            return
        if base not in (int, float):
            return
        meta = [*value_meta, *inner_meta]
        minimum, _ = _bounds(meta)
        value = float(current) if listed else _unlisted_value(description, siblings, minimum, month)
        add(path, None, base, meta, value, listed, description, names, lever, labels, mix=False,
            later=[(s.start, s.value) for s in later_steps])

    def add(path, part, tp, meta, value, listed, description, names, lever, labels, mix, later=()):
        minimum, maximum = _bounds(meta)
        if mix:
            maximum = 1.0 if maximum is None else min(maximum, 1.0)
        meaning = _first_sentence(description)
        controls.append(Control(
            path=tuple(path), part=part, group=lever["group"], lever=lever["name"], lever_title=lever["title"],
            lever_description=lever["description"], label=" · ".join(labels) or lever["title"],
            description=meaning, unit=_unit(names, minimum, maximum, meaning), minimum=minimum, maximum=maximum,
            low=0.0, high=1.0, step=0.01, integer=tp is int, reference=value, listed=listed, mix=mix,
            later=tuple((f"{when:%Y-%m}", float(v)) for when, v in later if isinstance(v, (int, float))),
        ))

    for name, f in Levers.model_fields.items():
        model = _model_class(f.annotation)
        described = f.description or (_first_sentence(model.__doc__) if model else "")
        lever = {"name": name, "group": group_of(name), "title": _title(name), "description": _first_sentence(described)}
        walk(f.annotation, list(f.metadata), getattr(scenario.levers, name), (name,), (name,), described, lever, (), {})
    # One slider span for the numbers of one kind (every employer's bonus, every region's funding), wide enough
    # for the largest of them, so equal positions mean equal values.
    kinds: dict[tuple[str, str | None, int], list[float]] = {}
    kind_of = {}
    for c in controls:
        kind = (c.lever, c.part if c.part in _field_names(c) else None, len(c.path))
        kind_of[id(c)] = kind
        kinds.setdefault(kind, []).append(c.reference)
    spanned = []
    for c in controls:
        low, high, step = _slider(c.minimum, c.maximum, kinds[kind_of[id(c)]], c.integer)
        spanned.append(dataclasses.replace(c, low=low, high=high, step=step))
    order = [*GROUPS, OTHER_GROUP]
    return sorted(spanned, key=lambda c: order.index(c.group))  # stable: schema order within a group


def _field_names(control: Control) -> set[str]:
    """Return the part names that are fields of a section (not keys of a mapping such as an origin mix)."""
    return set() if control.mix else {control.part} if control.part else set()


# --------------------------------------------------------------------------------------------------------------
# The changed scenario


Change = dict[tuple[tuple[str, ...], str | None], float]
"""Changed values by (schedule path under ``levers``, part): what an analyst moved away from the reference."""


@dataclass(frozen=True)
class Built:
    """A changed scenario: the file an analyst would write and the validated scenario it gives."""

    child: dict[str, Any]
    scenario: Scenario


def _month_text(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return dict(value) if isinstance(value, Mapping) else value


def _levers_of(scenario: Scenario, controls: Sequence[Control], changes: Change, month: dt.date) -> dict[str, Any]:
    """Return the ``levers`` section a scenario file needs to make ``changes`` from ``month`` on."""
    by_schedule: dict[tuple[str, ...], dict[str | None, float]] = {}
    for (path, part), value in changes.items():
        by_schedule.setdefault(tuple(path), {})[part] = value
    known = {(c.path, c.part): c for c in controls}
    levers: dict[str, Any] = {}
    for path, parts in by_schedule.items():
        node: Any = scenario.levers
        for key in path:
            node = getattr(node, key) if isinstance(node, BaseModel) else (node or {}).get(key)
        if None in parts:
            value: Any = parts[None]
        else:
            current = value_at(node, month) if node is not None else None
            if current is None and node:
                current = node[0].value
            value = _plain(current)
            if not isinstance(value, dict):
                raise ValueError(f"levers.{'.'.join(path)}: nothing to change in the starting scenario")
            mix = [known.get((path, p)) for p in parts]
            if any(c is not None and c.mix for c in mix):
                value = _rescaled_mix(value, parts, "levers." + ".".join(path))
            else:
                value.update(parts)
        target = levers
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = [{"from": _month_text(month), "value": value}]
    return levers


def _rescaled_mix(shares: dict[str, float], changed: Mapping[str, float], where: str) -> dict[str, float]:
    """Return ``shares`` with ``changed`` set and the other shares rescaled so that all still sum to 1."""
    fixed = sum(changed.values())
    if fixed > 1 + 1e-9:
        raise ValueError(f"{where}: the changed shares add up to {fixed:.3g}; together they can be at most 1")
    rest = {k: v for k, v in shares.items() if k not in changed}
    total = sum(rest.values())
    out = dict(shares)
    out.update(changed)
    for key, value in rest.items():
        out[key] = round(value / total * (1 - fixed), 6) if total > 0 else round((1 - fixed) / len(rest), 6)
    if not rest and not math.isclose(fixed, 1.0, abs_tol=1e-6):
        raise ValueError(f"{where}: every share was changed and they add up to {fixed:.3g}, not 1")
    return out


def changed_scenario(
    start: Scenario, controls: Sequence[Control], changes: Change, month: dt.date, *, name: str | None = None,
    description: str | None = None, extends: str = "baseline.yaml",
) -> Built:
    """Return the scenario file that makes ``changes`` from ``month`` on, and the validated scenario it gives.

    The file ``extends:`` the starting scenario and holds only the changed levers, each as one
    ``{from: YYYY-MM, value}`` step; it is merged over the starting scenario with the same rule ``extends:``
    follows (a schedule keeps the parent's steps before its first month), so loading the saved file gives this
    scenario. Raises :class:`~simulation.scenario.ScenarioError` (or ValueError) when the result is not valid.
    """
    name = name or f"{start.name}_changed"
    if description is None:
        description = describe_changes(controls, changes, month, start.name)
    child: dict[str, Any] = {"extends": extends, "name": name, "description": description}
    levers = _levers_of(start, controls, changes, month)
    if levers:
        child["levers"] = levers
    merged = merge(start.to_dict(), {k: v for k, v in child.items() if k != "extends"})
    return Built(child=child, scenario=scenario_from_dict(merged, source=f"the explorer's change of '{start.name}'"))


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g}"


def describe_changes(controls: Sequence[Control], changes: Change, month: dt.date, start: str) -> str:
    """Return a one-paragraph description of ``changes``: what changed, from what to what, from when."""
    known = {(c.path, c.part): c for c in controls}
    parts = []
    for (path, part), value in changes.items():
        control = known.get((tuple(path), part))
        where = f"{control.lever_title}, {control.label}" if control else ".".join((*path, *([part] if part else [])))
        unit = f" {control.unit}" if control and control.unit and not control.unit.startswith(("share", "prob")) else ""
        was = f" (was {_number(control.reference)})" if control else ""
        parts.append(f"{where}: {_number(value)}{unit}{was}")
    if not parts:
        return f"'{start}' unchanged."
    return f"What if, from {month:%Y-%m}, " + "; ".join(parts) + f"? Changed from '{start}' in talentsim explore."


def scenario_yaml(built: Built, *, command: str | None = None) -> str:
    """Return the text of a scenario file for ``built.child``, with a header saying how it was made and run."""
    lines = ["# Saved from talentsim explore."]
    if command:
        lines.append(f"# Reproduce what the explorer showed: {command}")
    body = yaml.safe_dump(built.child, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def save_scenario(built: Built, path: str | Path, *, command: str | None = None) -> Path:
    """Write ``built`` as a scenario file at ``path`` (atomically) after checking that it loads back as shown.

    Raises ScenarioError if the written file would not load to the same scenario (for example when ``extends:``
    does not point from ``path``'s folder to the starting scenario).
    """
    from .outputs import write_text

    path = Path(path)
    start = built.child.get("extends")
    if start and path.resolve() in extends_chain(path.parent / start):
        raise ValueError(f"{path} is the scenario this one builds on (or one it extends); choose another name")
    text = scenario_yaml(built, command=command)
    data = yaml.safe_load(text)
    tmp = path.with_name(f".{path.name}.check.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_text(tmp, text)
        loaded = load_scenario(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    if loaded != built.scenario:
        raise ValueError(f"{path}: the saved file would not load to the scenario shown (extends: {data['extends']})")
    return write_text(path, text)


def extends_chain(path: str | Path) -> list[Path]:
    """Return ``path`` and every file it ``extends:``, directly or not (resolved paths)."""
    chain: list[Path] = []
    current: Path | None = Path(path).resolve()
    while current is not None and current not in chain and current.is_file():
        chain.append(current)
        data = yaml.safe_load(current.read_text(encoding="utf-8")) or {}
        parent = data.get("extends") if isinstance(data, dict) else None
        current = (current.parent / parent).resolve() if isinstance(parent, str) else None
    return chain


def extends_path(start_file: str | Path, target: str | Path) -> str:
    """Return the ``extends:`` of a file saved at ``target`` that builds on ``start_file``."""
    return os.path.relpath(Path(start_file).resolve(), Path(target).resolve().parent)


# --------------------------------------------------------------------------------------------------------------
# Runs in a worker process


@dataclass(frozen=True)
class Request:
    """What the page asks for: the changed scenario (as data) at a run size, compared with the baseline."""

    baseline: dict[str, Any]
    changed: dict[str, Any] | None
    seed: int
    replicates: int
    researchers: int
    tier: str = "top_tier"
    years: tuple[float, ...] | None = None  # of the headline table; default 2030, or the last year of the run


class Cancelled(Exception):
    """A run was superseded by a newer request."""


def _png(fig, dpi: int = 110) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_compare_retention(results, *, tier: str = "top_tier", interval: float = 0.9, caption: bool = True):
    """Return the home retention of each origin's ``tier`` researchers under each scenario (line style) over the
    baseline's (the first, solid), one panel per origin, bands the central ``interval`` of replicates."""
    import matplotlib.pyplot as plt

    from .style import RC

    with plt.rc_context(RC):
        return _draw_retention(results, tier, interval, caption)


def _draw_retention(results, tier: str, interval: float, caption: bool):
    from matplotlib.lines import Line2D

    from .compare import scenario_labels
    from .compare_plots import _curve_band, _region_axes
    from .results import retention_curve
    from .style import NEUTRAL, add_caption, add_title, figure_legend, percent_axis, region_colours, scenario_linestyles

    labels = scenario_labels(results)
    origins = results[0].scenario.region_ids
    names = {k: r.name for k, r in results[0].scenario.regions.items()}
    colours = region_colours(origins)
    styles = scenario_linestyles(labels)
    fig, axes = _region_axes(origins)
    for label, result in zip(labels, results):
        band = _curve_band(retention_curve(result.retention, tier).dropna(subset=["retention"]),
                           ["origin", "year"], "retention", interval)
        for ax, origin in zip(axes.flat, origins):
            rows = band[band.origin == origin]
            ax.plot(rows.year, rows["median"], color=colours[origin], ls=styles[label], lw=1.7,
                    gid=f"retention:{label}:{origin}")
            if (rows["high"] > rows["low"]).any():
                ax.fill_between(rows.year, rows["low"], rows["high"], color=colours[origin],
                                alpha=0.16 if label == labels[0] else 0.10, lw=0, gid=f"band:{label}:{origin}")
            ax.set_title(f"{names[origin]}-origin", loc="left", color=colours[origin] if origin != "RoW" else NEUTRAL)
    for ax in axes.flat:
        percent_axis(ax.yaxis)
        ax.set_ylim(0, 1)
    tier_label = {"top_tier": "top-tier", "elite": "elite", "all": "all"}.get(tier, tier)
    fig.supylabel(f"Share of {tier_label} researchers\nworking in their origin region (%)", fontsize=9)
    add_title(fig, f"Home retention of {tier_label} researchers: {' vs '.join(labels)}")
    handles = [Line2D([], [], color=NEUTRAL, ls=styles[label], lw=1.7) for label in labels]
    figure_legend(fig, handles, [label if i else f"{label} (baseline)" for i, label in enumerate(labels)])
    reps = max(r.stocks["replicate"].nunique() for r in results)
    add_caption(fig, f"Share of each origin's {tier_label} researchers working in their origin region. "
                + (f"Lines: medians of {reps} replicates; bands: central {interval:.0%} of replicates." if reps > 1
                   else "One replicate: no band."), draw=caption)
    return fig


FIGURES = ("migration", "difference", "retention")


def _figure(kind: str, results, tier: str):
    from .compare_plots import plot_compare_curves, plot_compare_difference

    if kind == "migration":
        return plot_compare_curves(results, tier=tier, caption=False)
    if kind == "difference":
        return plot_compare_difference(results, tier=tier, caption=False)
    return plot_compare_retention(results, tier=tier, caption=False)


def answer(base, changed, request: Request, render: Callable | None = None) -> dict[str, Any]:
    """Return what the page shows for a baseline run and a changed run (or None): figures as PNG (base64) with
    their captions, and the headline comparison table with intervals and paired differences.

    ``render(kind, results, tier) -> (png, caption)`` draws one figure (default: here); the worker passes one
    that draws the figures in parallel.
    """
    from .compare import compare_table

    results = [base] if changed is None else [base, changed]
    kinds = [k for k in FIGURES if changed is not None or k != "difference"]
    render = render or _render_here
    pending = {kind: render(kind, results, request.tier) for kind in kinds}
    table = compare_table(results, at=list(request.years) if request.years else None)
    drawn = {kind: (value.result() if hasattr(value, "result") else value) for kind, value in pending.items()}
    return {"figures": {k: png for k, (png, _) in drawn.items()},
            "captions": {k: caption for k, (_, caption) in drawn.items()},
            "table": table.to_dict("records"), "scenarios": [r.scenario.name for r in results]}


def _render_here(kind: str, results, tier: str) -> tuple[str, str]:
    from .style import caption_of

    fig = _figure(kind, results, tier)
    caption = caption_of(fig)
    return _png(fig), caption


# The worker process runs no model itself: it hands each replicate, and each figure, to a pool of helper
# processes (one per core) and assembles the answer. A run a newer request supersedes stops in every helper
# at its next model step: each step checks the number of the latest request, shared by all processes.

_SHARED: dict[str, Any] = {}


def _helper_start(latest, steps_done) -> None:  # pragma: no cover - runs in the helper processes
    _SHARED.update(latest=latest, steps_done=steps_done)
    _exit_with_parent()
    from . import compare, compare_plots, runner  # noqa: F401 - warm: the first request should not pay for the imports


def _exit_with_parent() -> None:
    """Leave as soon as the process that started this one is gone, however it ended (killed, terminated), so no
    helper or worker outlives the server."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="talentsim-exit-with-parent").start()


@functools.lru_cache(maxsize=8)
def _scenario(text: str) -> Scenario:
    return scenario_from_dict(json.loads(text), source="the explorer")


def _replicate_task(job: int, scenario_text: str, replicate: int, seed: int):  # pragma: no cover - in helpers
    from .runner import run_replicate

    latest, steps_done = _SHARED["latest"], _SHARED["steps_done"]

    def step_done() -> None:
        with steps_done.get_lock():
            steps_done.value += 1
        if latest.value != job:
            raise Cancelled

    if latest.value != job:
        raise Cancelled
    return run_replicate(_scenario(scenario_text), replicate, seed, step_done)


def _figure_task(kind: str, runs: list[tuple[str, dict, dict]], tier: str) -> tuple[str, str]:  # pragma: no cover
    from .results import RunResult

    results = [RunResult(scenario=_scenario(text), manifest=manifest, **tables) for text, manifest, tables in runs]
    return _render_here(kind, results, tier)


def _portable(result) -> tuple[str, dict, dict]:
    """Return a run as plain data a helper process can rebuild it from (scenario as JSON text)."""
    return json.dumps(result.scenario.to_dict()), result.manifest, result.tables


def _worker(jobs, replies, latest, helpers: int) -> None:  # pragma: no cover - runs in the worker process
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor
    from concurrent.futures import wait as wait_for

    from .runner import assemble, replicate_seeds

    _exit_with_parent()
    context = multiprocessing.get_context("spawn")
    steps_done = context.Value("q", 0)
    pool = ProcessPoolExecutor(max_workers=helpers, mp_context=context, initializer=_helper_start,
                               initargs=(latest, steps_done))
    for _ in range(helpers):
        pool.submit(time.sleep, 0)  # start the helpers now
    base_cache: dict[tuple, Any] = {}
    changed_cache: dict[tuple, Any] = {}
    last: dict[str, Any] = {}

    def render(kind, results, tier):
        return pool.submit(_figure_task, kind, [_portable(r) for r in results], tier)

    def run_here(job_id: int, data: dict, request: Request, total: int):
        text = json.dumps(data)
        scenario = _scenario(text).with_run(seed=request.seed, replicates=request.replicates,
                                            researchers=request.researchers)
        text = json.dumps(scenario.to_dict())
        seeds = replicate_seeds(scenario.run.seed, scenario.run.replicates)
        started = time.perf_counter()
        futures = [pool.submit(_replicate_task, job_id, text, i, seed) for i, seed in enumerate(seeds)]
        reported = 0.0
        while True:
            done, pending = wait_for(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
            if time.perf_counter() - reported > 0.25:
                reported = time.perf_counter()
                replies.put((job_id, "progress", min(1.0, steps_done.value / max(total, 1))))
            if latest.value != job_id:
                for future in pending:
                    future.cancel()
                raise Cancelled
            if any(f.exception() is not None for f in done):
                for future in pending:
                    future.cancel()
                raise next(f.exception() for f in done if f.exception() is not None)
            if not pending:
                break
        return assemble(scenario, seeds, [f.result() for f in futures], time.perf_counter() - started)

    parent = multiprocessing.parent_process()
    try:
        while True:
            try:
                job = jobs.get(timeout=1.0)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return  # the server is gone without saying so
                continue
            if job is None:
                return
            job_id, kind, payload = job
            if kind == "run" and job_id < latest.value:
                continue  # superseded before it started
            try:
                if kind == "report":
                    replies.put((job_id, "report", _report(last, *payload)))
                    continue
                request: Request = payload
                base_key = (json.dumps(request.baseline), request.seed, request.replicates,
                            request.researchers)
                needed = [base_key not in base_cache, request.changed is not None and (
                    json.dumps(request.changed), *base_key[1:]) not in changed_cache]
                steps = scenario_from_dict(request.baseline).run.steps
                total = sum(needed) * request.replicates * steps
                with steps_done.get_lock():
                    steps_done.value = 0
                started = time.perf_counter()
                if needed[0]:
                    base_cache.clear()
                    base_cache[base_key] = run_here(job_id, request.baseline, request, total)
                base = base_cache[base_key]
                changed = None
                if request.changed is not None:
                    changed_key = (json.dumps(request.changed), *base_key[1:])
                    if changed_key not in changed_cache:  # a new tier or table year needs no new run
                        changed_cache.clear()
                        changed_cache[changed_key] = run_here(job_id, request.changed, request, total)
                    changed = changed_cache[changed_key]
                ran = time.perf_counter() - started
                if latest.value != job_id:
                    raise Cancelled
                last.clear()
                last.update(base=base, changed=changed)
                shown = answer(base, changed, request, render)
                total_s = time.perf_counter() - started
                shown["timing"] = {"run_seconds": round(ran, 3), "answer_seconds": round(total_s - ran, 3),
                                   "total_seconds": round(total_s, 3), "runs": sum(needed), "helpers": helpers}
                replies.put((job_id, "done", shown))
            except Cancelled:
                replies.put((job_id, "cancelled", None))
            except Exception as exc:  # noqa: BLE001 - reported on the page, the worker keeps serving
                replies.put((job_id, "error", f"{type(exc).__name__}: {exc}"))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _report(last: dict[str, Any], which: str, label: dict[str, str]) -> str:
    """Return the HTML report of the last run: the changed scenario's own, or its comparison with the baseline."""
    from .report import comparison_report_html, report_html

    if not last:
        raise ValueError("nothing has been run yet")
    base, changed = last["base"], last.get("changed")
    if changed is not None and label:  # the name and description the analyst has given it since
        changed = dataclasses.replace(changed, scenario=changed.scenario.model_copy(update=label))
    if which == "run":
        return report_html(changed or base)
    return comparison_report_html([base, *([changed] if changed is not None else [])])


@dataclass
class Status:
    """What the page knows of the latest request."""

    job: int = 0
    state: str = "idle"  # idle, running, done, error
    progress: float = 0.0
    answer: dict[str, Any] | None = None
    error: str | None = None
    started: float = 0.0
    seconds: float | None = None
    cancelled: int = 0  # superseded runs the worker stopped part-way


class Explorer:
    """Runs requests in one worker process; a newer request cancels the one running (between two model steps).

    ``on_change(status)`` is called from a background thread whenever the status changes.
    """

    def __init__(self, on_change: Callable[[Status], None] | None = None, helpers: int | None = None):
        context = multiprocessing.get_context("spawn")  # never fork a threaded server
        helpers = helpers or max(1, min(os.cpu_count() or 1, 8))
        self._jobs = context.Queue()
        self._replies = context.Queue()
        self._latest = context.Value("q", 0, lock=False)
        self._process = context.Process(target=_worker, args=(self._jobs, self._replies, self._latest, helpers),
                                        name="talentsim-explore-worker")
        self._process.start()
        self.status = Status()
        self.on_change = on_change
        self._lock = threading.Lock()
        self._reports: dict[int, Any] = {}
        self._report_ready = threading.Condition(self._lock)
        self._next = 0
        self._closed = False
        # The worker has helper processes, so it cannot be a daemon; stop it however this process ends.
        self._finalizer = weakref.finalize(self, _stop, self._process, self._jobs, self._latest)
        self._listener = threading.Thread(target=self._listen, daemon=True, name="talentsim-explore-listener")
        self._listener.start()

    def submit(self, request: Request) -> int:
        """Start ``request``, cancelling the one running; return its job number."""
        with self._lock:
            self._next += 1
            job = self._next
            self._latest.value = job
            self.status = Status(job=job, state="running", answer=self.status.answer, started=time.perf_counter(),
                                 cancelled=self.status.cancelled)
            self._jobs.put((job, "run", request))
        self._notify()
        return job

    def report(self, which: str = "run", *, name: str | None = None, description: str | None = None,
               timeout: float = 120) -> str:
        """Return the HTML report of the last finished run: ``which`` is 'run' for the changed scenario's own
        report (the one ``talentsim report`` writes), 'comparison' for its comparison with the baseline; ``name``
        and ``description`` relabel the changed scenario (as saved since the run)."""
        label = {k: v for k, v in (("name", name), ("description", description)) if v}
        with self._lock:
            self._next += 1
            job = self._next
            self._jobs.put((job, "report", (which, label)))
            deadline = time.monotonic() + timeout
            while job not in self._reports:
                left = deadline - time.monotonic()
                if left <= 0 or not self._report_ready.wait(left):
                    raise TimeoutError("the report took too long")
            kind, value = self._reports.pop(job)
        if kind == "error":
            raise RuntimeError(value)
        return value

    def wait(self, job: int, timeout: float = 120) -> Status:
        """Return the status once ``job`` has finished (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status
            if status.job == job and status.state in ("done", "error"):
                return status
            time.sleep(0.01)
        raise TimeoutError(f"run {job} did not finish within {timeout} s")

    def _listen(self) -> None:
        while not self._closed:
            try:
                job, kind, value = self._replies.get(timeout=0.5)
            except Exception:  # noqa: BLE001 - queue.Empty, or the queue closed at shutdown
                if not self._process.is_alive() and not self._closed:
                    with self._lock:
                        self.status = Status(job=self.status.job, state="error", answer=self.status.answer,
                                             error="the worker process stopped; restart talentsim explore")
                    self._notify()
                    return
                continue
            with self._lock:
                if kind == "report" or (kind == "error" and job not in (self.status.job,)):
                    self._reports[job] = (kind, value)
                    self._report_ready.notify_all()
                    continue
                status = self.status
                if kind == "cancelled":
                    status.cancelled += 1  # the worker stopped a superseded run between two model steps
                elif job != status.job:
                    continue  # news of a superseded run
                elif kind == "progress":
                    status.progress = value
                elif kind == "done":
                    status.state, status.answer, status.progress = "done", value, 1.0
                    status.seconds = time.perf_counter() - status.started
                elif kind == "error":
                    status.state, status.error = "error", value
            self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.status)

    def close(self) -> None:
        """Stop the worker process and its helpers."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stop(process, jobs, latest) -> None:
    latest.value = -1  # running replicates stop at their next step
    try:
        jobs.put(None)
    except (OSError, ValueError):
        pass
    process.join(timeout=5)
    if process.is_alive():
        process.terminate()
        process.join(timeout=2)


def change_months(scenario: Scenario) -> list[dt.date]:
    """Return the months a change can start: every step of the run after its first."""
    months = []
    step = scenario.run.step_months
    for i in range(1, scenario.run.steps):
        total = scenario.run.start.month - 1 + i * step
        months.append(dt.date(scenario.run.start.year + total // 12, total % 12 + 1, 1))
    return months


def default_change_month(scenario: Scenario) -> dt.date:
    """Return the month a change starts by default: January 2025 when inside the run, else its middle."""
    months = change_months(scenario)
    if DEFAULT_CHANGE_MONTH in months:
        return DEFAULT_CHANGE_MONTH
    return months[len(months) // 2]
