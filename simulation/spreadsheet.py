"""Spreadsheets for readers who live in Excel: a run's or a comparison's tables in one .xlsx workbook.

The first sheet, "Notes", says what the workbook holds: the scenario and what it changes, which statistic and
interval the summaries show, the units of every column, and the provenance of the run (version, seeds, command).
Every table follows on its own sheet, with the same columns as its CSV; a table longer than a sheet allows
continues on the next ("stocks (2)").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .outputs import atomic_write

__all__ = ["MAX_ROWS", "write_comparison_xlsx", "write_run_xlsx"]

MAX_ROWS = 1_048_576 - 1  # rows of data in one Excel sheet (one more for the header)


def _xlsxwriter():
    try:
        import xlsxwriter
    except ImportError:  # pragma: no cover - a declared dependency; only a broken install lacks it
        raise ImportError("writing .xlsx needs XlsxWriter; install it with: pip install 'XlsxWriter>=3.1'") from None
    return xlsxwriter


def _cell(value: Any) -> Any:
    """Return ``value`` as something a spreadsheet cell holds: plain numbers, text, dates; empty for missing."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if not math.isfinite(value) else value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (dt.date, dt.datetime, int, str)):
        return value
    if pd.isna(value):
        return None
    return str(value)


def _sheet_name(name: str, taken: set[str]) -> str:
    base = "".join(c for c in name if c not in "[]:*?/\\")[:31] or "Sheet"
    out, n = base, 2
    while out in taken:
        suffix = f" ({n})"
        out, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(out)
    return out


class _Workbook:
    """A workbook written sheet by sheet, row by row (XlsxWriter's constant-memory mode)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.parts: list[tuple[str, Any]] = []  # (kind, content) in sheet order; written in :meth:`save`
        self.names: set[str] = set()

    def notes(self, rows: Sequence[tuple[str, Any]], title: str) -> None:
        self.parts.append(("notes", (_sheet_name("Notes", self.names), title, list(rows))))

    def table(self, name: str, table: pd.DataFrame) -> None:
        chunks = max(1, math.ceil(len(table) / MAX_ROWS))
        for k in range(chunks):
            sheet = _sheet_name(name if k == 0 else f"{name} ({k + 1})", self.names)
            self.parts.append(("table", (sheet, table.iloc[k * MAX_ROWS:(k + 1) * MAX_ROWS])))

    def _write(self, target: str) -> None:
        xlsxwriter = _xlsxwriter()
        book = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_numbers": False,
                                            "strings_to_formulas": False, "strings_to_urls": False,
                                            "nan_inf_to_errors": False})
        book.set_properties({"title": "talentsim results", "comments": "Written by talentsim"})
        bold = book.add_format({"bold": True})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        title_format = book.add_format({"bold": True, "font_size": 13})
        date_format = book.add_format({"num_format": "yyyy-mm-dd"})
        for kind, content in self.parts:
            if kind == "notes":
                name, title, rows = content
                sheet = book.add_worksheet(name)
                sheet.set_column(0, 0, 34, bold)
                sheet.set_column(1, 1, 120, wrap)
                sheet.write(0, 0, title, title_format)
                r = 2
                for key, value in rows:
                    if key and value is None:  # a heading
                        r += 1
                        sheet.write(r, 0, key, title_format)
                    else:
                        sheet.write(r, 0, key)
                        self._put(sheet, r, 1, _cell(value), wrap, date_format)
                    r += 1
            else:
                name, table = content
                sheet = book.add_worksheet(name)
                sheet.freeze_panes(1, 0)
                for i, column in enumerate(table.columns):
                    sheet.set_column(i, i, max(10, min(40, len(str(column)) + 4)),
                                     date_format if pd.api.types.is_datetime64_any_dtype(table[column]) else None)
                    sheet.write(0, i, str(column), bold)
                for r, row in enumerate(table.itertuples(index=False, name=None), start=1):
                    for c, value in enumerate(row):
                        self._put(sheet, r, c, _cell(value), None, date_format)
        book.close()

    @staticmethod
    def _put(sheet, r: int, c: int, value: Any, text_format, date_format) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            sheet.write_boolean(r, c, value)
        elif isinstance(value, (int, float)):
            sheet.write_number(r, c, value)
        elif isinstance(value, (dt.date, dt.datetime)):
            sheet.write_datetime(r, c, value, date_format)
        else:
            sheet.write_string(r, c, str(value), text_format)

    def save(self) -> Path:
        return atomic_write(self.path, self._write)


def _column_rows(tables: dict[str, pd.DataFrame], extra: dict[str, tuple[str, str, str]]) -> list[tuple[str, Any]]:
    """Return a notes block naming each column of the tables with its label, unit and meaning."""
    from .observe import COLUMNS

    rows: list[tuple[str, Any]] = [("Columns", None)]
    seen = []
    for table in tables.values():
        seen += [c for c in table.columns if c not in seen]
    for column in seen:
        if column in extra:
            label, unit, description = extra[column]
        elif column in COLUMNS:
            declared = COLUMNS[column]
            label, unit, description = declared.label, declared.unit, declared.description
        else:
            continue
        rows.append((column, f"{label}{f' ({unit})' if unit else ''}: {description}"))
    return rows


def _change_rows(record: dict | None, reference_words: str) -> list[tuple[str, Any]]:
    from .changes import change_lines

    rows: list[tuple[str, Any]] = [(f"What changed (against {reference_words})", None)]
    if not record:
        rows.append(("", "Not recorded: the run's manifest does not say which scenario it builds on."))
        return rows
    lines = change_lines(record.get("changes", []))
    if not lines:
        rows.append(("", f"Nothing: the same levers and settings as '{record.get('reference')}'."))
    rows += [("", line) for line in lines]
    return rows


def _provenance_rows(result) -> list[tuple[str, Any]]:
    m = result.manifest
    seeds = ", ".join(f"{r.get('replicate')}: {r.get('seed')}" for r in m.get("replicates", []))
    return [
        ("Provenance", None),
        ("talentsim version", m.get("talentsim_version", "")),
        ("Run created (UTC)", m.get("created", "")),
        ("Command", m.get("command", "")),
        ("Scenario file", m.get("scenario_file", "")),
        ("Root seed", m.get("root_seed", "")),
        ("Replicate seeds", seeds),
        ("Model researchers at the start", m.get("researchers", result.scenario.run.researchers)),
        ("Researchers represented at the start", result.scenario.population.represents),
        ("Python and packages", f"Python {m.get('python', '?')}; "
                                + ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())),
    ]


UNIT_NOTE = ("Units: tables count model researchers (the simulated population); one model researcher stands for "
             "{scale:,.3g} real researchers ({represents:,.0f} represented / {researchers:,} simulated). Shares are "
             "fractions (0.42 = 42%). The comparison sheet's net inflows are researchers represented per year.")


def write_run_xlsx(result, path: str | Path) -> Path:
    """Write a run's tables (headline, stocks, flows, retention, cohorts, employers) to one .xlsx workbook with a
    Notes sheet first; return the path."""
    from .results import TABLES
    from .style import display_name
    from .summary import interval_text

    scenario = result.scenario
    headline = result.headline()
    reps = int(result.stocks["replicate"].nunique())
    tables = {"headline": headline, **{name: getattr(result, name) for name in TABLES}}
    scale = scenario.population.represents / scenario.run.researchers
    book = _Workbook(path)
    record = result.manifest.get("changes")
    notes: list[tuple[str, Any]] = [
        ("Scenario", f"{display_name(scenario.name)} ({scenario.name})"),
        ("Description", scenario.description or "No description given in the scenario."),
        ("Period", f"{scenario.run.start:%Y-%m} to {scenario.run.end:%Y-%m}, steps of {scenario.run.step_months} "
                   "months"),
        ("Replicates", reps),
        *_change_rows(record, f"'{record['reference']}'" if record else "the scenario it extends"),
        ("Statistic and interval", None),
        ("Headline sheet", str(headline["statistic"].iloc[0]) if len(headline) else ""),
        ("median", "Median over replicates."),
        ("low, high", f"Bounds of the central range: {interval_text()}; empty with a single replicate. The range "
                      "shows the spread between replicates (stochastic variation), not a confidence interval."),
        ("Units", UNIT_NOTE.format(scale=scale, represents=scenario.population.represents,
                                   researchers=scenario.run.researchers)),
        *_column_rows(tables, {
            "indicator": ("Indicator", "", "What the row measures."),
            "place": ("Place", "", "Region (or origin, for retention) the row is about."),
            "median": ("Median", "share", "Median over replicates."),
            "low": ("Low", "share", f"Lower bound: {interval_text()}."),
            "high": ("High", "share", f"Upper bound: {interval_text()}."),
            "replicates": ("Replicates", "", "Replicates behind the row."),
            "statistic": ("Statistic", "", "Which statistic and interval the row shows, in words."),
        }),
        *_provenance_rows(result),
    ]
    notes.append(("Sheets", None))
    notes += [(name, f"{len(table):,} rows" + (" (continued on further sheets)" if len(table) > MAX_ROWS else ""))
              for name, table in tables.items()]
    book.notes(notes, f"talentsim results: {display_name(scenario.name)}")
    for name, table in tables.items():
        book.table(name, table)
    return book.save()


def write_comparison_xlsx(results: Sequence, table: pd.DataFrame, path: str | Path) -> Path:
    """Write a comparison (key findings and the full indicator table, :func:`~simulation.compare.compare_table`)
    to one .xlsx workbook with a Notes sheet first; return the path."""
    from .changes import change_lines, changes_between
    from .compare import comparison_note, csv_table, key_findings, scenario_labels, with_baseline_medians
    from .style import display_name

    labels = scenario_labels(results)
    book = _Workbook(path)
    notes: list[tuple[str, Any]] = [("Scenarios", None)]
    for i, (label, result) in enumerate(zip(labels, results)):
        reps = int(result.stocks["replicate"].nunique())
        role = "baseline" if i == 0 else f"compared with {labels[0]}"
        notes.append((label, f"{display_name(label)} ({role}): {reps} replicates × {result.scenario.run.researchers:,} "
                             f"model researchers; {result.scenario.description or 'no description'}"))
    for label, result in zip(labels[1:], results[1:]):
        notes.append((f"What {label} changes from {labels[0]}", None))
        lines = change_lines(changes_between(results[0].scenario, result.scenario))
        notes += [("", line) for line in lines] or [("", "Nothing: the same levers and settings.")]
    notes += [
        ("Statistic, interval and pairing", None),
        ("", comparison_note(table)),
        *_column_rows({"comparison": csv_table(table)}, {
            "indicator": ("Indicator", "", "What the row measures."),
            "unit": ("Unit", "", "share (a fraction: 0.42 = 42%), or researchers represented per year."),
            "place": ("Place", "", "Region (or origin, for retention) the row is about."),
            "scenario": ("Scenario", "", "Scenario the row is about."),
            "median": ("Median", "", "Median over the scenario's replicates (in the row's unit)."),
            "low": ("Low", "", "Lower bound of the range holding 90% of replicates; empty with one replicate."),
            "high": ("High", "", "Upper bound of the range holding 90% of replicates; empty with one replicate."),
            "replicates": ("Replicates", "", "Replicates behind the row."),
            "diff_median": ("Change", "", "Median of paired differences from the baseline (shares: fractions; x100 "
                                          "for percentage points)."),
            "diff_low": ("Change, low", "", "Lower bound of the range holding 90% of the differences."),
            "diff_high": ("Change, high", "", "Upper bound of the range holding 90% of the differences."),
            "pairs": ("Pairs", "", "Replicate pairs behind the change."),
            "paired": ("Paired", "", "TRUE: paired by seed; FALSE: UNPAIRED (every replicate against every other)."),
            "baseline_median": ("Baseline median", "", "The baseline's median, for reading the change."),
            "statistic": ("Statistic", "", "What the row's numbers are, in words."),
        }),
        *_provenance_rows(results[0]),
    ]
    book.notes(notes, f"talentsim comparison: {' vs '.join(display_name(label) for label in labels)}")
    full = with_baseline_medians(table)
    book.table("key findings", key_findings(full))
    book.table("comparison", csv_table(table))
    return book.save()
