"""Parameter ensembles: sets of parameter values consistent with the calibration targets, as data.

A calibration writes its ensemble beside the calibrated scenario (``scenarios/base/calibrated.ensemble.parquet``):
one row per draw, a ``draw`` number, a ``weight`` (equal: the file holds a resample of the weighted ABC
population) and one column per parameter. The file's metadata says where each parameter lives in a scenario
(its key path, and for a lever the months it applies between), so a run can set a draw's values without the
calibration config.

Runs draw replicates across an ensemble: replicate ``i`` uses draw ``i`` (modulo the number of draws), so two
runs with the same root seed and replicates use the same seeds *and* the same draws, and paired comparisons pair
by both. Intervals across such replicates show replicate noise and parameter uncertainty together.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from .scenario import Scenario

__all__ = ["INTERVAL_KINDS", "Ensemble", "ParameterPlace", "read_ensemble", "set_parameter", "write_ensemble"]

METADATA_KEY = b"talentsim.ensemble"

INTERVAL_KINDS = {
    "replicates": "replicate noise at one parameter point",
    "ensemble": "replicate noise and parameter uncertainty (replicate i uses ensemble draw i)",
}


@dataclass(frozen=True)
class ParameterPlace:
    """Where a calibrated parameter lives in a scenario: a key path, and for a lever the months it holds."""

    path: str
    start: str | None = None  # YYYY-MM: the value holds from this month (earlier steps are kept)
    until: str | None = None  # YYYY-MM: the scenario's own schedule resumes here
    also: tuple[str, ...] = ()  # further key paths that take the same value (one parameter shared by several keys)

    @property
    def paths(self) -> tuple[str, ...]:
        """Return every key path the parameter sets."""
        return (self.path, *self.also)

    def as_dict(self) -> dict[str, Any]:
        """Return the place as plain data (the ensemble file's metadata)."""
        return {"path": self.path, "from": self.start, "until": self.until, "also": list(self.also)}


@dataclass(frozen=True)
class Ensemble:
    """Parameter draws (a table: ``draw``, ``weight``, one column per parameter) and where each parameter lives."""

    draws: pd.DataFrame
    places: dict[str, ParameterPlace]
    source: str = ""
    info: Mapping[str, Any] | None = None

    @property
    def parameters(self) -> list[str]:
        """Return the parameter names, in order."""
        return list(self.places)

    def __len__(self) -> int:
        return len(self.draws)

    def values(self, draw: int) -> dict[str, float]:
        """Return the parameter values of draw number ``draw``."""
        row = self.draws.iloc[draw % len(self.draws)]
        return {name: float(row[name]) for name in self.places}

    def draw_for(self, replicate: int) -> int:
        """Return the draw used by replicate ``replicate``: draw ``replicate`` modulo the number of draws."""
        return int(self.draws["draw"].iloc[replicate % len(self.draws)])

    def scenario(self, scenario: Scenario, draw: int) -> Scenario:
        """Return ``scenario`` with the values of draw ``draw`` set (validated)."""
        from .scenario import scenario_from_dict

        data = scenario.to_dict()
        for name, value in self.values(draw).items():
            set_parameter(data, self.places[name], value)
        return scenario_from_dict(data, source=f"{scenario.name} with ensemble draw {draw} of {self.source}")

    def describe(self) -> dict[str, Any]:
        """Return what a manifest records of the ensemble: its file, size and parameter places."""
        return {
            "file": self.source, "draws": len(self.draws),
            "parameters": {name: place.as_dict() for name, place in self.places.items()},
            **({"calibration": dict(self.info)} if self.info else {}),
        }


def write_ensemble(path: str | Path, draws: pd.DataFrame, places: Mapping[str, ParameterPlace], info: Mapping[str, Any]) -> Path:
    """Return ``path`` after writing ``draws`` (``draw``, ``weight``, parameters) as Parquet with their places."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .outputs import atomic_write

    missing = [name for name in ("draw", "weight", *places) if name not in draws.columns]
    if missing:
        raise ValueError(f"the ensemble table lacks the columns {missing}")
    table = pa.Table.from_pandas(draws.reset_index(drop=True), preserve_index=False)
    meta = {"parameters": {n: p.as_dict() for n, p in places.items()}, "info": dict(info)}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_ensemble(path: str | Path) -> Ensemble:
    """Return the ensemble saved at ``path`` (Parquet, or CSV with a ``.places.json`` beside it).

    Raises:
        ValueError: the file is missing, is not an ensemble, or lacks a parameter column.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: ensemble file not found (write one with `talentsim calibrate CONFIG`)")
    if path.suffix == ".csv":
        draws = pd.read_csv(path)
        side = path.with_suffix(".places.json")
        if not side.exists():
            raise ValueError(f"{path}: a CSV ensemble needs {side.name} beside it, naming each parameter's key path")
        meta = json.loads(side.read_text(encoding="utf-8"))
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"{path}: not a parameter ensemble (no talentsim.ensemble metadata)")
        meta = json.loads(raw)
        draws = table.to_pandas()
    places = {n: ParameterPlace(p["path"], p.get("from"), p.get("until"), tuple(p.get("also") or ()))
              for n, p in meta["parameters"].items()}
    missing = [n for n in ("draw", "weight", *places) if n not in draws.columns]
    if missing or draws.empty:
        raise ValueError(f"{path}: the ensemble table lacks the columns {missing}" if missing else f"{path}: no draws")
    return Ensemble(draws.reset_index(drop=True), places, str(path), meta.get("info") or None)


# --------------------------------------------------------------------------------------------------------------
# Setting one parameter in a scenario's plain data


def set_parameter(data: dict[str, Any], place: ParameterPlace, value: float) -> None:
    """Set ``value`` at ``place`` in a scenario's plain data (``Scenario.to_dict()``), in place.

    For a lever with ``until``, the value holds from ``start`` to ``until`` and the scenario's own schedule
    resumes at ``until``.

    Raises:
        PathError: the path does not lead to a value that can be changed.
    """
    from .experiment import Setting, apply_setting

    for dotted in place.paths:
        path = tuple(dotted.split("."))
        try:
            original = copy.deepcopy(value_at_path(data, path))
        except (KeyError, TypeError):
            original = None  # apply_setting explains what is wrong with the path
        apply_setting(data, Setting(path, float(value), False, place.start))
        if place.until is not None:
            steps = value_at_path(data, path)
            steps[:] = [s for s in steps if s["from"] is None or s["from"] < place.until] + _resume(original, place.until)


def value_at_path(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Return the value at key ``path`` of a scenario's plain data."""
    node: Any = data
    for key in path:
        node = node[key]
    return node


def _resume(original: Any, until: str) -> list[dict[str, Any]]:
    """Return the steps of ``original`` (a plain value or schedule) from month ``until`` on."""
    steps = original if isinstance(original, list) else [{"from": None, "value": original}]
    in_force = [s for s in steps if s["from"] is None or s["from"] <= until]
    later = [s for s in steps if s["from"] is not None and s["from"] > until]
    head = [{"from": until, "value": in_force[-1]["value"]}] if in_force else []
    return head + later


def month_text(value: dt.date | None) -> str | None:
    """Return ``value`` as YYYY-MM (None stays None)."""
    return None if value is None else f"{value:%Y-%m}"
