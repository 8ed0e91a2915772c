"""Executors of a sweep on this machine: in this process, one run after another, or on local worker processes.

A worker process that dies has its runs given to another; a run that was in flight each time a worker died,
three times over, is recorded as failed rather than retried for ever. The Dask executor is in
:mod:`.dask_executor`; :func:`simulation.executors.choose_executor` picks one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from .run_tasks import RunOutput, RunTask, execute, failed_run, one_line, tune_allocator

__all__ = ["LocalExecutor", "SerialExecutor", "WorkerStartError"]

MAX_CRASHES = 3  # deaths of the worker running a run before the run is recorded as failed


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

                def send(inflight=inflight, pool=pool) -> bool:
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
                            outputs.append(failed_run(task, one_line(exc)))
                    if not broken:
                        broken = not send()  # the next runs start before this process writes the results
                    yield from outputs
                # A worker died (killed, or out of memory): every run in flight is lost with the pool.
                for task in inflight.values():
                    crashes[task.spec.run_id] += 1
                    if crashes[task.spec.run_id] >= MAX_CRASHES:
                        yield failed_run(task, f"the worker process running it died {MAX_CRASHES} times "
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
