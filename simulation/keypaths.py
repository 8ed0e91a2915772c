"""Values at key paths of a scenario's plain data: what levers, uncertainties and calibration parameters change.

A key path (``levers.visa_odds.US.default``) names one value of a scenario; a :class:`Setting` changes it, or
multiplies it, for the whole run or from a month on. Under ``levers`` a change from a month on becomes a step of
the lever's schedule, so the scenario's own steps before that month are kept.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["PathError", "Setting", "apply_setting"]


class PathError(ValueError):
    """A key path that does not lead to a value of the scenario that can be changed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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

