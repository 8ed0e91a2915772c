"""Running a sweep: the runs of an experiment in this process, on local worker processes, or on a Dask cluster.

Every executor runs the same function, ``execute(task)``, on the same task data, so a run gives identical
results wherever it runs. A run that raises is returned as failed with its error, and the sweep goes on.
A worker process that dies has its runs given to another; a run that was in flight each time a worker died,
three times over, is recorded as failed rather than retried for ever.

dask.distributed is an optional extra, imported only when a sweep is sent to a Dask cluster.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .extras import MissingExtra  # noqa: F401 - raised here, and imported from here by the command line

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from .experiment import Experiment, RunSpec, Setting
    from .scenario import Scenario

__all__ = ["RunOutput", "RunTask", "SweepInterrupted", "SweepSummary", "execute", "sweep"]

MAX_CRASHES = 3  # deaths of the worker running a run before the run is recorded as failed
INDEX_EVERY_S = 1.0  # how often the index is refreshed while a sweep runs
CONNECT_TIMEOUT_S = 10
DASK_WINDOW = 1000  # runs sent to a Dask scheduler ahead of their results
DASK_EXTRA = "pip install 'talentsim[dask]' (or: pip install 'dask[distributed]')"


# --------------------------------------------------------------------------------------------------------------
# One run


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run: plain data and declarations, no open files or models."""

    spec: RunSpec
    base: dict[str, Any]
    settings: tuple[Setting, ...]
    outcomes: dict[str, Any]
    curves: dict[str, Any]
    source: str


@dataclass
class RunOutput:
    """What a run gives back: its outcomes and curves, or its error."""

    run_id: str
    status: str  # "done" or "failed"
    outcomes: dict[str, float] = field(default_factory=dict)
    curves: pd.DataFrame | None = None
    error: str | None = None
    traceback: str | None = None
    wall_time_s: float = 0.0
    worker: str = ""


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(task: RunTask) -> RunOutput:
    """Run one task and return its outcomes and curves; a run that raises comes back as failed."""
    from .experiment import build_scenario
    from .outcomes import evaluate
    from .runner import run

    started = time.perf_counter()
    try:
        scenario = build_scenario(task.base, task.settings, f"{task.source}, run {task.spec.run_id}")
        result = run(scenario, seed=task.spec.seed, replicates=1)
        values, curves = evaluate(result, task.outcomes, task.curves, task.spec.run_id)
        return RunOutput(task.spec.run_id, "done", values, curves if task.curves else None,
                         wall_time_s=time.perf_counter() - started, worker=_worker_name())
    except Exception as exc:  # noqa: BLE001 - recorded with the run; the sweep goes on
        return RunOutput(task.spec.run_id, "failed", error=_one_line(exc), traceback=traceback.format_exc(),
                         wall_time_s=time.perf_counter() - started, worker=_worker_name())


def _one_line(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(task: RunTask, error: str) -> RunOutput:
    return RunOutput(task.spec.run_id, "failed", error=error)


# --------------------------------------------------------------------------------------------------------------
# Executors


class SerialExecutor:
    """Runs in this process, one run after another."""

    description = "this process"

    def open(self) -> None:
        pass

    def results(self, tasks: list[RunTask]) -> Iterator[RunOutput]:
        for task in tasks:
            yield execute(task)

    def close(self) -> None:
        pass


class WorkerStartError(RuntimeError):
    """Local worker processes that die before they can run anything."""


def _ready() -> bool:
    """Return True once a worker process has started (a probe before runs are sent)."""
    return True


MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's own ceiling for its adaptive threshold on 64-bit systems
_ALLOCATOR_TUNED = False


def tune_allocator() -> None:
    """Let a worker process reuse the memory of numpy's large temporary arrays (glibc only; once per process).

    glibc hands out arrays above the mmap threshold (128 kB at first) as fresh pages and returns them on
    free, page faults and all; it raises the threshold as it goes, unless ``MALLOC_TRIM_THRESHOLD_`` is set,
    which Dask's nannies set for their workers. A run then takes about 1.7 times as long. A fixed 32 MB
    threshold keeps the model's per-step arrays on the heap, in Dask workers and local ones alike. Memory
    use and results are unchanged; only the time spent in the allocator is.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES)
    mallopt(m_trim_threshold, 2 * MMAP_THRESHOLD_BYTES)


def execute_in_worker(task: RunTask) -> RunOutput:
    """Run one task in a worker process (see ``execute``), with the worker's allocator tuned first."""
    tune_allocator()
    return execute(task)


def _init_worker(parent: int) -> None:
    """Set up a local worker process: Ctrl-C is the parent's to handle, and the worker ends with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_allocator()

    def watch() -> None:  # a parent killed with SIGKILL cannot stop its workers; they stop themselves
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="talentsim-parent-watch", daemon=True).start()


class LocalExecutor:
    """Runs on ``workers`` local processes (``concurrent.futures.ProcessPoolExecutor``, spawned)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.description = f"{workers} local worker process{'es' if workers != 1 else ''}"

    def open(self) -> None:
        pass

    def _pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(os.getpid(),),
        )

    def results(self, tasks: list[RunTask]) -> Iterator[RunOutput]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = deque(tasks)
        crashes: Counter[str] = Counter()
        while queue:
            pool = self._pool()
            inflight: dict[Any, RunTask] = {}
            finished_normally = False
            try:
                try:  # one probe per worker: every worker process starts now, side by side, not at its first run
                    for probe in [pool.submit(_ready) for _ in range(self.workers)]:
                        probe.result()
                except BrokenProcessPool:
                    raise WorkerStartError(
                        "the local worker processes could not start (see the error above). Start sweeps from the "
                        "talentsim command, a notebook, or a script file that calls sweep() under "
                        "'if __name__ == \"__main__\":'; or use workers=0 to run in this process."
                    ) from None
                broken = False

                def send() -> bool:
                    """Keep every worker busy: one run in flight each. Return False if the pool is broken."""
                    while queue and len(inflight) < self.workers:
                        task = queue.popleft()
                        try:
                            inflight[pool.submit(execute, task)] = task
                        except BrokenProcessPool:
                            queue.appendleft(task)
                            return False
                    return True

                while (queue or inflight) and not broken:
                    broken = not send()
                    if not inflight or broken:
                        break
                    done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                    outputs = []
                    for future in done:
                        task = inflight.pop(future)
                        try:
                            outputs.append(future.result())
                        except BrokenProcessPool:
                            inflight[future] = task
                            broken = True
                        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent back
                            outputs.append(_failed(task, _one_line(exc)))
                    if not broken:
                        broken = not send()  # the next runs start before this process writes the results
                    yield from outputs
                # A worker died (killed, or out of memory): every run in flight is lost with the pool.
                for task in inflight.values():
                    crashes[task.spec.run_id] += 1
                    if crashes[task.spec.run_id] >= MAX_CRASHES:
                        yield _failed(task, f"the worker process running it died {MAX_CRASHES} times "
                                            "(out of memory, or killed)")
                    else:
                        queue.appendleft(task)
                inflight.clear()
                finished_normally = True
            finally:
                _stop_pool(pool, wait=finished_normally)
                self._last = pool

    def close(self) -> None:
        pool, self._last = getattr(self, "_last", None), None
        if pool is not None:
            pool.shutdown(wait=True)  # the workers were told to stop; they have had the table writing to do it


def _stop_pool(pool, wait: bool) -> None:
    if wait:
        pool.shutdown(wait=False)  # idle workers exit while the sweep writes its tables; ``close`` joins them
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # do not wait for runs in progress: they are redone on resume
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _worker_info() -> dict[str, str]:
    """Return what a Dask worker runs (checked before a sweep is sent to it)."""
    from importlib import metadata

    import simulation  # noqa: F401 - fails here, with a clear message, if workers lack talentsim

    return {"talentsim": metadata.version("talentsim"), "python": sys.version.split()[0]}


class DaskExecutor:
    """Runs on a Dask cluster: an existing one (scheduler address) or a local one started for the sweep."""

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None):
        self.scheduler = scheduler
        self.local_workers = local_workers
        self.client = None
        self.cluster = None
        where = f"the Dask cluster at {scheduler}" if scheduler else f"a local Dask cluster of {local_workers} workers"
        self.description = where

    def open(self) -> None:
        try:
            import distributed
        except ImportError:
            raise MissingExtra(f"sweeping on a Dask cluster needs dask.distributed, an optional extra: {DASK_EXTRA}") from None
        import logging

        if self.scheduler:
            try:
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConnectionError(
                    f"could not connect to the Dask scheduler at {self.scheduler} within {CONNECT_TIMEOUT_S} s ({exc}). "
                    "Is 'dask scheduler' running there, and is the address written tcp://HOST:PORT?"
                ) from None
            self._check_workers()
        else:
            # Worker processes inherit an ignored Ctrl-C: the sweep handles it and closes the cluster in order.
            ignore = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignore else None
            try:
                self.cluster = distributed.LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                )
            finally:
                if ignore:
                    signal.signal(signal.SIGINT, previous)
            self.client = distributed.Client(self.cluster, set_as_default=False)

    def _check_workers(self) -> None:
        from importlib import metadata

        try:
            info = self.client.run(_worker_info)
        except Exception as exc:  # noqa: BLE001 - any failure here means the workers cannot run talentsim
            self.close()
            raise MissingExtra(f"the Dask workers at {self.scheduler} cannot run talentsim ({_one_line(exc)}); "
                               "install talentsim in the workers' Python environment") from None
        if not info:
            print(f"note: no Dask workers are connected to {self.scheduler} yet; runs start when workers join "
                  "(start them with: dask worker ADDRESS --nthreads 1)", file=sys.stderr)
        mine = metadata.version("talentsim")
        other = sorted({v["talentsim"] for v in info.values()} - {mine})
        if other:
            print(f"warning: Dask workers run talentsim {', '.join(other)} but this process runs {mine}; "
                  "results may differ from a local sweep", file=sys.stderr)

    def results(self, tasks: list[RunTask]) -> Iterator[RunOutput]:
        import uuid

        from distributed import as_completed

        try:
            from distributed import KilledWorker
        except ImportError:  # pragma: no cover - older layout
            from distributed.scheduler import KilledWorker

        token = uuid.uuid4().hex[:8]
        queue = deque(tasks)
        futures: dict[Any, RunTask] = {}
        done = as_completed(loop=self.client.loop)
        # Runs are sent a window at a time, so the scheduler holds a bounded number of tasks however long the sweep.
        window = max(DASK_WINDOW, 4 * sum(self.client.nthreads().values()))

        def send() -> None:
            while queue and len(futures) < window:
                task = queue.popleft()
                future = self.client.submit(execute_in_worker, task, key=f"talentsim-run-{task.spec.run_id}-{token}",
                                            pure=False, retries=0)
                futures[future] = task
                done.add(future)

        send()
        try:
            for future in done:
                task = futures.pop(future)
                try:
                    output = future.result()
                except KilledWorker:
                    output = _failed(task, "the Dask workers running it died each time it was tried "
                                           "(out of memory, or killed)")
                except Exception as exc:  # noqa: BLE001 - recorded with the run
                    output = _failed(task, _one_line(exc))
                future.release()
                send()
                yield output
        finally:
            if futures:
                self.client.cancel(list(futures))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


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
        return DaskExecutor(scheduler=scheduler)
    if cluster is not None:
        if cluster != "local":
            raise ValueError(f"cluster must be 'local' (a Dask cluster on this machine), got {cluster!r}; for another "
                             "cluster give its scheduler address")
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
    out = Path(out) if out is not None else Path("results") / experiment.name
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
        records = {k: v for k, v in store.records().items() if k in planned}
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
                record = _record(spec, output, records.get(spec.run_id))
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


def _record(spec: RunSpec, output: RunOutput, previous: dict[str, Any] | None) -> dict[str, Any]:
    import datetime as dt

    return {
        "run_id": spec.run_id,
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
