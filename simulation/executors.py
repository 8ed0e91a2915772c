"""Running a sweep: the runs of an experiment in this process, on local worker processes, or on a Dask cluster.

This module holds ``sweep``, which plans the runs, hands them to an executor and stores what comes back, and
``choose_executor``, which picks the executor. One run is :mod:`.run_tasks` (the same ``execute(task)`` for
every executor, so a run gives identical results wherever it runs); the executors are in
:mod:`.local_executors` (this process, local worker processes) and :mod:`.dask_executor`. A run that fails is
recorded with its error, and the sweep goes on.

dask.distributed is an optional extra, imported only when a sweep is sent to a Dask cluster.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .extras import MissingExtra  # noqa: F401 - raised here, and imported from here by the command line
from .local_executors import LocalExecutor, SerialExecutor, WorkerStartError
from .run_tasks import RunOutput, RunTask, execute, tune_allocator

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .experiment import Experiment, RunSpec
    from .scenario import Scenario

__all__ = ["LocalExecutor", "RunOutput", "RunTask", "SerialExecutor", "SweepInterrupted", "SweepSummary",
           "WorkerStartError", "choose_executor", "default_workers", "execute", "sweep", "tune_allocator"]

INDEX_EVERY_S = 1.0  # how often the index is refreshed while a sweep runs
CONNECT_TIMEOUT_S = 10
DASK_WINDOW = 1000  # runs sent to a Dask scheduler ahead of their results
DASK_EXTRA = "pip install 'talentsim[dask]' (or: pip install 'dask[distributed]')"


# --------------------------------------------------------------------------------------------------------------
# Choosing where the runs go


def default_workers() -> int:
    """Return the number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def choose_executor(workers: int | None = None, scheduler: str | None = None, cluster: str | None = None):
    """Return the executor asked for: a Dask cluster (address or 'local'), this process (workers=0) or a pool."""
    if scheduler and cluster:
        raise ValueError("give either a scheduler address or cluster='local', not both")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 (this process) or more, got {workers}")
    if scheduler:
        import re

        if not re.fullmatch(r"(?:[a-z]+://)?(?:\[[0-9A-Fa-f:.]+\]|[^/:\s\[\]]+):\d{1,5}/?", scheduler.strip()):
            raise ValueError(f"the scheduler address {scheduler!r} is not written HOST:PORT; write it as "
                             "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786 (dask scheduler prints it when it starts)")
        if workers is not None:
            raise ValueError("workers applies to local processes and cluster='local'; a cluster's workers are set "
                             "when they are started (dask worker ADDRESS --nworkers N --nthreads 1)")
        from .dask_executor import DaskExecutor

        return DaskExecutor(scheduler=scheduler)
    if cluster is not None:
        if cluster != "local":
            raise ValueError(f"cluster must be 'local' (a Dask cluster on this machine), got {cluster!r}; for another "
                             "cluster give its scheduler address")
        from .dask_executor import DaskExecutor

        return DaskExecutor(local_workers=workers or default_workers())
    if workers == 0:
        return SerialExecutor()
    return LocalExecutor(workers or default_workers())


# --------------------------------------------------------------------------------------------------------------
# The sweep


@dataclass
class SweepSummary:
    """What a sweep did."""

    name: str
    directory: Path
    planned: int
    arms: int
    samples: int
    replicates: int
    skipped: int = 0  # finished by an earlier sweep of the same folder
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, error)
    interrupted: bool = False
    cancelled: int = 0  # taken back by the cluster before they finished: not run, not failed
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (run id, what was wrong) of runs redone
    wall_time_s: float = 0.0
    executor: str = ""

    @property
    def ok(self) -> bool:
        """Return whether every planned run is finished."""
        return not self.failed and not self.interrupted and self.skipped + self.done == self.planned

    @property
    def pending(self) -> int:
        """Return the runs neither finished nor failed."""
        return self.planned - self.skipped - self.done - len(self.failed)

    def format(self, resume_command: str | None = None) -> str:
        """Return the summary as text for the terminal; ``resume_command`` is how to finish, if it is not."""
        d = self.directory
        ran = self.done + len(self.failed)
        rate = f", {ran / self.wall_time_s * 60:.0f} runs/min" if ran and self.wall_time_s > 0 else ""
        lines = [
            f"Sweep '{self.name}': {self.planned} runs ({self.arms} lever arm{'s' if self.arms != 1 else ''} x "
            f"{self.samples} uncertainty sample{'s' if self.samples != 1 else ''} x {self.replicates} "
            f"replicate{'s' if self.replicates != 1 else ''})",
            f"  {self.done} finished now" + (f", {self.skipped} finished before (resumed)" if self.skipped else "")
            + f", {len(self.failed)} failed" + (f", {self.pending} not run" if self.pending else "")
            + f"; {self.wall_time_s:.1f} s on {self.executor}{rate}",
        ]
        if self.failed:
            lines.append(f"  Failed runs (errors in {d / 'index.csv'} and {d / 'runs'}/ID.json):")
            for run_id, error in self.failed[:10]:
                lines.append(f"    {run_id}: {_cut(error, 150)}")
            if len(self.failed) > 10:
                lines.append(f"    ... and {len(self.failed) - 10} more")
        if self.damaged:
            lines.append(f"  {len(self.damaged)} run(s) finished earlier had missing or damaged files, were set aside "
                         f"in {d / 'runs' / 'damaged'}/ and run again:")
            for run_id, why in self.damaged[:5]:
                lines.append(f"    {run_id}: {why}")
            if len(self.damaged) > 5:
                lines.append(f"    ... and {len(self.damaged) - 5} more")
        if self.cancelled:
            lines.append(f"  {self.cancelled} run(s) were cancelled by the cluster before they finished; they count as "
                         "not run.")
        if self.interrupted:
            lines.append("  Interrupted: finished runs are saved.")
        if not self.ok:
            lines.append(f"  To finish, run: {resume_command}" if resume_command else
                         "  Run the same command with --resume to finish: finished runs are kept, failed and "
                         "missing ones are run again.")
        if self.skipped + self.done:
            lines.append(f"  Results: {d / 'outcomes.parquet'} (one row per run), {d / 'curves.parquet'}, "
                         f"index of runs {d / 'index.csv'}" if not self.interrupted else
                         f"  Results so far: simulation.read_experiment('{d}')")
        return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C after saving what was finished; ``summary`` says what that is."""

    def __init__(self, summary: SweepSummary):
        super().__init__("sweep interrupted")
        self.summary = summary


def sweep(
    experiment: Experiment | Scenario | str | Path,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    resume: bool = False,
    progress: bool = True,
    **design: Any,
) -> SweepSummary:
    """Run every run of an experiment and store the results in ``out``; return what was done.

    Without a file, give a scenario and the experiment's parts as keywords (``levers``, ``uncertainties``,
    ``outcomes``, ``curves``, ``replicates``, ``sampler``, ``samples``, ``seed``, ``name``, ``run``; see
    ``simulation.experiment.experiment_from``)::

        sweep(load_scenario("scenarios/baseline.yaml"), "results/visa",
              levers={"levers.visa_odds.US.default": [0.35, 0.9]},
              uncertainties={"preferences.default.pay.mean": (1.0, 2.0)},
              replicates=2, sampler="latin_hypercube", samples=8)

    The results folder is the same as a file's: read it with ``read_experiment(out)``.

    Args:
        experiment: an experiment, the path of an experiment file, or a base scenario (with ``design``).
        out: results folder (default ``results/NAME``). See ``simulation.store`` for what it holds.
        workers: local worker processes (default: every core); 0 runs in this process. With
            ``cluster="local"``, the workers of the local Dask cluster.
        scheduler: address of a Dask scheduler (``tcp://HOST:PORT``) whose workers do the runs.
        cluster: ``"local"`` to start a Dask cluster on this machine for the sweep.
        resume: continue the sweep already in ``out``: finished runs are kept, failed and missing ones run.
        progress: show a progress bar (runs done, failed, time left) on standard error.

    Raises:
        ExperimentError: the experiment file has problems. SweepError: ``out`` cannot take this sweep.
        SweepInterrupted: Ctrl-C; what was finished is saved, and ``resume=True`` continues.
    """
    from .experiment import lever_arms, load_experiment, uncertainty_samples
    from .outputs import folder_for
    from .store import ExperimentStore, SweepError

    from .scenario import Scenario

    if isinstance(experiment, Scenario):
        from .experiment import experiment_from

        experiment = experiment_from(experiment, **design)
    elif design:
        raise TypeError(f"{', '.join(design)}: give these with a base scenario; an experiment file already sets them")
    elif not hasattr(experiment, "definition"):
        experiment = load_experiment(experiment)
    plan = experiment.runs()
    out = Path(out) if out is not None else folder_for("results", experiment.name)
    try:
        executor = choose_executor(workers, scheduler, cluster)
    except ValueError as exc:
        raise SweepError(str(exc)) from None

    summary = SweepSummary(
        experiment.name, out, len(plan), len(lever_arms(experiment.definition)),
        len(uncertainty_samples(experiment.definition)), experiment.definition.replicates,
        executor=executor.description,
    )
    executor.open()
    started = time.perf_counter()
    bar = None
    store = None
    try:
        store = ExperimentStore.prepare(experiment, out, plan, resume)
        planned = {spec.run_id for spec in plan}
        records, damaged = store.check(experiment.fingerprint, quarantine=True)
        records = {k: v for k, v in records.items() if k in planned}
        summary.damaged = sorted((k, why) for k, why in damaged.items() if k in planned)
        todo = [spec for spec in plan if records.get(spec.run_id, {}).get("status") != "done"]
        summary.skipped = len(plan) - len(todo)
        store.write_index(plan, records)
        if todo:
            store.clear_tables()
        by_id = {spec.run_id: spec for spec in todo}
        d = experiment.definition
        tasks = [
            RunTask(spec, experiment.base_data, experiment.settings_for(spec), dict(d.outcomes), dict(d.curves),
                    experiment.file)
            for spec in todo
        ]
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(plan), initial=summary.skipped, desc=experiment.name, unit="run", file=sys.stderr,
                       dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
            bar.set_postfix_str("failed 0", refresh=False)
        last_index = time.monotonic()
        outputs = executor.results(tasks)
        try:
            for output in outputs:
                spec = by_id[output.run_id]
                if output.status == "cancelled":  # not finished, not failed: a resume runs it
                    summary.cancelled += 1
                    continue
                record = _record(spec, output, records.get(spec.run_id), experiment.fingerprint)
                store.save_run(record, output.curves if output.status == "done" else None)
                records[spec.run_id] = record
                if output.status == "done":
                    summary.done += 1
                else:
                    summary.failed.append((spec.run_id, output.error or "unknown error"))
                if bar is not None:
                    bar.set_postfix_str(f"failed {len(summary.failed)}", refresh=False)
                    bar.update(1)
                if time.monotonic() - last_index >= INDEX_EVERY_S:
                    store.write_index(plan, records)
                    last_index = time.monotonic()
        except KeyboardInterrupt:
            summary.interrupted = True
            store.write_index(plan, records)
            raise SweepInterrupted(summary) from None
        finally:
            outputs.close()  # stops the workers at once if the sweep ends early
            if bar is not None:
                bar.close()
        store.write_tables(plan, records)
        store.write_index(plan, records)
    finally:
        executor.close()
        if store is not None:
            store.close()
        summary.wall_time_s = time.perf_counter() - started
    return summary


def _record(spec: RunSpec, output: RunOutput, previous: dict[str, Any] | None, fingerprint: str) -> dict[str, Any]:
    import datetime as dt

    return {
        "run_id": spec.run_id,
        "fingerprint": fingerprint,
        "status": output.status,
        "attempts": (previous or {}).get("attempts", 0) + 1,
        "arm": spec.arm,
        "sample": spec.sample,
        "replicate": spec.replicate,
        "seed": spec.seed,
        "levers": copy.deepcopy(dict(spec.levers)),
        "uncertainties": copy.deepcopy(dict(spec.uncertainties)),
        "outcomes": output.outcomes,
        "error": output.error,
        "traceback": output.traceback,
        "wall_time_s": round(output.wall_time_s, 4),
        "worker": output.worker,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
