"""What a scenario changes: every lever (and setting) that differs from the scenario it builds on, in plain words.

The list is computed from the two resolved scenarios, never from the description: a schedule inherited through
``extends:`` counts as the parent's, a lever left unlisted takes its neutral value (visa odds 1, no return
programme, ...), and a lever that differs only for part of the run is reported for that part ("from January 2025",
"until December 2026"). Each change reads like
"US visa odds for China-origin researchers: 0.56 → 0.20 from January 2025".
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .scenario import Scenario, load_scenario

__all__ = ["Change", "change_lines", "changes_between", "describe_changes", "extended_scenario", "run_changes_record"]

DEFAULT_KEY = "default"  # a visa-odds or climate row's value for origins not listed
SKIPPED = ("name", "description", "extends")  # words about a scenario, not settings of it
RUN_OPTIONS = ("seed", "researchers", "replicates")  # how a scenario is run (command-line options), not what it is


@dataclass(frozen=True)
class Change:
    """One difference between a scenario and its reference, over one span of months."""

    path: str  # key path in the scenario, e.g. levers.visa_odds.US.China
    label: str  # plain words, e.g. "US visa odds for China-origin researchers"
    old: str  # the reference's value, formatted with its unit
    new: str  # this scenario's value, formatted with its unit
    start: str | None  # first month (YYYY-MM) the values differ; None: from the start of the run
    end: str | None  # first month (YYYY-MM) they agree again; None: to the end of the run
    lever: bool  # a policy lever (True) or another setting (False)

    @property
    def text(self) -> str:
        """Return the change as one line of plain words."""
        when = ""
        if self.start is not None:
            when = f" from {_month_words(self.start)}"
        if self.end is not None:
            when += f" until {_month_words(_previous_month(self.end))}"
        if self.start is None and self.end is None:
            when = " throughout"
        return f"{self.label}: {self.old} → {self.new}{when}"

    def to_dict(self) -> dict[str, Any]:
        """Return the change as plain data (for manifests and notes), with its text."""
        return {**asdict(self), "text": self.text}


# --------------------------------------------------------------------------------------------------------------
# Months


def _month(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = str(value)
    return dt.date(int(text[:4]), int(text[5:7]), 1)


def _month_text(month: dt.date | None) -> str | None:
    return None if month is None else f"{month:%Y-%m}"


def _month_words(text: str) -> str:
    month = _month(text)
    return f"{month:%B %Y}"


def _previous_month(text: str) -> str:
    month = _month(text)
    year, number = (month.year, month.month - 1) if month.month > 1 else (month.year - 1, 12)
    return f"{year:04d}-{number:02d}"


# --------------------------------------------------------------------------------------------------------------
# Values in words, with units


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _usd_m(value: float) -> str:
    return f"${value:,.0f}M a year"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%" if abs(value * 100 - round(value * 100)) < 1e-9 else f"{value * 100:.1f}%"


def _signed_percent(value: float) -> str:
    return f"{value * 100:+.1f}% a year"


def _years(value: Any) -> str:
    return "never" if value is None else f"{value:g} years"


def _ratio(value: float) -> str:
    return f"×{value:.2f}"


def _probability(value: float) -> str:
    return f"{value:.2f}"


def _plain(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


_FIELD_FORMATS: dict[str, tuple[str, Callable[[Any], str]]] = {
    # fields of return programmes and signing-bonus policies
    "bonus_usd": ("bonus", _usd),
    "slots_per_year": ("packages a year", lambda v: f"{v:,.0f}"),
    "max_career_age_years": ("eligible up to career age", _years),
    "min_years_abroad": ("eligible after years abroad", _years),
    "budget_usd_m_per_year": ("budget", _usd_m),
    "max_usd": ("largest bonus", _usd),
    "target_quantile": ("targets quality above quantile", lambda v: f"{v:.3g}"),
    "quality_elasticity": ("bonus elasticity to quality", lambda v: f"{v:g}"),
}


def _record(value: Any) -> str:
    """Return a return programme or bonus policy (a mapping) in words; 'none' if there is none."""
    if value is None:
        return "none"
    parts = []
    for key, item in value.items():
        words, fmt = _FIELD_FORMATS.get(key, (key.replace("_", " "), _plain))
        parts.append(f"{words} {fmt(item)}")
    return "; ".join(parts)


def _shares(value: Any) -> str:
    if value is None:
        return "the initial origin shares"
    return ", ".join(f"{k} {_percent(v)}" for k, v in value.items())


# --------------------------------------------------------------------------------------------------------------
# The levers in words


@dataclass(frozen=True)
class _LeverWords:
    """How one kind of lever reads: its label from the keys below it, its neutral value, its value format."""

    label: Callable[[list[str], Callable[[str], str], Callable[[str], str]], str]
    neutral: Any
    fmt: Callable[[Any], str]
    fallback_to_default: bool = False  # rows keyed by origin fall back to their 'default' entry


def _origin_words(origin: str, region: Callable[[str], str]) -> str:
    return "researchers of all other origins" if origin == DEFAULT_KEY else f"{region(origin)}-origin researchers"


LEVER_WORDS: dict[str, _LeverWords] = {
    "visa_odds": _LeverWords(
        lambda k, r, e: f"{r(k[0])} visa odds for {_origin_words(k[1], r)}", 1.0, _probability, True),
    "climate": _LeverWords(
        lambda k, r, e: f"Hostile climate in {r(k[0])} for {_origin_words(k[1], r)} (utility cost)", 0.0,
        lambda v: f"{v:g}", True),
    "permanent_residence_years": _LeverWords(
        lambda k, r, e: f"Years to permanent residence in {r(k[0])}", None, _years),
    "exit_restriction.region": _LeverWords(
        lambda k, r, e: f"Share of researchers in {r(k[0])} barred from leaving", 0.0, _percent),
    "exit_restriction.employer": _LeverWords(
        lambda k, r, e: f"Share of {e(k[0])} staff barred from leaving", 0.0, _percent),
    "state_funding_usd_m_per_year.region": _LeverWords(
        lambda k, r, e: f"State funding in {r(k[0])}", 0.0, _usd_m),
    "state_funding_usd_m_per_year.employer": _LeverWords(
        lambda k, r, e: f"State funding of {e(k[0])}", 0.0, _usd_m),
    "return_programme": _LeverWords(
        lambda k, r, e: f"{r(k[0])} return programme" + (f" '{k[1]}'" if len(k) > 1 else ""), None, _record),
    "signing_bonus": _LeverWords(
        lambda k, r, e: f"Signing bonuses of {e(k[0])}" + (f" ('{k[1]}')" if len(k) > 1 else ""), None, _record),
    "talent_visa_odds": _LeverWords(
        lambda k, r, e: f"{r(k[0])} talent-visa odds (targeted offers) for {_origin_words(k[1], r)}", 1.0,
        _probability, True),
    "research_funding_index": _LeverWords(
        lambda k, r, e: f"Public research funding in {r(k[0])} (index, start = 1)", 1.0, _ratio),
    "compute_access": _LeverWords(
        lambda k, r, e: f"Compute access in {r(k[0])} (multiplier on compute per researcher)", 1.0, _ratio),
    "investment_index": _LeverWords(
        lambda k, r, e: f"Private AI investment in {r(k[0])} (index, 2019 = 1)", 1.0, _ratio),
    "pipeline.entry_rate_per_year": _LeverWords(
        lambda k, r, e: "New PhD graduates entering research a year (share of researchers)", 0.0, _percent),
    "pipeline.origin_mix": _LeverWords(lambda k, r, e: "Origin mix of new PhD graduates", None, _shares),
    "pipeline.quality_shift": _LeverWords(
        lambda k, r, e: f"Quality of new graduates trained in {r(k[0])} (shift of ln quality)", 0.0,
        lambda v: f"{v:+.2f}"),
}


def _words_for(path: tuple[str, ...]) -> tuple[_LeverWords, list[str]]:
    """Return how the lever at ``path`` (below ``levers``) reads, and the keys below its kind."""
    for cut in (2, 1):
        kind = ".".join(path[:cut])
        if kind in LEVER_WORDS:
            return LEVER_WORDS[kind], list(path[cut:])
    # A lever this module has no words for yet: its key path, its values as written.
    return _LeverWords(lambda k, r, e, p=path: "Lever " + ".".join(p), None, _plain), []


# --------------------------------------------------------------------------------------------------------------
# Schedules


def _is_schedule(node: Any) -> bool:
    return (isinstance(node, list) and len(node) > 0
            and all(isinstance(s, dict) and set(s) == {"from", "value"} for s in node))


def _leaves(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (key path, schedule or plain value) for every lever below ``node``."""
    if _is_schedule(node):
        yield path, node
    elif isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif not isinstance(node, dict):
        yield path, node


def _lookup(levers: dict, path: tuple[str, ...]) -> Any:
    node: Any = levers
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


_MISSING = object()


def _schedule_of(levers: dict, path: tuple[str, ...]) -> list[tuple[dt.date | None, Any]] | None:
    """Return the lever at ``path`` as (month or None, value) steps; None if the scenario does not list it."""
    node = _lookup(levers, path)
    if node is _MISSING:
        return None
    if _is_schedule(node):
        return [(_month(step["from"]), step["value"]) for step in node]
    return [(None, node)]


def _value_at(levers: dict, path: tuple[str, ...], words: _LeverWords, month: dt.date | None) -> Any:
    """Return the lever's value in force at ``month`` (None: the start of the run), as the model reads it.

    Before its first step, or when unlisted, a lever takes its neutral value; a row keyed by origin (visa odds,
    climate) takes its destination's 'default' row instead, as the model does.
    """
    fallback = words.neutral
    if words.fallback_to_default and path[-1] != DEFAULT_KEY:
        fallback = _value_at(levers, (*path[:-1], DEFAULT_KEY), words, month)
    schedule = _schedule_of(levers, path)
    if schedule is None:
        return fallback
    current = fallback
    for start, value in schedule:
        if start is None or (month is not None and start <= month):
            current = value
        else:
            break
    return current


def _months(levers: dict, path: tuple[str, ...], words: _LeverWords) -> set[dt.date]:
    """Return the months at which the lever's value (or the row it falls back to) may change."""
    paths = [path]
    if words.fallback_to_default and path[-1] != DEFAULT_KEY:
        paths.append((*path[:-1], DEFAULT_KEY))
    return {m for p in paths for m, _ in (_schedule_of(levers, p) or []) if m is not None}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _spans(reference: dict, scenario: dict, path: tuple[str, ...], words: _LeverWords,
           start: dt.date) -> Iterator[tuple[dt.date | None, dt.date | None, Any, Any]]:
    """Yield (first month, month they agree again, reference value, scenario value) where the lever differs."""
    months = sorted(m for m in _months(reference, path, words) | _months(scenario, path, words) if m > start)
    current: tuple[dt.date | None, Any, Any] | None = None
    for month in [None, *months]:
        old = _value_at(reference, path, words, month)
        new = _value_at(scenario, path, words, month)
        differs = not _same(old, new)
        if current is not None and (not differs or not (_same(old, current[1]) and _same(new, current[2]))):
            yield current[0], month, current[1], current[2]
            current = None
        if differs and current is None:
            current = (month, old, new)
    if current is not None:
        yield current[0], None, current[1], current[2]


def _format_pair(words: _LeverWords, old: Any, new: Any) -> tuple[str, str]:
    """Return both values in words; for records (programmes, bonus policies) only the fields that differ."""
    if isinstance(old, dict) and isinstance(new, dict) and words.fmt is _record:
        keys = [k for k in dict.fromkeys([*old, *new]) if not _same(old.get(k), new.get(k))]
        return _record({k: old.get(k) for k in keys}), _record({k: new.get(k) for k in keys})
    return words.fmt(old), words.fmt(new)


# --------------------------------------------------------------------------------------------------------------
# The comparison


def changes_between(reference: Scenario, scenario: Scenario) -> list[Change]:
    """Return every way ``scenario`` differs from ``reference``: its levers first (in the order of the schema),
    then other settings (run settings, regions, population, preferences, employers), each with old and new value.

    A lever's value is compared month by month over the run: a scenario that cuts visa odds from 2025 differs
    from 2025 on, whatever the two scenarios share before.
    """
    a, b = reference.to_dict(), scenario.to_dict()
    start = scenario.run.start
    regions = {k: r.name for k, r in {**reference.regions, **scenario.regions}.items()}
    employers = {k: e.name for k, e in {**reference.employers, **scenario.employers}.items()}

    def region(key: str) -> str:
        return regions.get(key, key)

    def employer(key: str) -> str:
        return employers.get(key, key)

    out: list[Change] = []
    levers_a, levers_b = a.get("levers", {}), b.get("levers", {})
    paths = list(dict.fromkeys(p for p, _ in (*_leaves(levers_a, ()), *_leaves(levers_b, ()))))
    for path in paths:
        words, keys = _words_for(path)
        label = words.label(keys, region, employer)
        for first, until, old, new in _spans(levers_a, levers_b, path, words, start):
            old_text, new_text = _format_pair(words, old, new)
            out.append(Change(".".join(("levers", *path)), label, old_text, new_text, _month_text(first),
                              _month_text(until), True))
    for key in b:
        if key in SKIPPED or key == "levers":
            continue
        for path, old, new in _setting_differences(a.get(key), b.get(key), (key,)):
            if path[0] == "run" and path[-1] in RUN_OPTIONS:
                continue
            out.append(Change(".".join(path), _setting_label(path, region, employer), _plain(old), _plain(new),
                              None, None, False))
    return out


def _setting_differences(old: Any, new: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            yield from _setting_differences(old.get(key), new.get(key), (*path, str(key)))
    elif not _same(old, new):
        yield path, old, new


def _setting_label(path: tuple[str, ...], region: Callable[[str], str], employer: Callable[[str], str]) -> str:
    if path[0] == "employers" and len(path) > 2:
        return f"{employer(path[1])}: {' '.join(path[2:]).replace('_', ' ')}"
    if path[0] == "regions" and len(path) > 2:
        return f"{region(path[1])}: {' '.join(path[2:]).replace('_', ' ')}"
    if path[0] == "run":
        return f"Run setting {'.'.join(path[1:])}"
    return " ".join(path).replace("_", " ")


def change_lines(changes: Sequence[Change | dict]) -> list[str]:
    """Return one line per changed lever or setting: consecutive spans of one lever are joined
    ("...: 0.57 → 0.20 from January 2025; 0.61 → 0.20 from April 2025")."""
    rows = [c if isinstance(c, dict) else c.to_dict() for c in changes]
    lines: list[str] = []
    previous = None
    for row in rows:
        change = Change(**{k: row[k] for k in ("path", "label", "old", "new", "start", "end", "lever")})
        if previous is not None and previous.path == change.path and previous.end == change.start:
            head, _, _ = lines[-1].rpartition(" until ")
            lines[-1] = f"{head if previous.end else lines[-1]}; {change.text.split(': ', 1)[1]}"
        else:
            lines.append(change.text)
        previous = change
    return lines


def describe_changes(changes: Sequence[Change | dict], reference: str, *, settings: bool = True) -> str:
    """Return the changes as lines of text under a heading naming the reference scenario."""
    rows = [c if isinstance(c, dict) else c.to_dict() for c in changes]
    levers = [r for r in rows if r["lever"]]
    others = [r for r in rows if not r["lever"]] if settings else []
    if not levers and not others:
        return f"Changes from '{reference}': none (the same levers and settings)."
    lines = [f"Changes from '{reference}':"]
    lines += [f"  {line}" for line in change_lines(levers)] or ["  (no lever differs)"]
    if others:
        lines.append("  Other settings:")
        lines += [f"    {line}" for line in change_lines(others)]
    return "\n".join(lines)


def extended_scenario(path: str | Path) -> Scenario | None:
    """Return the resolved scenario that the file at ``path`` ``extends:`` (None if it extends none)."""
    from .scenario import _read  # the one bounded YAML reader of scenario files

    path = Path(path)
    parent = _read(path).get("extends")
    if not isinstance(parent, str) or not parent.strip():
        return None
    return load_scenario(path.parent / parent)


def run_changes_record(scenario: Scenario, path: str | Path | None,
                       against: str | Path | None = None) -> dict[str, Any] | None:
    """Return the record of what ``scenario`` changes, for its run's manifest: the reference's name and file and
    the list of changes. The reference is ``against`` if given, else the file the scenario's file extends;
    None when there is neither."""
    if against is not None:
        reference, file = load_scenario(against), str(against)
    elif path is not None:
        reference = extended_scenario(path)
        file = None
        if reference is not None:
            from .scenario import _read

            file = os.path.normpath(Path(path).parent / _read(Path(path))["extends"])
    else:
        reference = None
    if reference is None:
        return None
    return {
        "reference": reference.name,
        "reference_file": file,
        "changes": [c.to_dict() for c in changes_between(reference, scenario)],
    }
