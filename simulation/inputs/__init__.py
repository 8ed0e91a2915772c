"""The input layer: how every file the project reads is read, checked and explained.

Scenarios, experiments, calibration configs and targets share one bounded YAML reader (:mod:`.reader`), one
set of field types, month and schedule rules (:mod:`.fields`), and one translation of validation errors into
``FILE: key.path: what is allowed (got VALUE)`` lines (:mod:`.errors`), with numbers that read as a unit slip
said to be so (:mod:`.units`), so the same mistake reads the same way in every file kind.
"""

from .errors import FieldProblem, InputError, Problem, check_validation, close_hint, format_path, unknown
from .fields import (MAX_MAGNITUDE, Month, NonNegative, Positive, Probability, Scheduled, Step, Strict,
                     check_schedule, month_or_none, parse_month, schedules, value_at)
from .reader import MAX_BYTES, MAX_DEPTH, MAX_EXTENDS, MAX_NODES, Provenance, merge, read_mapping, read_with_extends

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_EXTENDS", "MAX_MAGNITUDE", "MAX_NODES", "FieldProblem", "InputError", "Month",
    "NonNegative", "Positive", "Probability", "Problem", "Provenance", "Scheduled", "Step", "Strict",
    "check_schedule", "check_validation", "close_hint", "format_path", "merge", "month_or_none", "parse_month",
    "read_mapping", "read_with_extends", "schedules", "unknown", "value_at",
]
