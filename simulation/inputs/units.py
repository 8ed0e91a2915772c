"""Numbers that read as a unit slip: a share written in percent, dollars where millions are meant, thousands or
millions where dollars are meant.

Keys say their unit (``base_pay_usd``, ``bonus_usd``, ``budget_usd_m_per_year``; a share's range lies inside
[0, 1]), so these rules hold for every field with that unit, in every file kind, wherever the key appears: a
lever's schedule step, a parent file, a value an experiment sets. Each message is one line that says the unit
and how to write the value meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["MIN_USD", "in_range_slips", "out_of_range_slip", "share_note"]

MIN_USD = 1_000  # no pay, bonus, package or funding per researcher a scenario needs is below USD 1,000
PERCENT = 100  # a number above 1 and at most this, where a share is meant, reads as a percentage


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _name(key: Any) -> str:
    return key if isinstance(key, str) else ""


def _in_millions(path: tuple[Any, ...]) -> bool:
    """Return whether a key path holds amounts in USD million (its own key, or a section of them, says so)."""
    return any(_name(k).endswith(("_usd_m", "_usd_m_per_year")) for k in path)


def share_note(path: tuple[Any, ...], value: Any, low: float | None, high: float | None) -> str:
    """Return " (a share: write 30% as 0.3)" for a number out of a range inside [0, 1] that reads as a
    percentage, else ""."""
    if not _number(value) or high is None or high > 1 or (low is not None and low < 0):
        return ""
    if not 1 < value <= PERCENT:
        return ""
    what = "a rate" if path and _name(path[-1]).endswith(("_per_year", "_per_step")) else "a share"
    return f" ({what}: write {value:g}% as {value / 100:g})"


def out_of_range_slip(path: tuple[Any, ...], value: Any, high: float | None) -> str | None:
    """Return the message for a number above its field's bound that reads as dollars where millions are meant,
    else None."""
    if not _number(value) or high is None or value <= high or not _in_millions(path) or value < 1e6:
        return None
    per_year = " per year" if any(_name(k).endswith("_per_year") for k in path) else ""
    millions = value / 1e6
    return (f"is in USD million{per_year}, at most {high:,.0f}; {value:,.0f} reads as dollars "
            f"(write USD {millions:,.6g} million as {millions:.6g})")


def _usd_slip(key: str, value: float) -> str | None:
    """Return the message for an amount in USD that is too small to be meant, else None."""
    if not 0 < value < MIN_USD:
        return None
    if key.endswith("bonus_usd") or key == "max_usd":
        return (f"is in USD (one bonus or package); {value:g} reads as millions (write USD {value:g} million as "
                f"{value * 1e6:.0f})")
    unit = ("pay in USD a year" if key.endswith("pay_usd") else
            "in USD a year per researcher" if key.endswith("_usd_per_researcher") else "in USD")
    return f"is {unit}; {value:g} reads as thousands (write USD {value * 1000:,.0f} as {value * 1000:.0f})"


def _is_usd(key: str) -> bool:
    return key.endswith("_usd") or "_usd_per_" in key


def in_range_slips(data: Any, keys: frozenset[str] | None = None,
                   path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, Any]]:
    """Yield (key path, message, value) for every amount in USD in ``data`` too small to be meant.

    Only keys in ``keys`` (the keys a schema declares; default: any) are amounts: an unknown key is a mistake of
    its own. A schedule's steps (``[{from: ..., value: ...}]``) are looked into, so a value is found wherever it
    is set.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            name = _name(key)
            if keys is not None and name not in keys:
                name = ""
            if _is_usd(name) and _number(value):
                message = _usd_slip(name, value)
                if message:
                    yield (*path, key), message, value
            elif isinstance(value, list) and _is_usd(name):  # a schedule of amounts
                for i, step in enumerate(value):
                    amount = step.get("value") if isinstance(step, dict) else None
                    message = _usd_slip(name, amount) if _number(amount) else None
                    if message:
                        yield (*path, key, i, "value"), message, amount
            else:
                yield from in_range_slips(value, keys, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from in_range_slips(item, keys, (*path, i))
