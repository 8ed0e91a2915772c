"""The result store of a sweep: one folder per experiment that loses nothing.

Layout of the folder::

    experiment.json            what is run: the experiment, its resolved base scenario, labels and units
    index.parquet, index.csv   one row per run: id, parameters, seed, status, attempts, wall time, error
    runs/ID.json               one finished run: its outcomes, or its error (written last: the run is done)
    runs/ID.curves.parquet     its curves
    outcomes.parquet, .csv     one row per finished run: parameters, seed and outcomes
    curves.parquet             the curves of every finished run, one row per run x curve x step x key

Every file is written to a temporary name and renamed, so no half-written file is ever read as a result.
The run files are the record of what is finished: a sweep that is killed at any moment and resumed reads
them to know what is left, and writes the same ``outcomes.parquet`` and ``curves.parquet`` as a sweep
that was never interrupted. The index is refreshed every second or so while a sweep runs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

from .ensemble import INTERVAL_KINDS
from .experiment import Experiment, RunSpec
from .outputs import atomic_write, write_text

__all__ = ["ExperimentResults", "ExperimentStore", "SweepError", "read_experiment"]

FORMAT = 1
STATUSES = ("pending", "done", "failed")
IDENTITY = ("run_id", "arm", "sample", "replicate", "seed")


class SweepError(ValueError):
    """A sweep that cannot start as asked (e.g. its folder holds another sweep); says what to do instead."""


def _json(data: Any) -> str:
    return json.dumps(_no_nan(data), indent=1, default=str) + "\n"


def _no_nan(value: Any) -> Any:
    """Return ``value`` with NaN written as null (standard JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def plan_row(spec: RunSpec) -> dict[str, Any]:
    """Return the identity and parameters of a planned run, as stored in the index."""
    return {"run_id": spec.run_id, "arm": spec.arm, "sample": spec.sample, "replicate": spec.replicate,
            "seed": spec.seed, **spec.levers, **spec.uncertainties}


class ExperimentStore:
    """The folder of one sweep."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.runs_dir = self.directory / "runs"
        self._info: dict[str, Any] | None = None

    # ---- opening

    @classmethod
    def prepare(cls, experiment: Experiment, directory: str | Path, plan: list[RunSpec], resume: bool) -> ExperimentStore:
        """Return the store for a sweep of ``experiment`` in ``directory``, created or checked for resuming.

        Raises:
            SweepError: the folder holds something else, or another sweep (without ``resume``), or a sweep of
                a changed experiment.
        """
        store = cls(directory)
        d = store.directory
        info_path = d / "experiment.json"
        if d.exists() and not d.is_dir():
            raise SweepError(f"{d}: exists and is not a folder; choose another --out")
        if info_path.exists():
            info = store.info()
            if not resume:
                done = sum(1 for r in store.records().values() if r.get("status") == "done")
                raise SweepError(
                    f"{d} already holds a sweep of '{info.get('name')}' ({done} of {info.get('runs', '?')} runs "
                    "finished). Add --resume to continue it (finished runs are kept), or choose another --out."
                )
            if info.get("fingerprint") != experiment.fingerprint:
                raise SweepError(
                    f"{d} holds a sweep of '{info.get('name')}' whose experiment or base scenario has changed since "
                    "(a different base scenario, run settings, paths or outcomes), so its finished runs cannot be "
                    "reused. Choose another --out for the changed experiment. (Adding lever values, samples or "
                    "replicates is fine: those can be resumed.)"
                )
        elif d.exists() and any(not p.name.startswith(".") for p in d.iterdir()):
            raise SweepError(f"{d}: the folder is not empty and holds no sweep (no experiment.json); choose another --out")
        store.runs_dir.mkdir(parents=True, exist_ok=True)
        store._lock()
        for stale in store.runs_dir.glob(".*.tmp"):  # left by a sweep killed while writing
            stale.unlink(missing_ok=True)
        for stale in store.directory.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        store._write_info(experiment, plan, info_path)
        return store

    def _lock(self) -> None:
        """Hold a lock on the folder until ``close``, so two sweeps never run into one folder at once."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        handle = open(self.directory / ".lock", "a+")  # noqa: SIM115 - held open for the sweep
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SweepError(f"{self.directory}: another sweep is running in this folder; wait for it to end "
                             "or stop it, then --resume") from None
        self._lock_handle = handle

    def close(self) -> None:
        """Release the folder's lock (also released if the process dies)."""
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            handle.close()
            self._lock_handle = None

    def _write_info(self, experiment: Experiment, plan: list[RunSpec], path: Path) -> None:
        from importlib import metadata

        previous = self.info() if path.exists() else {}
        try:
            version = metadata.version("talentsim")
        except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without installation
            version = "unknown"
        d = experiment.definition
        info = {
            "format": FORMAT,
            "name": d.name,
            "description": d.description,
            "experiment_file": experiment.file,
            "fingerprint": experiment.fingerprint,
            "created": previous.get("created", _now()),
            "updated": _now(),
            "talentsim_version": version,
            "runs": len(plan),
            "levers": list(d.levers),
            "uncertainties": experiment.uncertainty_names,
            "interval": INTERVAL_KINDS["replicates" if experiment.ensemble is None else "ensemble"],
            "outcomes": list(d.outcomes),
            "curves": list(d.curves),
            "columns": experiment.columns(),
            "experiment": d.model_dump(mode="json", by_alias=True),
            "base_scenario": experiment.base_data,
        }
        write_text(path, _json(info))

    def info(self) -> dict[str, Any]:
        """Return the content of ``experiment.json``."""
        path = self.directory / "experiment.json"
        if not path.exists():
            raise FileNotFoundError(f"{self.directory}: no experiment.json; is this the --out folder of 'talentsim sweep'?")
        return json.loads(path.read_text(encoding="utf-8"))

    # ---- runs

    def records(self) -> dict[str, dict[str, Any]]:
        """Return the record of every run with a file, by run id."""
        out = {}
        if not self.runs_dir.is_dir():
            return out
        for path in self.runs_dir.glob("*.json"):
            if path.name.startswith("."):
                continue
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # unreadable: the run is redone
                continue
            out[record.get("run_id", path.stem)] = record
        return out

    def curves_path(self, run_id: str) -> Path:
        """Return the path of a run's curves."""
        return self.runs_dir / f"{run_id}.curves.parquet"

    def save_run(self, record: dict[str, Any], curves: pd.DataFrame | None) -> None:
        """Write one run: its curves first, then its record, each atomically; the record marks it finished."""
        if curves is not None:
            atomic_write(self.curves_path(record["run_id"]), lambda tmp: curves.to_parquet(tmp, index=False))
        write_text(self.runs_dir / f"{record['run_id']}.json", _json(record))

    # ---- tables

    def write_index(self, plan: list[RunSpec], records: dict[str, dict[str, Any]]) -> None:
        """Write ``index.parquet`` and ``index.csv``: every planned run with its status."""
        table = index_table([plan_row(s) for s in plan], records, self._parameter_names(plan))
        atomic_write(self.directory / "index.parquet", lambda tmp: table.to_parquet(tmp, index=False))
        atomic_write(self.directory / "index.csv", lambda tmp: table.to_csv(tmp, index=False))

    def _parameter_names(self, plan: list[RunSpec]) -> list[str]:
        if self._info is None:
            self._info = self.info()
        return [*self._info["levers"], *self._info["uncertainties"]]

    def clear_tables(self) -> None:
        """Remove the consolidated tables (a sweep is about to change what they would hold)."""
        for name in ("outcomes.parquet", "outcomes.csv", "curves.parquet"):
            (self.directory / name).unlink(missing_ok=True)

    def write_tables(self, plan: list[RunSpec], records: dict[str, dict[str, Any]]) -> None:
        """Write ``outcomes.parquet`` (and .csv) and ``curves.parquet`` from the finished runs' files."""
        info = self.info()
        outcomes, curves = tables_from_runs(self, [plan_row(s) for s in plan], records, info)
        atomic_write(self.directory / "outcomes.parquet", lambda tmp: outcomes.to_parquet(tmp, index=False))
        atomic_write(self.directory / "outcomes.csv", lambda tmp: outcomes.to_csv(tmp, index=False))
        atomic_write(self.directory / "curves.parquet", lambda tmp: curves.to_parquet(tmp, index=False))


def _parameter_column(values: list[Any]) -> list[Any]:
    """Return a column that Parquet can hold: numbers, true/false or text; anything else as JSON text."""
    present = [v for v in values if v is not None]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if numbers or all(isinstance(v, bool) for v in present) or all(isinstance(v, str) for v in present):
        return values
    return [v if isinstance(v, str) or v is None else json.dumps(v, sort_keys=True) for v in values]


def _frame(rows: list[dict[str, Any]], columns: list[str], parameters: Iterable[str]) -> pd.DataFrame:
    import pandas as pd

    data = {c: [r.get(c) for r in rows] for c in columns}
    for name in parameters:
        if name in data:
            data[name] = _parameter_column(data[name])
    return pd.DataFrame(data, columns=columns)


def _sort_key(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["arm"], row["sample"], row["replicate"]


def index_table(plan_rows: list[dict[str, Any]], records: dict[str, dict[str, Any]], parameters: list[str]) -> pd.DataFrame:
    """Return the index: one row per planned run with its status, attempts, wall time and error."""
    rows = []
    for row in sorted(plan_rows, key=_sort_key):
        record = records.get(row["run_id"], {})
        rows.append({
            **row,
            "status": record.get("status", "pending"),
            "attempts": record.get("attempts", 0),
            "wall_time_s": record.get("wall_time_s"),
            "error": record.get("error"),
            "worker": record.get("worker"),
            "finished": record.get("finished"),
        })
    columns = ["run_id", "status", "attempts", "arm", "sample", "replicate", "seed", *parameters,
               "wall_time_s", "error", "worker", "finished"]
    table = _frame(rows, columns, parameters)
    table["wall_time_s"] = table["wall_time_s"].astype("float64")
    for name in ("arm", "sample", "replicate", "seed", "attempts"):
        table[name] = table[name].astype("int64")
    return table


def tables_from_runs(
    store: ExperimentStore, plan_rows: list[dict[str, Any]], records: dict[str, dict[str, Any]], info: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the outcome table and the curve table of the finished runs, in (arm, sample, replicate) order."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .outcomes import CURVE_COLUMNS

    parameters = [*info["levers"], *info["uncertainties"]]
    outcome_names = info["outcomes"]
    done = [r for r in sorted(plan_rows, key=_sort_key) if records.get(r["run_id"], {}).get("status") == "done"]
    rows = []
    for row in done:
        values = records[row["run_id"]].get("outcomes") or {}
        rows.append({**row, **{n: values.get(n) for n in outcome_names}})
    outcomes = _frame(rows, [*IDENTITY, *parameters, *outcome_names], parameters)
    for name in outcome_names:
        outcomes[name] = pd.to_numeric(outcomes[name], errors="coerce").astype("float64")
    for name in ("arm", "sample", "replicate", "seed"):
        outcomes[name] = outcomes[name].astype("int64")

    parts = []
    if info["curves"]:
        for row in done:
            path = store.curves_path(row["run_id"])
            if path.exists():
                parts.append(pq.read_table(path))
    if parts:
        curves = pa.concat_tables(parts, promote_options="default").to_pandas()
    else:
        curves = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("year", "value") else ("int64" if c == "step" else object))
                               for c in CURVE_COLUMNS})
    return outcomes, curves.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# Reading a sweep back


@dataclass
class ExperimentResults:
    """The tables of a sweep, read back from its folder.

    ``outcomes``: one row per finished run (run_id, arm, sample, replicate, seed, each lever and uncertainty,
    each outcome). ``curves``: one row per run x curve x step x region/origin (join to ``outcomes`` on
    run_id). ``runs``: the index of every planned run with its status. ``complete`` is false while a sweep
    is running or after one was stopped: the tables then hold the runs finished so far.

    Unpacks as ``outcomes, curves = read_experiment(folder)``.
    """

    outcomes: pd.DataFrame
    curves: pd.DataFrame
    runs: pd.DataFrame
    info: dict[str, Any] = field(repr=False)
    complete: bool = True

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.outcomes, self.curves))

    @property
    def levers(self) -> list[str]:
        """Return the names of the levers (columns of ``outcomes``)."""
        return list(self.info["levers"])

    @property
    def uncertainties(self) -> list[str]:
        """Return the names of the uncertainties (columns of ``outcomes``)."""
        return list(self.info["uncertainties"])

    @property
    def outcome_names(self) -> list[str]:
        """Return the names of the outcomes (columns of ``outcomes``)."""
        return list(self.info["outcomes"])

    def label(self, name: str, unit: bool = True) -> str:
        """Return the label of a lever, uncertainty, outcome or curve, with its unit in brackets."""
        column = self.info["columns"].get(name)
        if column is None:
            return name
        text = column["label"]
        return f"{text} [{column['unit']}]" if unit and column.get("unit") else text

    def curves_with_parameters(self) -> pd.DataFrame:
        """Return the curve table with each run's identity and parameters joined on."""
        keep = [*IDENTITY, *self.levers, *self.uncertainties]
        return self.curves.merge(self.outcomes[keep], on="run_id", how="left")


def outcomes_by_arm(results: ExperimentResults, statistic: str = "mean") -> pd.DataFrame:
    """Return each outcome's ``statistic`` over the samples and replicates of every lever arm, with the run count."""
    import pandas as pd

    table = results.outcomes
    names = results.outcome_names
    if table.empty:
        return pd.DataFrame(columns=[*(results.levers or ["arm"]), *names, "runs"])
    keys = results.levers or ["arm"]
    grouped = table.groupby(keys, sort=True, dropna=False)
    out = grouped[names].agg(statistic)
    out["runs"] = grouped.size()
    return out.reset_index()


def format_outcomes_by_arm(results: ExperimentResults, max_rows: int = 40) -> str:
    """Return the mean outcomes of every lever arm as aligned text, with a key to the columns."""
    table = outcomes_by_arm(results)
    if table.empty:
        return "No finished runs yet."
    units = {n: results.info["columns"].get(n, {}).get("unit", "") for n in results.outcome_names}

    def cell(name: str, value: Any) -> str:
        if isinstance(value, float) and math.isnan(value):
            return "-"
        if units.get(name) == "share":
            return f"{value:.1%}"
        if units.get(name) == "researchers":
            return f"{value:,.0f}"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    columns = list(table.columns)
    rows = [[cell(c, r[c]) for c in columns] for r in table.head(max_rows).to_dict("records")]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    what = "lever arm" if results.levers else "sweep"
    lines = [f"Mean outcome by {what} (over uncertainty samples and replicates):"]
    lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    lines += ["  " + "  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    if len(table) > max_rows:
        lines.append(f"  ... {len(table) - max_rows} more arms")
    lines.append("where")
    for name in [*results.levers, *results.outcome_names]:
        lines.append(f"  {name}: {results.label(name)}")
    return "\n".join(lines)


def read_experiment(directory: str | Path) -> ExperimentResults:
    """Return the outcome table, the curve table and the run index of the sweep in ``directory``.

    Works on a finished sweep, a running one and one that was stopped (the tables then hold the runs
    finished so far, and ``complete`` is false).
    """
    import pandas as pd

    store = ExperimentStore(directory)
    info = store.info()
    d = store.directory
    index_path = d / "index.parquet"
    if not index_path.exists():
        raise FileNotFoundError(f"{d}: no index.parquet; the sweep stopped before it began")
    index = pd.read_parquet(index_path)
    tables = [d / "outcomes.parquet", d / "curves.parquet"]
    if all(p.exists() for p in tables):
        outcomes, curves = (pd.read_parquet(p) for p in tables)
        return ExperimentResults(outcomes, curves, index, info, complete=True)
    parameters = [*info["levers"], *info["uncertainties"]]
    plan_rows = index[["run_id", "arm", "sample", "replicate", "seed", *parameters]].to_dict("records")
    records = store.records()
    outcomes, curves = tables_from_runs(store, plan_rows, records, info)
    return ExperimentResults(outcomes, curves, index_table(plan_rows, records, parameters), info, complete=False)
