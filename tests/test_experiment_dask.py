"""Sweeps on a real Dask cluster (worker processes): identical results, and a worker killed mid-sweep."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from simulation import read_experiment, sweep  # noqa: E402

from conftest import SMALL_EXPERIMENT, assert_same_results, write_experiment  # noqa: E402


EXPERIMENT = SMALL_EXPERIMENT.replace("name: small_sweep", "name: dask_sweep").replace("replicates: 2", "replicates: 3")


@pytest.fixture(scope="module")
def cluster():
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
        yield cluster


def test_a_dask_cluster_gives_the_same_results_as_this_process(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr("simulation.executors.DASK_WINDOW", 1)
    exp = write_experiment(tmp_path, EXPERIMENT)
    assert sweep(exp, tmp_path / "serial", workers=0, progress=False).ok
    summary = sweep(exp, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    # 12 runs, sent 8 at a time (4 per worker thread): the window refills as runs finish
    assert summary.ok and summary.done == 12 and "Dask cluster at tcp://127.0.0.1" in summary.executor
    on_dask = read_experiment(tmp_path / "dask")
    assert_same_results(on_dask, read_experiment(tmp_path / "serial"))
    assert on_dask.runs.worker.nunique() == 2  # both worker processes took runs
    assert {w.split(":")[1] for w in on_dask.runs.worker} <= {str(p) for p in _worker_pids(cluster).values()}


def _worker_pids(cluster) -> dict[str, int]:
    with distributed.Client(cluster, set_as_default=False) as client:
        return client.run(os.getpid)


def test_a_worker_killed_mid_sweep_has_its_runs_redone(tmp_path):
    import logging

    text = EXPERIMENT.replace("researchers: 2000, end: 2022-01", "researchers: 30000, end: 2027-01")
    exp, out = write_experiment(tmp_path, text), tmp_path / "out"
    killed: dict[str, object] = {}

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "pid" not in killed:
                finished = len(list((out / "runs").glob("*.json"))) if (out / "runs").exists() else 0
                busy = {w: keys for w, keys in client.processing().items() if keys}
                if finished >= 1 and busy:
                    address, keys = next(iter(busy.items()))
                    pid = client.run(os.getpid, workers=[address])[address]
                    killed.update(pid=pid, keys=list(keys))
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        summary = sweep(exp, out, scheduler=cluster.scheduler_address, progress=False)
        killer.join(timeout=5)

    assert "pid" in killed, "no worker was busy to kill"
    assert summary.ok and summary.done == 12, summary.format()
    results = read_experiment(out)
    lost = {key.split("-")[2] for key in killed["keys"]}  # talentsim-run-ID-TOKEN
    redone = results.runs[results.runs.run_id.isin(lost)]
    assert len(redone) == len(lost) and (redone.status == "done").all()
    assert not redone.worker.str.endswith(f":{killed['pid']}").any()  # finished by another process
    assert sweep(exp, tmp_path / "serial", workers=0, progress=False).ok
    assert_same_results(results, read_experiment(tmp_path / "serial"))
