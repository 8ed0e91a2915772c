"""Field types every input file shares: strict sections, bounded numbers, months and lever schedules.

Scenario, experiment and calibration schemas build on :class:`Strict`, so true/false, infinity, NaN and
numbers too large for any real input are refused the same way in every file kind, and a month is read by one
rule everywhere: ``YYYY-MM`` (or ``YYYY-MM-01``), an impossible date is an error and a date is never rounded.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo

from .errors import FieldProblem

__all__ = [
    "MAX_MAGNITUDE",
    "Month",
    "NonNegative",
    "Positive",
    "Probability",
    "Scheduled",
    "Step",
    "Strict",
    "check_schedule",
    "month_or_none",
    "parse_month",
    "schedules",
    "unwrap",
    "value_at",
]

MAX_MAGNITUDE = 1e12
"""Largest size of a number where its field declares no bound of its own: beyond any real input, well short of
overflowing the arithmetic of a run."""

FIRST_YEAR, LAST_YEAR = 1900, 2200
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
MONTH_FORM = f"a month written YYYY-MM, from {FIRST_YEAR}-01 to {LAST_YEAR}-12, e.g. 2025-01"


def parse_month(value: Any) -> dt.date:
    """Return the first day of the month ``value`` names.

    Raises:
        ValueError: ``value`` is not a month, names an impossible date, or a day other than the first (the
            model works in months, and a date is never rounded to one).
    """
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        year, month, day = value.year, value.month, value.day
    elif isinstance(value, str) and (match := _MONTH.match(value.strip())):
        year, month = int(match[1]), int(match[2])
        day = int(match[3]) if match[3] is not None else 1
        if not 1 <= month <= 12:
            raise ValueError(f"month {month} does not exist; must be {MONTH_FORM}")
        try:
            dt.date(year, month, day)
        except ValueError:
            raise ValueError(f"{value.strip()} is not a date (day {day} does not exist in that month); "
                             f"must be {MONTH_FORM}") from None
    else:
        raise ValueError(f"must be {MONTH_FORM}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must be {MONTH_FORM}")
    if day != 1:
        raise ValueError(f"names a day; the model works in whole months, so write the month as YYYY-MM "
                         f"({year:04d}-{month:02d}), or its first day")
    return dt.date(year, month, 1)


def month_or_none(value: Any) -> dt.date | None:
    """Return the month ``value`` names, or None if it names none."""
    try:
        return parse_month(value)
    except ValueError:
        return None


Month = Annotated[dt.date, BeforeValidator(parse_month)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------------------
# Strict sections and numbers


class Strict(BaseModel):
    """A section of an input file: unknown keys are errors, values are frozen once validated.

    Where a number is wanted, true/false, infinity and NaN are refused (YAML reads yes/no/on/off as
    true/false and .inf/.nan as numbers), and so is a number beyond :data:`MAX_MAGNITUDE` where the field
    declares no bound of its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key in data:
                bad = bad_number(field.annotation, data[key], (key,), field.metadata)
            elif name in data:
                bad = bad_number(field.annotation, data[name], (name,), field.metadata)
            else:
                continue
            if bad is not None:
                raise FieldProblem(*bad)
        return data


def unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Return ``tp`` without ``Annotated`` and ``Optional`` wrappers, and the constraints they carried."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extra = typing.get_args(tp)
            for m in extra:
                meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, meta
            tp = args[0]
        else:
            return tp, meta


def _has_upper_bound(meta: list[Any]) -> bool:
    return any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in meta)


def bad_number(
    tp: Any, value: Any, path: tuple[Any, ...], field_meta: list[Any] = ()
) -> tuple[tuple[Any, ...], str] | None:
    """Return (where, what is wrong) if ``value`` is no usable number where ``tp`` wants one, else None."""
    base, meta = unwrap(tp)
    meta = [*field_meta, *meta]
    if base in (int, float):
        if isinstance(value, str):  # a quoted number, which validation would convert
            try:
                value = float(value)
            except ValueError:
                return None
        if isinstance(value, bool):
            return path, "must be a number, not true/false"
        if isinstance(value, float) and not math.isfinite(value):
            return path, "must be a finite number"
        if (isinstance(value, (int, float)) and not _has_upper_bound(meta)
                and abs(value) > MAX_MAGNITUDE):
            return path, (f"must be at most {MAX_MAGNITUDE:,.0f} in size; no real input is this large "
                          "(check the unit)")
        return None
    if typing.get_origin(base) is dict and isinstance(value, dict):
        for key, item in value.items():
            found = bad_number(typing.get_args(base)[1], item, (*path, key))
            if found:
                return found
    return None


# --------------------------------------------------------------------------------------------------------------
# Lever schedules


class Step(Strict, Generic[T]):
    """One step of a lever schedule: the value that holds from a month on."""

    start: Month | None = Field(None, alias="from", description="First month the value holds (YYYY-MM).")
    value: T


SCHEDULE_FORM = "a plain value, or a list of steps written {from: YYYY-MM, value: ...}"


def as_schedule(value: Any) -> Any:
    """Return ``value`` as a list of steps: a plain value is a schedule of one step that holds from the start."""
    if isinstance(value, list):
        if not value:
            raise ValueError(f"must be {SCHEDULE_FORM}; an empty list gives no value")
        if not all(isinstance(step, (dict, Step)) for step in value):
            raise ValueError(f"must be {SCHEDULE_FORM}, not a list of plain values")
        return value
    return [{"from": None, "value": value}]


def Scheduled(tp: Any) -> Any:  # noqa: N802 - reads as a type
    """A lever value: either a plain value, or a list of ``{from: YYYY-MM, value: ...}`` steps."""
    return Annotated[list[Step[tp]], BeforeValidator(as_schedule)]


def value_at(schedule: list[Step[Any]], month: dt.date, default: Any = None) -> Any:
    """Return the value of a lever schedule in force at ``month``.

    Before the first step's ``from`` month, the lever has ``default``: its value when not listed.
    """
    current = default
    for step in schedule:
        if step.start is None or step.start <= month:
            current = step.value
        else:
            break
    return current


def schedules(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], list[Step[Any]]]]:
    """Yield (key path, schedule) for every lever schedule below ``node``."""
    if isinstance(node, list) and node and isinstance(node[0], Step):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from schedules(getattr(node, name), (*path, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from schedules(value, (*path, key))


def check_schedule(schedule: list[Step[Any]], path: tuple[Any, ...]):
    """Yield (key path, message, value, has_value) for each step out of time order or missing its month."""
    previous: dt.date | None = None
    for i, step in enumerate(schedule):
        if step.start is None:
            if i > 0:
                yield (*path, i, "from"), "required key is missing; only the first step may leave out 'from'", None, False
            continue
        if previous is not None and step.start <= previous:
            yield (*path, i, "from"), (
                f"steps must be in time order: each 'from' after the one before ({previous:%Y-%m})"
            ), f"{step.start:%Y-%m}", True
        previous = step.start
