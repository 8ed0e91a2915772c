"""One run of a sweep as plain data, and the function that carries it out wherever it runs.

Every executor (this process, local worker processes, a Dask cluster) runs ``execute(task)`` on the same
``RunTask``, so a run gives identical results wherever it runs; a run that raises comes back as a failed
``RunOutput`` with its error, and the sweep goes on.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from .experiment import RunSpec, Setting

__all__ = ["RunOutput", "RunTask", "execute", "execute_in_worker", "failed_run", "one_line", "tune_allocator"]


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
    status: str  # "done", "failed", or "cancelled" (not finished: taken back by the cluster)
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
        return RunOutput(task.spec.run_id, "failed", error=one_line(exc), traceback=traceback.format_exc(),
                         wall_time_s=time.perf_counter() - started, worker=_worker_name())


def one_line(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failed_run(task: RunTask, error: str) -> RunOutput:
    return RunOutput(task.spec.run_id, "failed", error=error)


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
