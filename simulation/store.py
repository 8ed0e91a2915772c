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
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

from .ensemble import INTERVAL_KINDS
from .experiment import ID_LENGTH, Experiment, RunSpec
from .outputs import ResultsError, atomic_write, sha256, write_text

__all__ = ["ExperimentStore", "SweepError", "read_experiment"]

FORMAT = 1
STATUSES = ("pending", "done", "failed")
IDENTITY = ("run_id", "arm", "sample", "replicate", "seed")
RUN_ID = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")


def _why(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


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
        info = store._readable_info()
        if info is None and d.is_dir() and store._has_runs():
            if not resume:
                raise SweepError(f"{d} holds finished runs but its experiment.json is missing or damaged; add --resume "
                                 "to rebuild it from the experiment file and keep the runs that belong to it")
        elif info is not None:
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
        if info is None and not store._has_runs() and d.exists() and any(
                not p.name.startswith(".") for p in d.iterdir()):
            raise SweepError(f"{d}: the folder is not empty and holds no sweep (no experiment.json); choose another --out")
        try:
            store.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"--out {d}: cannot create the folder ({exc.strerror or exc}); choose another --out") from None
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

        previous = self._readable_info() or {}
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
        """Return the content of ``experiment.json``, or, if it is missing or damaged, what the run files tell.

        Raises:
            ResultsError: the folder holds neither (it is not the folder of a sweep).
        """
        info = self._readable_info()
        if info is not None:
            return info
        info = info_from_runs(self)
        if info is None:
            raise ResultsError(f"{self.directory}: no experiment.json and no finished runs; is this the --out folder "
                               "of 'talentsim sweep'?")
        return info

    def _readable_info(self) -> dict[str, Any] | None:
        try:
            info = json.loads((self.directory / "experiment.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        needed = ("levers", "uncertainties", "outcomes", "curves", "columns", "fingerprint")
        return info if isinstance(info, dict) and all(k in info for k in needed) else None

    def _has_runs(self) -> bool:
        return self.runs_dir.is_dir() and any(self._run_files())

    def _run_files(self) -> Iterator[Path]:
        for path in self.runs_dir.glob("*.json"):
            if RUN_ID.match(path.stem):
                yield path

    def running(self) -> bool:
        """Return whether a sweep is writing this folder now (it holds the folder's lock)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return False
        try:
            handle = open(self.directory / ".lock")  # noqa: SIM115 - closed below
        except OSError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            handle.close()
        return False

    # ---- runs

    def records(self) -> dict[str, dict[str, Any]]:
        """Return the record of every run whose files are whole, by run id (see :meth:`check`)."""
        return self.check()[0]

    def check(self, fingerprint: str | None = None, quarantine: bool = False) -> tuple[
            dict[str, dict[str, Any]], dict[str, str]]:
        """Return (records of runs whose files are whole, {run id: what is wrong} for runs whose files are not).

        A finished run counts only if its record reads and its curves file is there with the rows and
        checksum the record names; a run of another experiment (``fingerprint`` differs) does not count.
        With ``quarantine``, the files of damaged runs are moved to ``runs/damaged/`` (kept for inspection,
        out of the way of the run that replaces them).
        """
        records: dict[str, dict[str, Any]] = {}
        damaged: dict[str, str] = {}
        if not self.runs_dir.is_dir():
            return records, damaged
        for path in self._run_files():
            run_id = path.stem
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(record, dict) or record.get("run_id") != run_id:
                    raise ValueError("not the record of this run")
            except (OSError, ValueError) as exc:
                damaged[run_id] = f"its record {path.name} is damaged ({_why(exc)})"
                continue
            if fingerprint is not None and record.get("fingerprint") not in (None, fingerprint):
                continue  # a run of another experiment: not ours to count
            problem = self._curves_problem(record) if record.get("status") == "done" else None
            if problem:
                damaged[run_id] = problem
                continue
            records[run_id] = record
        if quarantine:
            for run_id in damaged:
                self._quarantine(run_id)
        return records, damaged

    def _curves_problem(self, record: dict[str, Any]) -> str | None:
        """Return what is wrong with a finished run's curves file, or None if it is whole."""
        if "curves_rows" not in record:
            return None  # the sweep keeps no curves
        path = self.curves_path(record["run_id"])
        if not path.is_file():
            return f"its curves file {path.name} is missing"
        expected = record.get("curves_sha256")
        if expected and sha256(path) != expected:
            return f"its curves file {path.name} does not match its checksum (truncated or changed)"
        if not expected:
            try:
                import pyarrow.parquet as pq

                rows = pq.read_metadata(path).num_rows
            except Exception as exc:  # noqa: BLE001 - any reader error means a damaged file
                return f"its curves file {path.name} cannot be read ({_why(exc)})"
            if rows != record["curves_rows"]:
                return f"its curves file {path.name} holds {rows} rows, not {record['curves_rows']}"
        return None

    def _quarantine(self, run_id: str) -> None:
        folder = self.runs_dir / "damaged"
        folder.mkdir(exist_ok=True)
        for path in (self.runs_dir / f"{run_id}.json", self.curves_path(run_id)):
            if path.exists():
                os.replace(path, folder / path.name)

    def curves_path(self, run_id: str) -> Path:
        """Return the path of a run's curves."""
        return self.runs_dir / f"{run_id}.curves.parquet"

    def save_run(self, record: dict[str, Any], curves: pd.DataFrame | None) -> None:
        """Write one run: its curves first, then its record, each atomically; the record marks it finished.

        The record names the curves' row count and checksum, so a damaged curves file is found on resume.
        """
        if curves is not None:
            path = atomic_write(self.curves_path(record["run_id"]), lambda tmp: curves.to_parquet(tmp, index=False))
            record = {**record, "curves_rows": len(curves), "curves_sha256": sha256(path)}
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
        readable = []
        for row in done:
            try:  # a file replaced or moved since its record was read: the run counts as not finished
                parts.append(pq.read_table(store.curves_path(row["run_id"])))
            except Exception:  # noqa: BLE001 - any reader error means the run is not whole
                continue
            readable.append(row["run_id"])
        if len(readable) < len(done):
            outcomes = outcomes[outcomes["run_id"].isin(readable)].reset_index(drop=True)
    if parts:
        curves = pa.concat_tables(parts, promote_options="default").to_pandas()
    else:
        curves = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("year", "value") else ("int64" if c == "step" else object))
                               for c in CURVE_COLUMNS})
    return outcomes, curves.reset_index(drop=True)


def info_from_runs(store: ExperimentStore) -> dict[str, Any] | None:
    """Return what the run files tell of their experiment (names of parameters and outcomes), or None."""
    records, _ = store.check()
    if not records:
        return None
    first = next(iter(records.values()))
    names = {key: list((first.get(key) or {}).keys()) for key in ("levers", "uncertainties", "outcomes")}
    curves: list[str] = []
    for record in records.values():
        if record.get("status") == "done" and "curves_rows" in record:
            try:
                import pyarrow.parquet as pq

                table = pq.read_table(store.curves_path(record["run_id"]), columns=["curve"])
                curves = sorted(set(table.column("curve").to_pylist()))
                break
            except Exception:  # noqa: BLE001 - try the next run
                continue
    return {"format": FORMAT, "name": store.directory.name, "rebuilt": True, "runs": len(records),
            "fingerprint": first.get("fingerprint"), **names, "curves": curves, "columns": {}}


def read_experiment(directory):
    """Return the tables of the sweep in ``directory`` (see :func:`simulation.sweep_results.read_experiment`)."""
    from .sweep_results import read_experiment as read

    return read(directory)


def __getattr__(name: str) -> Any:
    """Reading a sweep back lives in :mod:`simulation.sweep_results`; its names are found here too."""
    if name in ("ExperimentResults", "format_outcomes_by_arm", "outcomes_by_arm"):
        from . import sweep_results

        return getattr(sweep_results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
