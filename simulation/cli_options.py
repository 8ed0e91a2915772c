"""What the command line accepts and how it says no: option types, and checks of what options name.

An option's type (``--seed``, ``--format``, ``--period``, ...) refuses a malformed value in argparse's words; a
check refuses a value that is well formed but names nothing usable (a folder that is not a results folder, a
tier or period the results do not hold), as a :class:`BadInput`: one line, exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "BadInput", "as_option", "check_period", "check_tier", "compare_formats", "figure_formats", "name_list",
    "port_number", "positive_int", "results_folder", "seed_number", "table_formats", "whole_number", "worker_count",
    "year_list", "year_period",
]


class BadInput(Exception):
    """A mistake of the user's, reported without a traceback (exit code 2)."""


# --------------------------------------------------------------------------------------------------------------
# Option types


def whole_number(text: str) -> int:
    """Parse a whole number; its range is checked by the scenario schema (see ``with_run``)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def seed_number(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def port_number(text: str) -> int:
    value = whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (got {value})")
    return value


def worker_count(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (run in this process) or more (got {value})")
    return value


def table_formats(text: str) -> tuple[str, ...]:
    allowed = ("parquet", "csv", "xlsx")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


def figure_formats(text: str) -> tuple[str, ...]:
    allowed = ("png", "svg", "pdf")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


def compare_formats(text: str) -> tuple[str, ...]:
    allowed = ("png", "svg", "pdf", "xlsx")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


def year_list(text: str) -> list[float]:
    try:
        years = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a year or comma-separated years, e.g. 2030 or 2025,2030 "
                                         f"(got {text!r})") from None
    if not years:
        raise argparse.ArgumentTypeError("give at least one year, e.g. 2030")
    return years


def year_period(text: str) -> tuple[float, float]:
    parts = text.replace("-", ":").split(":")
    try:
        start, end = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be START:END in years, e.g. 2019:2025 (got {text!r})") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"must end after it starts, e.g. 2019:2025 (got {text!r})")
    return start, end


def name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --------------------------------------------------------------------------------------------------------------
# What an option names


def as_option(problem) -> str:
    """Return a problem with a run setting as the command-line option that set it (run.seed -> --seed)."""
    if problem.path.startswith("run."):
        option = "--" + problem.path.removeprefix("run.")
        got = f" (got {problem.value})" if problem.has_value else ""
        return f"{option}: {problem.message}{got}"
    return str(problem)


def results_folder(folder: Path) -> Path:
    if not folder.exists():
        raise BadInput(f"{folder}: no such folder; give the --out folder of 'talentsim run'")
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder; give the --out folder of 'talentsim run'")
    return folder


def check_period(period, result) -> None:
    if period is None:
        return
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    if period[0] < first - 1e-9 or period[1] > last + 1e-9:
        raise BadInput(f"--period {period[0]:g}:{period[1]:g}: the run covers {first:g} to {last:g}; choose years "
                       "inside it")


def check_tier(tier: str, result) -> None:
    tiers = list(dict.fromkeys(result.stocks["tier"]))
    if tier not in tiers:
        raise BadInput(f"--tier {tier}: the results hold the tiers {', '.join(tiers)}; choose one of them")
