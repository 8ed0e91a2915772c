"""Running a sweep's runs on a Dask cluster: an existing one (scheduler address) or a local one started for it.

dask.distributed is an optional extra, imported only here, when a sweep is sent to a cluster.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from .executors import CONNECT_TIMEOUT_S, DASK_EXTRA, DASK_WINDOW
from .run_tasks import RunOutput, RunTask, execute_in_worker, failed_run, one_line
from .extras import MissingExtra

__all__ = ["DaskExecutor"]


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
            raise MissingExtra(f"the Dask workers at {self.scheduler} cannot run talentsim ({one_line(exc)}); "
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
        from concurrent.futures import CancelledError

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
                    if future.cancelled():
                        raise CancelledError
                    output = future.result()
                except CancelledError:
                    output = RunOutput(task.spec.run_id, "cancelled")
                except KilledWorker:
                    output = failed_run(task, "the Dask workers running it died each time it was tried "
                                           "(out of memory, or killed)")
                except Exception as exc:  # noqa: BLE001 - recorded with the run
                    output = failed_run(task, one_line(exc))
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
