"""Reading a sweep back: its outcome and curve tables, the index of its runs, and how many are in each state."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import ResultsError
from .store import IDENTITY, ExperimentStore, index_table, plan_row, tables_from_runs

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["ExperimentResults", "format_outcomes_by_arm", "outcomes_by_arm", "read_experiment"]




@dataclass
class ExperimentResults:
    """The tables of a sweep, read back from its folder.

    ``outcomes``: one row per finished run (run_id, arm, sample, replicate, seed, each lever and uncertainty,
    each outcome). ``curves``: one row per run x curve x step x region/origin (join to ``outcomes`` on
    run_id). ``runs``: the index of every planned run with its status. ``complete`` is true only when every
    planned run is finished; otherwise the tables hold the runs finished so far, and ``finished``, ``failed``,
    ``missing`` (not run, cancelled, or with damaged files) and ``damaged`` say how many runs are in each state.

    Unpacks as ``outcomes, curves = read_experiment(folder)``.
    """

    outcomes: pd.DataFrame
    curves: pd.DataFrame
    runs: pd.DataFrame
    info: dict[str, Any] = field(repr=False)
    complete: bool = True
    finished: int = 0
    failed: int = 0
    missing: int = 0
    damaged: int = 0

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

    Works on a finished sweep, a running one (a consistent snapshot of the runs finished so far) and one that
    was stopped or damaged: runs whose files are missing or unreadable count as not finished, and the index
    and the description of the experiment are rebuilt from the run files if they are lost. ``finished``,
    ``failed``, ``missing`` and ``damaged`` say how many runs are in each state; ``complete`` is true only
    when every planned run is finished.

    Raises:
        ResultsError: the folder is not the folder of a sweep.
    """
    import pandas as pd

    store = ExperimentStore(directory)
    d = store.directory
    if not d.is_dir():
        raise ResultsError(f"{d}: no such folder; give the --out folder of 'talentsim sweep'")
    info = store.info()
    running = store.running()
    records, damaged = store.check(info.get("fingerprint"))
    plan_rows = _plan_rows(store, info, records)
    parameters = [*info["levers"], *info["uncertainties"]]
    planned = {row["run_id"] for row in plan_rows}
    records = {k: v for k, v in records.items() if k in planned}
    done = sum(1 for r in records.values() if r.get("status") == "done")
    failed = sum(1 for r in records.values() if r.get("status") == "failed")
    index = index_table(plan_rows, records, parameters)
    counts = {"finished": done, "failed": failed, "missing": len(plan_rows) - done - failed,
              "damaged": len([k for k in damaged if k in planned])}
    complete = counts["missing"] == 0 and failed == 0 and not running
    tables = [d / "outcomes.parquet", d / "curves.parquet"]
    if not running and all(p.exists() for p in tables):
        try:
            outcomes, curves = (pd.read_parquet(p) for p in tables)
        except Exception:  # noqa: BLE001 - a damaged or replaced table: rebuild it from the run files
            outcomes = None
        if outcomes is not None and set(outcomes["run_id"]) == {k for k, r in records.items()
                                                                 if r.get("status") == "done"}:
            return ExperimentResults(outcomes, curves, index, info, complete=complete, **counts)
        if outcomes is not None and not records and not damaged:
            # the tables without the run files (copied, or runs/ cleared to save space): the tables are the record
            return _from_tables(store, plan_rows, parameters, outcomes, curves, info)
    outcomes, curves = tables_from_runs(store, plan_rows, records, info)
    return ExperimentResults(outcomes, curves, index, info, complete=complete, **counts)


def _from_tables(store: ExperimentStore, plan_rows: list[dict[str, Any]], parameters: list[str],
                 outcomes: pd.DataFrame, curves: pd.DataFrame, info: dict[str, Any]) -> ExperimentResults:
    """Return a sweep read from its consolidated tables and index alone (its run files are gone)."""
    import pandas as pd

    finished = set(outcomes["run_id"])
    try:
        index = pd.read_parquet(store.directory / "index.parquet")
        status = dict(zip(index["run_id"], index["status"]))
    except Exception:  # noqa: BLE001 - no readable index: what the outcomes table holds is finished
        status = {}
    records = {row["run_id"]: {"status": "done" if row["run_id"] in finished else status.get(row["run_id"], "pending")}
               for row in plan_rows}
    records = {k: v for k, v in records.items() if v["status"] != "pending"}
    failed = sum(1 for r in records.values() if r["status"] == "failed")
    done = len(finished)
    counts = {"finished": done, "failed": failed, "missing": len(plan_rows) - done - failed, "damaged": 0}
    return ExperimentResults(outcomes, curves, index_table(plan_rows, records, parameters), info,
                             complete=counts["missing"] == 0 and failed == 0, **counts)


def _plan_rows(store: ExperimentStore, info: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every planned run's identity and parameters: from the index, the experiment, or the run files."""
    import pandas as pd

    parameters = [*info["levers"], *info["uncertainties"]]
    try:
        index = pd.read_parquet(store.directory / "index.parquet")
        rows = index[[*IDENTITY, *parameters]].to_dict("records")
        if len(rows) == info.get("runs", len(rows)):
            return rows
    except Exception:  # noqa: BLE001 - a missing or damaged index is rebuilt
        pass
    if "experiment" in info:
        from .experiment import ExperimentFile, expand

        try:
            return [plan_row(spec) for spec in expand(ExperimentFile.model_validate(info["experiment"]))]
        except Exception:  # noqa: BLE001 - an experiment this version cannot read: the run files remain
            pass
    return [{"run_id": r["run_id"], "arm": r.get("arm", 0), "sample": r.get("sample", 0),
             "replicate": r.get("replicate", 0), "seed": r.get("seed", 0), **(r.get("levers") or {}),
             **(r.get("uncertainties") or {})} for r in records.values()]


