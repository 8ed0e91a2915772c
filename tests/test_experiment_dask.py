"""Sweeps on a real Dask cluster (worker processes): identical results, and a worker killed mid-sweep."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from simulation import read_experiment, sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"

EXPERIMENT = f"""
name: dask_sweep
scenario: {BASELINE}
run: {{researchers: 2000, end: 2022-01}}
seed: 3
replicates: 3
levers:
  us_visa:
    from: 2020-01
    path: levers.visa_odds.US.default
    values: [0.3, 0.9]
uncertainties:
  pay_weight: {{path: preferences.default.pay.mean, range: [1.2, 1.8]}}
sampling: {{method: latin_hypercube, samples: 2}}
outcomes:
  us_share: {{kind: share, region: US, tier: top_tier, year: 2021}}
  net_us_china: {{kind: net_flow, from: US, to: China, between: [2019, 2022]}}
curves:
  location: {{kind: migration, tier: top_tier}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def cluster():
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
        yield cluster


def assert_same_results(a, b) -> None:
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    pd.testing.assert_frame_equal(a.curves, b.curves)


def test_a_dask_cluster_gives_the_same_results_as_this_process(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr("simulation.executors.DASK_WINDOW", 1)
    exp = write(tmp_path, EXPERIMENT)
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
    exp, out = write(tmp_path, text), tmp_path / "out"
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
